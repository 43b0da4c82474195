"""End-to-end acceptance against a whole local stack: infra/envs/local applied to the moto server, and its ECS task
definitions (Airflow 3.1.8 through the image entrypoints, dagsync sidecars, the scaler in `ecs` mode, the health
aggregator, the one-off migration) run by the local Fargate runner against Postgres with SSL and Redis with TLS.

The tests run in file order and share one stack (scenarios build on each other's state: workers at 0, DAGs
unpaused). Durations are recorded as figures; only the issues' bounds decide pass/fail.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for

# 900 s: the first test also pays for the stack coming up (the IaC apply and every task healthy, ~6 min here)
pytestmark = [pytest.mark.e2e, pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(900)]

NEW_DAG = "e2e_new_dag"
NEW_DAG_SRC = """
from airflow.sdk import DAG, task

with DAG(dag_id="{dag_id}", schedule=None, catchup=False, tags=["e2e"]):

    @task
    def hello() -> str:
        return "hello"

    hello()
"""


def ts(value: str | None) -> float:
    assert value, "missing timestamp"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (ends sort before starts at the same time)."""
    points = sorted(
        [(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda p: (p[0], p[1])
    )
    best = cur = 0
    for _, delta in points:
        cur += delta
        best = max(best, cur)
    return best


def workers_idle(stack: Stack) -> bool:
    status = stack.runner()
    svc = status["services"][stack.cfg.worker_service]
    return svc["desired"] == 0 and not stack.tasks("worker")


def worker_events(stack: Stack, kind: str, since: float = 0.0) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.events()
        if e["event"] == kind and e.get("service") == stack.cfg.worker_service and e["t"] >= since
    ]


def test_every_service_task_is_healthy_by_its_task_definition(stack: Stack) -> None:
    """Each service runs its desired tasks, and every container's own health check (the task definition's command,
    run by the runner as ECS would) passes; essential Airflow containers started only after their dagsync sidecar
    was HEALTHY (dependsOn)."""
    status = stack.runner()
    for component in ("api-server", "scheduler", "dag-processor", "triggerer", "scaler", "healthcheck"):
        svc = status["services"][stack.cfg.service(component)]
        assert svc["desired"] == 1 and svc["running"] == 1, (component, svc)
        (task,) = [t for t in stack.tasks(component) if t["status"] == "RUNNING"]
        assert task["health"] == "HEALTHY", (component, task)
        assert all(c["health"] in ("HEALTHY", None) for c in task["containers"]), task["containers"]
        # dependsOn HEALTHY: the Airflow container started once the sidecar's first check passed, which ECS (and the
        # runner) runs one sidecar interval (10 s, not the Airflow containers' 30) after its start.
        events = [e for e in stack.events() if e.get("task_arn") == task["task_arn"]]
        running = {
            e["container"]: e["t"] for e in events if e["event"] == "container" and e["status"] == "RUNNING"
        }
        if "dagsync" in running:
            sidecar_healthy = next(
                e["t"] for e in events
                if e["event"] == "health" and e["container"] == "dagsync" and e["status"] == "HEALTHY"
            )  # fmt: skip
            assert sidecar_healthy >= running["dagsync"] + 10 - 0.5, (component, running, sidecar_healthy)
            assert running[component] >= sidecar_healthy - 0.2, (component, running, sidecar_healthy)
            print(
                f"{component}: Airflow started {running[component] - running['dagsync']:.1f} s after its sidecar"
            )
    # ECS's view agrees (DescribeServices counts the runner's tasks)
    ecs = stack.boto("ecs")
    names = [stack.cfg.service(c) for c in ("api-server", "scheduler", "scaler", "healthcheck")]
    for svc in ecs.describe_services(cluster=stack.cfg.cluster, services=names)["services"]:
        assert svc["runningCount"] == svc["desiredCount"] == 1, svc["serviceName"]


def test_fresh_database_is_migrated_only_by_the_deploy_paths_migration_task(stack: Stack) -> None:
    started = [e for e in stack.events() if e["event"] == "started"]
    migrations = [e for e in started if "-migrate:" in e["task_definition"]]
    assert len(migrations) == 1, migrations  # `infra apply` ran it once; nothing else migrates
    (stopped,) = [
        e for e in stack.events() if e["event"] == "stopped" and e["task_id"] == migrations[0]["task_id"]
    ]
    assert stopped["reason"] == "Essential container in task exited", stopped
    ecs = stack.boto("ecs")
    (task,) = ecs.describe_tasks(cluster=stack.cfg.cluster, tasks=[migrations[0]["task_arn"]])["tasks"]
    assert task["startedBy"] == "infra-migrate"
    assert [(c["name"], c.get("exitCode")) for c in task["containers"]] == [("migrate", 0)]
    # every other Airflow container waits for the schema (`airflow db check-migrations`), never migrates
    apply_log = stack.sup.log_file("infra-apply").read_text()
    assert "migration task" in apply_log and "succeeded" in apply_log


def test_new_dag_visible_within_60s(stack: Stack) -> None:
    assert NEW_DAG not in stack.api.dag_ids()
    (stack.source / f"{NEW_DAG}.py").write_text(NEW_DAG_SRC.format(dag_id=NEW_DAG))
    t0 = time.time()
    stack.publish()
    wait_for(lambda: NEW_DAG in stack.api.dag_ids(), 60, f"{NEW_DAG} in GET /api/v2/dags", interval=0.5)
    latency = time.time() - t0
    stack.record("new_dag_publish_to_visible_s", round(latency, 2))
    assert latency <= 60


def test_scale_up_from_zero_fanout(stack: Stack) -> None:
    wait_for(lambda: workers_idle(stack), 120, "workers at 0 before the scale-up")
    for dag in ("fanout", "failing"):
        stack.api.unpause(dag)
    t0 = time.time()
    run_id = stack.api.trigger("fanout", {"seconds": 25})
    stack.runs["failing"] = stack.api.trigger("failing")  # checked by the failure test
    for dag in ("quick", "external_sensor"):  # the sensor waits for quick.done at the same logical date
        stack.api.unpause(dag)
        stack.runs[dag] = stack.api.trigger(dag, logical_date="2026-01-01T00:00:00Z")
    state = stack.api.wait_run("fanout", run_id, 420)
    tis = stack.api.task_instances("fanout", run_id)
    assert state == "success", [(t["task_id"], t["state"]) for t in tis]
    assert all(t["state"] == "success" for t in tis), [(t["task_id"], t["state"]) for t in tis]
    work = [t for t in tis if t["task_id"].startswith("work_")]
    overlap = max_overlap([(ts(t["start_date"]), ts(t["end_date"])) for t in work])
    stack.record("fanout_max_concurrent_task_instances", overlap)
    assert overlap >= 5
    # The scaler raised the ECS desired count and the runner started worker tasks of the service for it; task
    # instances ran on those tasks (hostname = the task ENI's DNS name, as on Fargate).
    started = worker_events(stack, "started", t0)
    assert len(started) >= 2, started
    hosts = {t["hostname"] for t in work}
    assert hosts <= {e["hostname"] for e in started}, (hosts, started)
    first_start = min(ts(t["start_date"]) for t in work)
    stack.record("fanout_trigger_to_first_task_start_s", round(first_start - t0, 1))
    # Task logs went to the emulated S3 bucket (remote logging, the task role's credentials from the endpoint).
    buckets = [b["Name"] for b in stack.boto("s3").list_buckets()["Buckets"] if "-logs" in b["Name"]]
    keys = [o["Key"] for b in buckets for o in stack.boto("s3").list_objects_v2(Bucket=b).get("Contents", [])]
    assert any("dag_id=fanout" in k for k in keys), (buckets, keys[:20])


def test_scale_to_zero_off_hours_after_drain(stack: Stack) -> None:
    stack.api.wait_run("failing", stack.runs["failing"], 180)
    for dag in ("quick", "external_sensor"):
        assert stack.api.wait_run(dag, stack.runs[dag], 180) == "success", dag
    t0 = time.time()
    wait_for(lambda: workers_idle(stack), 240, "workers back to 0 after the drain")
    stack.record("drain_to_zero_workers_s", round(time.time() - t0, 1))
    decision = stack.decision()
    assert decision["desired"] == 0
    assert decision["bounds"]["min"] == 0, decision  # off-hours floor (inside the window it would be 1)
    assert decision["window"] != "always", decision
    svc = stack.boto("ecs").describe_services(cluster=stack.cfg.cluster, services=[stack.cfg.worker_service])
    assert svc["services"][0]["desiredCount"] == 0
    stopped = worker_events(stack, "stopped")
    assert stopped, "no worker task stopped"
    for e in stopped:  # warm shutdowns within the stop timeout, never SIGKILL
        assert e["containers"]["worker"]["exit_code"] not in (-9, 137), e
        log = stack.cfg.runner_dir / "logs" / f"task-{e['task_id']}-worker.log"
        assert "Warm shutdown" in log.read_text(), log


def test_failing_dag_and_a_crashed_scheduler_is_replaced(stack: Stack) -> None:
    run_id = stack.runs["failing"]
    assert stack.api.run_state("failing", run_id) == "failed"
    (ti,) = stack.api.task_instances("failing", run_id)
    assert ti["state"] == "failed"
    assert ti["try_number"] == 3  # 1 try + 2 retries
    assert stack.status()["components"]["airflow_scheduler"]["status"] == "ok"

    (old,) = [t for t in stack.tasks("scheduler") if t["status"] == "RUNNING"]
    t0 = time.time()
    os.kill(stack.container_pid("scheduler", "scheduler"), signal.SIGKILL)  # a crash, not a clean stop
    down = wait_for(
        lambda: (s := stack.status())["components"]["airflow_scheduler"]["status"] != "ok" and s,
        120,
        "/status to report the dead scheduler",
    )
    stack.record("scheduler_kill_to_status_not_ok_s", round(time.time() - t0, 1))
    print("status after the kill:", down["status"], down["components"]["airflow_scheduler"], flush=True)
    # ECS semantics: the essential container exited, so the task stops with that reason and the service gets a
    # new task; no manual step.
    (task,) = stack.boto("ecs").describe_tasks(cluster=stack.cfg.cluster, tasks=[old["task_arn"]])["tasks"]
    assert task["lastStatus"] == "STOPPED" and "Essential container in task exited" in task["stoppedReason"]
    wait_for(
        lambda: (
            (s := stack.status())["status"] == "ok" and s["components"]["airflow_scheduler"]["status"] == "ok"
        ),
        240,
        "/status ok again after the runner replaced the scheduler task",
    )
    (new,) = [t for t in stack.tasks("scheduler") if t["status"] == "RUNNING"]
    assert new["task_id"] != old["task_id"]
    stack.record("scheduler_kill_to_status_ok_s", round(time.time() - t0, 1))


def test_deleted_dag_file_removed_within_one_cycle(stack: Stack) -> None:
    dest = stack.dags_dir() / f"{NEW_DAG}.py"
    assert dest.exists()
    (stack.source / f"{NEW_DAG}.py").unlink()
    published = stack.publish()
    sidecars = stack.dags_dir().parent / ".dagsync-dags" / "sidecars"

    def next_cycle_done() -> dict[str, Any] | None:
        import json

        for status_file in sidecars.glob("*.json"):
            doc = json.loads(status_file.read_text())
            if (
                doc.get("last_success")
                and doc["last_attempt"] >= published
                and doc["last_success"] >= doc["last_attempt"]
            ):
                return dict(doc)
        return None

    doc = wait_for(
        next_cycle_done, 60, "the first dagsync cycle that started after the publish", interval=0.2
    )
    assert not dest.exists(), f"{dest} still there after the cycle that started at {doc['last_attempt']}"
    stack.record("delete_publish_to_file_gone_s", round(doc["last_success"] - published, 2))


def test_long_task_survives_scale_in(stack: Stack) -> None:
    wait_for(lambda: workers_idle(stack), 240, "workers at 0 before the long scenario")
    stack.api.unpause("long")
    long_run = stack.api.trigger("long")  # 135 s: longer than the 45 s stopTimeout of this stack's workers

    def long_running() -> dict[str, Any] | None:
        (ti,) = stack.api.task_instances("long", long_run)
        return ti if ti["state"] == "running" and ti["hostname"] else None

    ti = wait_for(long_running, 240, "the long task running on a worker")
    host = ti["hostname"]  # the worker task's ENI DNS name
    (busy,) = [t for t in stack.tasks("worker") if t["hostname"] == host]
    # More work: the scaler adds a second worker; once fanout drains it scales in 2 -> 1. The runner picks the
    # OLDEST worker first - the one running `long` - unless the scaler protected that task.
    fan_run = stack.api.trigger("fanout", {"seconds": 10})
    assert stack.api.wait_run("fanout", fan_run, 300) == "success"

    ecs = stack.boto("ecs")
    protected_seen = False

    def scaled_in() -> list[dict[str, Any]]:
        nonlocal protected_seen
        prot = ecs.get_task_protection(cluster=stack.cfg.cluster, tasks=[busy["task_arn"]])["protectedTasks"]
        protected_seen = protected_seen or any(p.get("protectionEnabled") for p in prot)
        return worker_events(stack, "stopping", ts(ti["start_date"]))

    stops = wait_for(scaled_in, 180, "a scale-in while the long task runs")
    assert stack.api.run_state("long", long_run) == "running", "the scale-in must happen during the long task"
    assert protected_seen, "the busy worker's task was never protected"
    assert all(e["task_id"] != busy["task_id"] for e in stops), (
        f"the worker running `long` was picked: {stops}"
    )

    assert stack.api.wait_run("long", long_run, 240) == "success"
    (done,) = stack.api.task_instances("long", long_run)
    assert done["state"] == "success" and done["try_number"] == 1 and done["hostname"] == host
    killed = [e for e in worker_events(stack, "stopping") if e["task_id"] == busy["task_id"]]
    assert all(e["t"] >= ts(done["end_date"]) for e in killed), killed
    stack.record("long_task_s", round(ts(done["end_date"]) - ts(done["start_date"]), 1))
    stack.record("scale_in_during_long_at_s", round(stops[0]["t"] - ts(ti["start_date"]), 1))


def test_a_stopped_worker_finishes_its_running_tasks(stack: Stack) -> None:
    """ECS stops a task with SIGTERM to its containers' PID 1, here the Celery worker the entrypoint execs: its warm
    shutdown lets the tasks it runs finish within stopTimeout, so a worker stopped (or scaled in unprotected) just
    after taking a task does not fail it (docs/adr/0002-scaling.md)."""
    run = stack.api.trigger("fanout", {"seconds": 4})

    def busy_worker() -> tuple[dict[str, Any], list[str]] | None:
        tis = stack.api.task_instances("fanout", run)
        for task in stack.tasks("worker"):
            running = [t["task_id"] for t in tis if t["state"] == "running" and t["hostname"] == task["hostname"]]
            if running:
                return task, running
        return None

    victim, running = wait_for(busy_worker, 300, "a worker running fanout tasks")
    stopped_at = time.time()
    stack.boto("ecs").stop_task(cluster=stack.cfg.cluster, task=victim["task_arn"], reason="e2e: stop a busy worker")
    assert stack.api.wait_run("fanout", run, 300) == "success"
    done = {t["task_id"]: t for t in stack.api.task_instances("fanout", run)}
    for task_id in running:  # finished where they ran, on the first try: not killed and retried elsewhere
        assert (done[task_id]["hostname"], done[task_id]["try_number"]) == (victim["hostname"], 1), done[task_id]
    (stop,) = wait_for(
        lambda: [e for e in worker_events(stack, "stopped", stopped_at) if e["task_id"] == victim["task_id"]],
        120,
        "the stopped worker's stop event",
    )
    assert stop["containers"]["worker"]["exit_code"] == 0, stop  # a warm shutdown, not stopTimeout's SIGKILL
    stack.record("busy_worker_stop_s", round(stop["t"] - stopped_at, 1))


def test_sli_metrics_reach_cloudwatch_with_the_alarms_dimensions(stack: Stack) -> None:
    """After the scenarios, every SLI the local stack can measure has data points in the emulator's CloudWatch, under
    the dimensions the SLO alarms of infra/modules/observability use (docs/slo.md). ALB metrics come from AWS itself;
    publish->visible comes from the dag-sync workflow (tests/infra/test_publish_sli.py)."""
    cw = stack.boto("cloudwatch")
    env, worker = stack.cfg.env, stack.cfg.worker_service
    expected = [
        ("Airflow/Scaler", "TasksStarted", {"env": env, "service": worker}),
        ("Airflow/Scaler", "OldestQueuedAge", {"env": env, "service": worker}),
        ("Airflow/Scaler", "ScaleUps", {"env": env, "service": worker}),
        ("Airflow/Scaler", "ScaleUpSeconds", {"env": env, "service": worker}),
        ("Airflow/Scaler", "OldestQueuedAge", {"env": env, "service": worker, "queue": "default"}),
        ("AirflowPlatform/Health", "DagFreshnessSamples", {"Env": env}),
        ("AirflowPlatform/Health", "DagSyncWorstAge", {"Env": env}),
        ("AirflowPlatform/Health", "SchedulerSamples", {"Env": env}),
        ("AirflowPlatform/Health", "SchedulerHeartbeatAge", {"Env": env}),
    ]
    missing = []
    for namespace, name, dims in expected:
        found = cw.list_metrics(Namespace=namespace, MetricName=name)["Metrics"]
        if not any({d["Name"]: d["Value"] for d in m["Dimensions"]} == dims for m in found):
            missing.append((namespace, name, dims, [m["Dimensions"] for m in found][:3]))
    assert not missing, missing
    # and with data points, not only a name: the worst sidecar's age is small while every sidecar syncs
    end = datetime.now(UTC)
    points = cw.get_metric_statistics(
        Namespace="AirflowPlatform/Health", MetricName="DagSyncWorstAge", Dimensions=[{"Name": "Env", "Value": env}],
        StartTime=end - timedelta(hours=1), EndTime=end, Period=60, Statistics=["Maximum"],
    )["Datapoints"]  # fmt: skip
    assert points and min(p["Maximum"] for p in points) < 120, points[:5]


def test_up_again_is_idempotent(stack: Stack) -> None:
    """A second `make local` on a running stack: no changes to apply, the same runner, still healthy."""
    before = stack.sup.running("fargate")
    assert before is not None
    again = stack.cli("up")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already running" in again.stdout
    after = stack.sup.running("fargate")
    assert after is not None and after.pid == before.pid
    assert "local: no changes" in stack.sup.log_file("infra-apply").read_text()


def test_a_new_task_definition_revision_rolls_the_service(stack: Stack) -> None:
    """RegisterTaskDefinition with one more environment variable, UpdateService: the runner starts the new revision,
    waits for it to be healthy, then stops the old task (minimumHealthyPercent 100, maximumPercent 200)."""
    ecs = stack.boto("ecs")
    family = stack.cfg.service("healthcheck")
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    (old,) = [t for t in stack.tasks("healthcheck") if t["status"] == "RUNNING"]
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
            "requiresCompatibilities", "cpu", "memory", "runtimePlatform")  # fmt: skip
    new_td = {k: td[k] for k in keep if k in td}
    new_td["containerDefinitions"][0]["environment"].append({"name": "ROLLOUT_MARKER", "value": "rev-2"})
    arn = ecs.register_task_definition(**new_td)["taskDefinition"]["taskDefinitionArn"]
    t0 = time.time()
    ecs.update_service(cluster=stack.cfg.cluster, service=family, taskDefinition=arn)

    def rolled() -> dict[str, Any] | None:
        running = [t for t in stack.tasks("healthcheck") if t["status"] == "RUNNING"]
        return running[0] if len(running) == 1 and running[0]["task_id"] != old["task_id"] else None

    new = wait_for(rolled, 240, "the healthcheck service rolled to the new revision")
    stack.record("rollout_healthcheck_s", round(time.time() - t0, 1))
    assert new["task_definition"].endswith(f":{arn.rsplit(':', 1)[-1]}")
    pid = stack.container_pid("healthcheck", "healthcheck")
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item
    )
    assert environ.get("ROLLOUT_MARKER") == "rev-2"
    (gone,) = ecs.describe_tasks(cluster=stack.cfg.cluster, tasks=[old["task_arn"]])["tasks"]
    assert gone["lastStatus"] == "STOPPED"
    wait_for(lambda: stack.status()["status"] in ("ok", "degraded"), 60, "/status answers through the front")


def test_a_task_definition_with_a_missing_secret_fails_alone(stack: Stack) -> None:
    ecs = stack.boto("ecs")
    td = ecs.describe_task_definition(taskDefinition=stack.cfg.service("scaler"))["taskDefinition"]
    container = dict(td["containerDefinitions"][0])
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:acme-airflow-local-nope-AbCdEf"
    container["secrets"] = [{"name": "SCALER_REDIS_URL", "valueFrom": missing}]
    family = stack.cfg.service("broken")
    arn = ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[container], executionRoleArn=td["executionRoleArn"],
    )["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
    svc = ecs.describe_services(cluster=stack.cfg.cluster, services=[stack.cfg.service("scaler")])[
        "services"
    ][0]
    ecs.create_service(
        cluster=stack.cfg.cluster, serviceName=family, taskDefinition=arn, desiredCount=1, launchType="FARGATE",
        networkConfiguration=svc["networkConfiguration"],
    )  # fmt: skip

    def failed() -> list[dict[str, Any]]:
        return [e for e in stack.events() if e["event"] == "failed" and e.get("service") == family]

    (first, *_) = wait_for(failed, 60, "the broken service's task to fail to start")
    reason = first["reason"]
    assert reason.startswith("ResourceInitializationError") and missing in reason and "\n" not in reason, (
        reason
    )
    ecs.update_service(cluster=stack.cfg.cluster, service=family, desiredCount=0)
    ecs.delete_service(cluster=stack.cfg.cluster, service=family)
    # the rest keeps running
    assert stack.api.dag_ids()
    assert all(t["status"] == "RUNNING" for c in ("api-server", "scheduler") for t in stack.tasks(c))
