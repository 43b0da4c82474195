"""End-to-end acceptance against a whole local stack (issue 5): real Airflow 3.1.8 processes started through the image
entrypoints, Postgres, Redis, the moto server, dagsync sidecars, the scaler in `ecs` mode driving the Fargate
stand-in's real Celery workers, and the healthcheck service.

The tests run in file order and share one stack (scenarios build on each other's state: workers at 0, DAGs
unpaused). Durations are recorded as figures; only the issue's bounds decide pass/fail.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(420)]

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
    rec = stack.reconciler()
    return rec["desired"] == 0 and not rec["workers"] and not rec["stopping"]


def test_every_component_passes_its_image_health_command(stack: Stack) -> None:
    """The health commands the images declare (and ECS runs), against the live stack's processes."""
    from devtools.airflow import entrypoint_cmd
    from devtools.localstack import stack as ls

    checks = {
        role: (entrypoint_cmd("health", role), ls.airflow_env(stack.cfg))
        for role in ("api-server", "scheduler", "dag-processor", "triggerer")
    }
    checks["dagsync"] = (["bash", str(ls.DAGSYNC_ENTRYPOINT), "health"], ls.dagsync_env(stack.cfg, "dags"))
    checks["scaler"] = (["bash", str(ls.SERVICES_ENTRYPOINT), "health", "scaler"], ls.scaler_env(stack.cfg))
    checks["healthcheck"] = (
        ["bash", str(ls.SERVICES_ENTRYPOINT), "health", "healthcheck"],
        ls.healthcheck_env(stack.cfg),
    )
    failed: dict[str, str] = {}
    for _attempt in range(3):  # a heartbeat may lag on a loaded machine; ECS also retries (retries=3)
        procs = {
            name: subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name, (cmd, env) in checks.items()
        }
        failed = {}
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=180)
            if proc.returncode != 0:
                failed[name] = out[-300:]
        if not failed:
            break
        checks = {name: checks[name] for name in failed}
        time.sleep(3)
    assert not failed, failed


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
    state = stack.api.wait_run("fanout", run_id, 300)
    tis = stack.api.task_instances("fanout", run_id)
    assert state == "success", [(t["task_id"], t["state"]) for t in tis]
    assert all(t["state"] == "success" for t in tis), [(t["task_id"], t["state"]) for t in tis]
    work = [t for t in tis if t["task_id"].startswith("work_")]
    overlap = max_overlap([(ts(t["start_date"]), ts(t["end_date"])) for t in work])
    stack.record("fanout_max_concurrent_task_instances", overlap)
    assert overlap >= 5
    # The scaler raised the ECS desired count and the reconciler started real workers for it.
    started = [e for e in stack.events() if e["event"] == "started" and e["t"] >= t0]
    assert len(started) >= 2, started
    hosts = {t["hostname"] for t in work}
    assert hosts <= {e["task_id"] for e in started}, (hosts, started)
    first_start = min(ts(t["start_date"]) for t in work)
    stack.record("fanout_trigger_to_first_task_start_s", round(first_start - t0, 1))
    # Task logs went to the emulated S3 bucket (remote logging from the shared config).
    keys = [
        o["Key"]
        for o in stack.boto("s3").list_objects_v2(Bucket=stack.cfg.bucket, Prefix="logs/").get("Contents", [])
    ]
    assert any("dag_id=fanout" in k for k in keys), keys[:20]


def test_scale_to_zero_off_hours_after_drain(stack: Stack) -> None:
    stack.api.wait_run("failing", stack.runs["failing"], 180)
    for dag in ("quick", "external_sensor"):
        assert stack.api.wait_run(dag, stack.runs[dag], 180) == "success", dag
    t0 = time.time()
    wait_for(lambda: workers_idle(stack), 180, "workers back to 0 after the drain")
    stack.record("drain_to_zero_workers_s", round(time.time() - t0, 1))
    decision = stack.decision()
    assert decision["desired"] == 0
    assert decision["bounds"]["min"] == 0, decision  # off-hours floor (inside the window it would be 1)
    assert decision["window"] != "always", decision
    svc = stack.boto("ecs").describe_services(cluster=stack.cfg.cluster, services=[stack.cfg.worker_service])
    assert svc["services"][0]["desiredCount"] == 0
    stopped = [e for e in stack.events() if e["event"] in ("stopped", "killed")]
    assert stopped and all(e["event"] == "stopped" for e in stopped), stopped  # warm shutdowns, no SIGKILL
    for e in stopped:
        assert "Warm shutdown" in stack.sup.log_file(f"worker-{e['task_id']}").read_text()


def test_failing_dag_and_scheduler_health(stack: Stack) -> None:
    run_id = stack.runs["failing"]
    assert stack.api.run_state("failing", run_id) == "failed"
    (ti,) = stack.api.task_instances("failing", run_id)
    assert ti["state"] == "failed"
    assert ti["try_number"] == 3  # 1 try + 2 retries
    assert stack.status()["components"]["airflow_scheduler"]["status"] == "ok"

    info = stack.sup.running("scheduler")
    assert info is not None
    t0 = time.time()
    stack.sup.stop("scheduler", signal.SIGKILL, timeout=5)  # a crash, not a clean stop
    down = wait_for(
        lambda: (
            (s := stack.status())["status"] in ("degraded", "down")
            and s["components"]["airflow_scheduler"]["status"] != "ok"
            and s
        ),
        120,
        "/status to report the dead scheduler",
    )
    stack.record("scheduler_kill_to_status_not_ok_s", round(time.time() - t0, 1))
    print("status after the kill:", down["status"], down["components"]["airflow_scheduler"], flush=True)

    t1 = time.time()
    restart = stack.cli("up", "scheduler")  # the same idempotent `up` as make local: starts what is missing
    assert restart.returncode == 0, restart.stderr
    wait_for(
        lambda: (
            (s := stack.status())["status"] == "ok" and s["components"]["airflow_scheduler"]["status"] == "ok"
        ),
        120,
        "/status ok again after the restart",
    )
    stack.record("scheduler_restart_to_status_ok_s", round(time.time() - t1, 1))


def test_deleted_dag_file_removed_within_one_cycle(stack: Stack) -> None:
    dest = stack.cfg.dags_dir / f"{NEW_DAG}.py"
    assert dest.exists()
    (stack.source / f"{NEW_DAG}.py").unlink()
    published = stack.publish()
    status_file = stack.cfg.dagsync_state(stack.cfg.dags_dir) / "sidecars" / "local-dags.json"

    def next_cycle_done() -> dict[str, Any] | None:
        import json

        doc = json.loads(status_file.read_text())
        ok = (
            doc.get("last_success")
            and doc["last_attempt"] >= published
            and doc["last_success"] >= doc["last_attempt"]
        )
        return doc if ok else None

    doc = wait_for(
        next_cycle_done, 60, "the first dagsync cycle that started after the publish", interval=0.2
    )
    assert not dest.exists(), f"{dest} still there after the cycle that started at {doc['last_attempt']}"
    stack.record("delete_publish_to_file_gone_s", round(doc["last_success"] - published, 2))


def test_long_task_survives_scale_in(stack: Stack) -> None:
    wait_for(lambda: workers_idle(stack), 180, "workers at 0 before the long scenario")
    stack.api.unpause("long")
    long_run = stack.api.trigger("long")  # 135 s: longer than Fargate's 120 s stopTimeout

    def long_running() -> dict[str, Any] | None:
        (ti,) = stack.api.task_instances("long", long_run)
        return ti if ti["state"] == "running" and ti["hostname"] else None

    ti = wait_for(long_running, 180, "the long task running on a worker")
    host = ti["hostname"]  # = the ECS task id of the (only, hence oldest) worker
    # More work: the scaler adds a second worker; once fanout drains it scales in 2 -> 1. The reconciler picks
    # the OLDEST worker first - the one running `long` - unless the scaler protected that task.
    fan_run = stack.api.trigger("fanout", {"seconds": 10})
    assert stack.api.wait_run("fanout", fan_run, 240) == "success"

    protected_seen = False

    def scaled_in() -> list[dict[str, Any]]:
        nonlocal protected_seen
        protected_seen = protected_seen or host in stack.reconciler()["protected"]
        return [e for e in stack.events() if e["event"] == "stopping" and e["t"] >= ts(ti["start_date"])]

    stops = wait_for(scaled_in, 120, "a scale-in while the long task runs")
    assert stack.api.run_state("long", long_run) == "running", "the scale-in must happen during the long task"
    assert protected_seen or host in stack.reconciler()["protected"], (
        "the busy worker's task was never protected"
    )
    assert all(e["task_id"] != host for e in stops), f"the worker running `long` ({host}) was picked: {stops}"

    assert stack.api.wait_run("long", long_run, 240) == "success"
    (done,) = stack.api.task_instances("long", long_run)
    assert done["state"] == "success" and done["try_number"] == 1 and done["hostname"] == host
    killed = [e for e in stack.events() if e.get("task_id") == host and e["event"] in ("stopping", "killed")]
    assert all(e["t"] >= ts(done["end_date"]) for e in killed), killed
    stack.record("long_task_s", round(ts(done["end_date"]) - ts(done["start_date"]), 1))
    stack.record("scale_in_during_long_at_s", round(stops[0]["t"] - ts(ti["start_date"]), 1))
