"""Resilience on the whole local stack (issue 11): the metadata-DB password rotates under running DAGs, then Postgres
and Redis each go down for ~30 s while a DAG with retries runs. Nothing is restarted by hand; the drill measures how
long each component takes to recover (figures go to docs/runbooks/{rds-failover,redis-failover}.md).

The tests share one stack (tests/e2e/conftest.py) and run in file order; each leaves the stores up and /status ok.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from devtools.localstack import outage
from tests.e2e.conftest import Stack, wait_for

# 1500 s: the first test also pays for the stack coming up (6-10 min on a loaded 2-core machine)
pytestmark = [pytest.mark.e2e, pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(1500)]

DRILL_DAG = "drill_retries"
DRILL_SRC = '''
"""drill_retries: two tasks hold a worker slot for `seconds`, then one sums them; 3 retries each (e2e drill)."""
import time
from datetime import timedelta

from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="drill_retries",
    schedule=None,
    catchup=False,
    tags=["e2e"],
    params={"seconds": Param(40, type="number", minimum=0)},
    default_args={"retries": 3, "retry_delay": timedelta(seconds=5), "retry_exponential_backoff": False},
):

    @task
    def hold(params: dict | None = None) -> int:
        time.sleep(float((params or {}).get("seconds", 40)))
        return 1

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    total([hold.override(task_id="hold_a")(), hold.override(task_id="hold_b")()])
'''
OUTAGE_S = 30.0
TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Sampler:
    """Samples /status, the scaler's decision and the worker service's ECS desired count every second."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.ecs = stack.boto("ecs")

    def _run(self) -> None:
        while not self._stop.is_set():
            s: dict[str, Any] = {"t": time.time()}
            try:
                doc = self.stack.status()
                s["status"] = doc["status"]
                s["components"] = {k: v["status"] for k, v in doc["components"].items()}
            except Exception as exc:  # the aggregator itself must keep answering: recorded, asserted below
                s["status_error"] = type(exc).__name__
            try:
                d = self.stack.decision()
                s["decision"] = {k: d.get(k) for k in ("desired", "current", "error", "decided_at", "reason")}
            except Exception as exc:
                s["decision_error"] = type(exc).__name__
            try:
                svc = self.ecs.describe_services(
                    cluster=self.stack.cfg.cluster, services=[self.stack.cfg.worker_service]
                )
                s["ecs_desired"] = svc["services"][0]["desiredCount"]
            except Exception as exc:
                s["ecs_error"] = type(exc).__name__
            self.samples.append(s)
            self._stop.wait(1.0)

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(30)

    def between(self, t0: float, t1: float) -> list[dict[str, Any]]:
        return [s for s in self.samples if t0 <= s["t"] <= t1]


def drill_published(stack: Stack) -> None:
    if DRILL_DAG in stack.api.dag_ids():
        return
    (stack.source / f"{DRILL_DAG}.py").write_text(DRILL_SRC)
    stack.publish()
    wait_for(lambda: DRILL_DAG in stack.api.dag_ids(), 120, f"{DRILL_DAG} visible")
    stack.api.unpause(DRILL_DAG)


def tasks_running(stack: Stack, dag: str, run_id: str, n: int) -> list[dict[str, Any]] | None:
    tis = stack.api.task_instances(dag, run_id)
    running = [t for t in tis if t["state"] == "running"]
    return running if len(running) >= n else None


def assert_run_settled(stack: Stack, dag: str, run_id: str, timeout: float) -> list[dict[str, Any]]:
    """The run ends and every task instance ends as its retry policy says: nothing left queued/running."""
    state = wait_for(
        lambda: (st := stack.api.run_state(dag, run_id)) in ("success", "failed") and st,
        timeout,
        f"{dag}/{run_id} to end",
        interval=2,
    )
    tis: list[dict[str, Any]] = wait_for(
        lambda: stack.api.task_instances(dag, run_id), 60, "its task instances"
    )
    summary = [(t["task_id"], t["state"], t["try_number"], t["max_tries"]) for t in tis]
    print(f"{dag}/{run_id}: {state} {summary}", flush=True)
    assert all(t["state"] in TERMINAL for t in tis), summary
    for t in tis:
        assert t["try_number"] <= t["max_tries"] + 1, summary  # never more tries than the policy allows
        if t["state"] == "failed":
            assert t["try_number"] == t["max_tries"] + 1, f"failed before its retries were used: {summary}"
    assert state == "success", summary
    return tis


def replaced_tasks(stack: Stack, since: float) -> list[str]:
    """Service tasks (not workers) that stopped since ``since``: ECS replaced them, nobody did by hand."""
    return sorted(
        f"{e['service'].removeprefix(stack.cfg.name_prefix + '-')}: {e.get('reason', '')[:80]}"
        for e in stack.events()
        if e["event"] == "stopped"
        and e.get("service")
        and e["t"] >= since
        and e["service"] != stack.cfg.worker_service
    )


AUTH_FAILED = "password authentication failed"


# What the entrypoint derives and exports for its own process; ECS's health probes run without it and get the URL
# through AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD (images/airflow/Dockerfile).
DERIVED = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
)


def probe_env(stack: Stack, component: str) -> dict[str, str]:
    """The environment a health probe of ``component``'s running container gets (task definition + image)."""
    pid = stack.container_pid(component, component)
    raw = Path(f"/proc/{pid}/environ").read_text().split("\0")
    env = dict(item.split("=", 1) for item in raw if "=" in item)
    return {k: v for k, v in env.items() if k not in DERIVED}


def run_probe(env: dict[str, str], job_type: str) -> subprocess.CompletedProcess[str]:
    """The dag-processor/triggerer probe of the task definitions (infra/modules/compute/main.tf), without --local:
    the task it was copied from may have been replaced since."""
    airflow = shutil.which("airflow", path=env["PATH"])
    assert airflow, env["PATH"]
    cmd = [airflow, "jobs", "check", "--job-type", job_type]
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=240, cwd=env.get("AIRFLOW_HOME")
    )


def running_task_ids(stack: Stack) -> dict[str, list[str]]:
    return {
        c: sorted(t["task_id"] for t in stack.tasks(c) if t["status"] == "RUNNING") for c in AIRFLOW_SERVICES
    }


def all_services_healthy(stack: Stack) -> bool:
    from devtools.localstack.stack import services_not_ready

    return not services_not_ready(stack.cfg)


def log_files(stack: Stack) -> list[Path]:
    return [p for d in (stack.cfg.runner_dir / "logs", stack.cfg.state_dir / "logs") for p in d.glob("*.log")]


# --- rotation ----------------------------------------------------------------------------------------------------------
def test_db_password_rotation_needs_no_restart(stack: Stack) -> None:
    """RDS rotates the managed master secret while a DAG runs: new sessions must use the new password. Airflow keeps
    scheduling and running tasks (platform_db_auth re-reads the secret), the scaler and the health aggregator keep
    measuring (they re-read it after a failed connect), and no task is restarted (docs/adr/0014)."""
    drill_published(stack)
    stack.api.unpause("quick")
    before = stack.api.trigger(DRILL_DAG, {"seconds": 30})
    wait_for(
        lambda: tasks_running(stack, DRILL_DAG, before, 2), 300, "both hold tasks running before the rotation"
    )
    tasks_before = running_task_ids(stack)
    stale_env = probe_env(stack, "dag-processor")  # what its probes get: the password injected at task start

    t0 = time.time()
    arn = outage.rotate_db_password(stack.cfg)  # returns once the DB refuses the old password
    _, secret = outage.db_secret(stack.cfg)
    user, password = secret["username"], secret["password"]

    # The health probes ECS runs outside the entrypoint (`airflow jobs check`, with the task-start password from
    # AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD) re-read the secret too; without the secret's ARN they fail. Run
    # before the sessions are terminated: the environment's PATH and home are the dag-processor task's own dirs,
    # which go when that task stops (a dag-processor whose session is killed may exit and be replaced).
    probe = run_probe(stale_env, "DagProcessorJob")
    out = probe.stdout + probe.stderr
    assert probe.returncode == 0 and "was rotated; connected with the one from" in out, out[-3000:]
    no_arn = {k: v for k, v in stale_env.items() if k != "AIRFLOW_DB_SECRET_ARN"}
    probe = run_probe(no_arn, "DagProcessorJob")
    assert probe.returncode != 0 and AUTH_FAILED in probe.stdout + probe.stderr, (
        probe.stdout + probe.stderr
    )[-3000:]

    killed = outage.terminate_db_sessions(stack.cfg, user)
    assert killed > 0, "no Airflow DB session to terminate: is the stack running?"
    print(f"rotated {arn}; terminated {killed} sessions of {user}", flush=True)

    assert_run_settled(stack, DRILL_DAG, before, 300)  # started before, finished after the rotation
    after = stack.api.trigger("quick", {"seconds": 1})
    assert_run_settled(stack, "quick", after, 240)  # scheduled, queued and run entirely after it

    # the scaler and the health aggregator measure with the new password (a decision/round after the rotation)
    wait_for(
        lambda: (d := stack.decision())["decided_at"] > t0 + 5 and not d.get("error"),
        120,
        "a scaler decision without error after the rotation",
    )
    wait_for(
        lambda: (
            (s := stack.status())["components"]["postgres"]["status"] == "ok"
            and ts(s["components"]["postgres"]["checked_at"]) > t0 + 5
        ),
        120,
        "/status postgres ok after the rotation",
    )
    # No manual step: the Airflow tasks that ran before run now, or ECS replaced them for a reason other than the
    # DB password (on a loaded 2-core machine a 30 s probe may time out; without the fix they fail on the password).
    replaced = replaced_tasks(stack, t0)
    print("tasks before:", tasks_before, "now:", running_task_ids(stack), "replaced:", replaced, flush=True)
    assert not [
        p.name for p in stack.cfg.runner_dir.glob("logs/*.health.log") if AUTH_FAILED in p.read_text()
    ]
    wait_for(lambda: all_services_healthy(stack), 300, "every service healthy after the rotation")
    logs = {p: p.read_text(errors="replace") for p in log_files(stack)}
    rotated = [p.name for p, text in logs.items() if "was rotated; connected with the one from" in text]
    print("re-read the secret:", rotated, flush=True)
    assert any("scheduler" in n for n in rotated) and any("api-server" in n for n in rotated), rotated
    assert not [p.name for p, text in logs.items() if password in text], "the new DB password is in a log"
    stack.record("rotation_to_quick_run_success_s", round(time.time() - t0, 1))


# --- failover drills ---------------------------------------------------------------------------------------------------
def drill(stack: Stack, store: str, component: str) -> None:
    """``store`` down for OUTAGE_S while the drill DAG runs. Figures first (they go to the runbooks), then the checks."""
    drill_published(stack)
    wait_for(lambda: (s := stack.status())["components"][component]["status"] == "ok" and s, 120, "ok")
    run_id = stack.api.trigger(DRILL_DAG, {"seconds": 45})
    wait_for(
        lambda: tasks_running(stack, DRILL_DAG, run_id, 2),
        300,
        f"both hold tasks running before the {store} outage",
    )
    if store == "redis":
        # paused at creation: a run of a paused DAG stays queued whatever the broker does
        stack.api.unpause("quick")
    sampler = Sampler(stack)
    queued_during: str | None = None
    with sampler.running():
        time.sleep(3)
        with outage.down(stack.cfg, store):
            t_down = time.time()
            if store == "redis":  # work queued while the broker is away must run once it is back
                time.sleep(3)
                queued_during = stack.api.trigger("quick", {"seconds": 1})
            time.sleep(max(0.0, OUTAGE_S - (time.time() - t_down)))
        t_up = time.time()
        # the store's component ok and the platform no longer down (another component, e.g. a sidecar, may be
        # degraded on its own on a loaded machine)
        wait_for(
            lambda: (
                (s := stack.status())["components"][component]["status"] == "ok" and s["status"] != "down"
            ),
            300,
            f"/status {component} ok after the {store} outage",
        )
        t_status_ok = time.time()
        wait_for(
            lambda: not (d := stack.decision()).get("error") and d["decided_at"] > t_up,
            300,
            f"a scaler decision without error after the {store} outage",
        )
        t_scaler_ok = time.time()
        tis = assert_run_settled(stack, DRILL_DAG, run_id, 420)
        t_run_done = time.time()
        # Queued while the broker is away: stock CeleryExecutor failed it at once; the platform executor keeps it
        # queued and sends it once Redis is back (docs/adr/0015-broker-outage.md), so it runs and succeeds.
        quick = assert_run_settled(stack, "quick", queued_during, 300) if queued_during else None
        t_quick_done = time.time()
        wait_for(lambda: all_services_healthy(stack), 300, f"every service healthy after the {store} outage")
        t_healthy = time.time()
        time.sleep(2)

    during = sampler.between(t_down + 5, t_up)  # the aggregator's cache and probe timeouts: a few seconds
    down_seen = [s for s in during if s.get("components", {}).get(component) == "down"]
    held = [s for s in during if (s.get("decision") or {}).get("error")]
    desired = [s["ecs_desired"] for s in sampler.between(t_down, t_up + 2) if "ecs_desired" in s]
    figures = {
        "outage_s": round(t_up - t_down, 1),
        "status_down_seen_after_s": round(down_seen[0]["t"] - t_down, 1) if down_seen else None,
        "status_ok_after_s": round(t_status_ok - t_up, 1),
        "scaler_ok_after_s": round(t_scaler_ok - t_up, 1),
        "dag_run_done_after_s": round(t_run_done - t_up, 1),
        "all_services_healthy_after_s": round(t_healthy - t_up, 1),
        "tasks_retried": sorted({t["task_id"] for t in tis if t["try_number"] > 1}),
        "tasks_replaced_by_ecs": replaced_tasks(stack, t_down),
        "queued_during_outage_run": quick and [t["state"] for t in quick],
        "queued_during_outage_done_after_s": round(t_quick_done - t_up, 1) if quick else None,
        "worker_desired_during": sorted(set(desired)),
    }
    for k, v in figures.items():
        stack.record(f"{store}_{k}", v)

    assert during, "no samples during the outage"
    assert not [s for s in sampler.samples if "status_error" in s], "the health aggregator stopped answering"
    assert down_seen and all(s["status"] == "down" for s in down_seen), [
        (round(s["t"] - t_down), s.get("status"), s.get("components", {}).get(component)) for s in during
    ]
    if store == "redis":
        # the scheduler kept the task queued (images/airflow/platform_executor.py) and said so
        logs = log_files(stack)
        said = [p.name for p in logs if "Celery broker unreachable" in p.read_text(errors="replace")]
        assert any("scheduler" in n for n in said), said
    # the scaler says it cannot measure and holds: the worker service's desired count never goes down meanwhile
    assert held, [s.get("decision") for s in during]
    assert desired and min(desired) >= desired[0], f"scaled in while {store} was down: {desired}"


def test_postgres_outage_drill(stack: Stack) -> None:
    drill(stack, "postgres", "postgres")


def test_redis_outage_drill(stack: Stack) -> None:
    drill(stack, "redis", "redis")
