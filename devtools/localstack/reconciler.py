"""Local stand-in for Fargate: keep local Celery workers matching the emulated ECS worker service.

Local tooling, not product code. Each cycle it reads the service's ``desiredCount`` from the moto server, then
starts ``images/airflow/entrypoint.sh worker`` processes (each registered as an ECS task with RunTask, and named
after that task so the scaler's task-protection mapping works) or stops surplus ones like ECS would:

- victims are picked oldest first (the worst case for long-running work), skipping tasks with scale-in
  protection (GetTaskProtection) - a protected task is kept even if that leaves the service above desired;
- stop = SIGTERM (Celery warm shutdown: running tasks finish), then SIGKILL after ``stop_timeout``
  (Fargate's stopTimeout, at most 120 s), then StopTask.

Every start/stop is appended to ``<state>/reconciler-events.jsonl``. See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.localstack.config import StackConfig
from devtools.localstack.procs import Supervisor
from devtools.servers import free_port

log = logging.getLogger("reconciler")
WORKER_PREFIX = "worker-"


# --- pure core -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerView:
    task_id: str
    started_at: float
    protected: bool
    stopping: bool = False


@dataclass(frozen=True)
class Plan:
    start: int
    stop: tuple[str, ...]
    held: tuple[str, ...]  # protected workers kept although the service is above desired


def plan(desired: int, workers: Sequence[WorkerView]) -> Plan:
    """What to start/stop so the active (not stopping) workers approach ``desired`` without stopping a protected
    one. Oldest unprotected workers go first."""
    active = sorted((w for w in workers if not w.stopping), key=lambda w: (w.started_at, w.task_id))
    desired = max(0, desired)
    if desired >= len(active):
        return Plan(desired - len(active), (), ())
    excess = len(active) - desired
    victims = tuple(w.task_id for w in active if not w.protected)[:excess]
    held = tuple(w.task_id for w in active if w.protected)[: excess - len(victims)]
    return Plan(0, victims, held)


# --- I/O shell -------------------------------------------------------------------------------------------------
class Reconciler:
    def __init__(self, cfg: StackConfig) -> None:
        import boto3  # devtools only; the stack's AWS env points at the moto server

        self.cfg = cfg
        self.sup = Supervisor(cfg.state_dir)
        self.ecs = boto3.client(
            "ecs",
            endpoint_url=cfg.aws_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        )
        self.stopping: dict[str, float] = {}  # task id -> SIGKILL deadline (monotonic)
        self.events = cfg.state_dir / "reconciler-events.jsonl"
        self.status_file = cfg.state_dir / "run" / "reconciler.json"
        self.running = True
        self.network: dict[str, Any] = {}

    def event(self, kind: str, **fields: Any) -> None:
        record = {"t": time.time(), "event": kind, **fields}
        with open(self.events, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        log.info("%s %s", kind, json.dumps(fields))

    # ECS views
    def desired(self) -> int:
        resp = self.ecs.describe_services(cluster=self.cfg.cluster, services=[self.cfg.worker_service])
        service = resp["services"][0]
        self.network = service.get("networkConfiguration") or self.network
        return int(service["desiredCount"])

    def protected(self, arns: list[str]) -> set[str]:
        """Task ARNs with scale-in protection. If protection cannot be read, every task counts as protected."""
        if not arns:
            return set()
        try:
            out: set[str] = set()
            for i in range(0, len(arns), 100):
                resp = self.ecs.get_task_protection(cluster=self.cfg.cluster, tasks=arns[i : i + 100])
                out |= {t["taskArn"] for t in resp.get("protectedTasks", []) if t.get("protectionEnabled")}
            return out
        except Exception as exc:  # moto without the patch, moto down: hold every scale-in
            log.warning("GetTaskProtection failed, holding scale-in: %s", exc)
            return set(arns)

    # workers
    def workers(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name in self.sup.names(WORKER_PREFIX):
            info = self.sup.info(name)
            if info is None:
                continue
            tid = name[len(WORKER_PREFIX) :]
            out[tid] = {"info": info, "alive": info.alive(), "arn": str(info.meta.get("task_arn", ""))}
        return out

    def worker_env(self, task_id: str) -> dict[str, str]:
        from devtools.localstack.stack import airflow_env

        env = airflow_env(self.cfg)
        env["AIRFLOW_WORKER_HOST"] = task_id
        env["AIRFLOW_ROLE_FILE"] = str(self.sup.run_dir / f"{WORKER_PREFIX}{task_id}.role")
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        return env

    def start_worker(self) -> None:
        from devtools.airflow import entrypoint_cmd

        resp = self.ecs.run_task(
            cluster=self.cfg.cluster,
            taskDefinition=self.cfg.worker_family,
            launchType="FARGATE",
            count=1,
            group=f"service:{self.cfg.worker_service}",
            startedBy="local-reconciler",
            networkConfiguration=self.network,  # the service's, like ECS
        )
        task = resp["tasks"][0]
        arn = task["taskArn"]
        tid = arn.rsplit("/", 1)[-1]
        info, _ = self.sup.spawn(
            f"{WORKER_PREFIX}{tid}",
            entrypoint_cmd("worker"),
            self.worker_env(tid),
            cwd=self.cfg.state_dir,
            meta={"task_arn": arn, "task_id": tid},
        )
        self.event("started", task_id=tid, task_arn=arn, pid=info.pid)

    def begin_stop(self, tid: str, reason: str) -> None:
        self.sup.send(f"{WORKER_PREFIX}{tid}", signal.SIGTERM)  # Celery warm shutdown
        self.stopping[tid] = time.monotonic() + self.cfg.worker_stop_timeout
        self.event("stopping", task_id=tid, reason=reason)

    def finish(self, tid: str, arn: str, how: str) -> None:
        self.sup.pid_file(f"{WORKER_PREFIX}{tid}").unlink(missing_ok=True)
        self.stopping.pop(tid, None)
        if arn:
            try:
                self.ecs.stop_task(cluster=self.cfg.cluster, task=arn, reason=how)
            except Exception as exc:
                log.warning("StopTask %s failed: %s", tid, exc)
        self.event(how, task_id=tid, task_arn=arn)

    def cycle(self) -> dict[str, Any]:
        desired = self.desired()  # raises when moto is unreachable: hold still
        workers = self.workers()
        for tid, w in list(workers.items()):
            if not w["alive"]:
                self.finish(tid, w["arn"], "stopped" if tid in self.stopping else "exited")
                del workers[tid]
            elif tid in self.stopping and time.monotonic() > self.stopping[tid]:
                # Fargate's stopTimeout passed: SIGKILL the whole worker (pool children and tasks included)
                self.sup.stop(f"{WORKER_PREFIX}{tid}", signal.SIGKILL, timeout=5)
                self.finish(tid, w["arn"], "killed")
                del workers[tid]
        protected = self.protected([w["arn"] for w in workers.values() if w["arn"]])
        views = [
            WorkerView(tid, w["info"].started_at, w["arn"] in protected, tid in self.stopping)
            for tid, w in workers.items()
        ]
        p = plan(desired, views)
        for _ in range(p.start):
            self.start_worker()
        for tid in p.stop:
            self.begin_stop(tid, f"scale-in to {desired}")
        if p.held:
            log.info("scale-in held by task protection: %s", ",".join(p.held))
        self.cleanup_orphan_tasks({w["arn"] for w in self.workers().values()})  # incl. the ones just started
        status = {
            "t": time.time(),
            "desired": desired,
            "workers": sorted(workers),
            "stopping": sorted(self.stopping),
            "protected": sorted(tid for tid, w in workers.items() if w["arn"] in protected),
            "held": list(p.held),
        }
        self.status_file.write_text(json.dumps(status))
        return status

    def cleanup_orphan_tasks(self, known_arns: set[str]) -> None:
        """RUNNING tasks of the service with no local worker (left by a crashed run) are stopped."""
        resp = self.ecs.list_tasks(cluster=self.cfg.cluster, desiredStatus="RUNNING")
        arns = [a for a in resp.get("taskArns", []) if a not in known_arns]
        if not arns:
            return
        tasks = self.ecs.describe_tasks(cluster=self.cfg.cluster, tasks=arns).get("tasks", [])
        for t in tasks:
            if t.get("group") == f"service:{self.cfg.worker_service}" and t.get("lastStatus") != "STOPPED":
                self.ecs.stop_task(cluster=self.cfg.cluster, task=t["taskArn"], reason="no local worker")

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "running", False))
        self.event("reconciler_started", interval=self.cfg.reconcile_interval)
        while self.running:
            try:
                self.cycle()
            except Exception as exc:  # moto restarting, etc.: keep the workers as they are, retry
                log.warning("cycle failed (holding still): %s: %s", type(exc).__name__, exc)
            deadline = time.monotonic() + self.cfg.reconcile_interval
            while self.running and time.monotonic() < deadline:
                time.sleep(0.1)
        # Workers are supervised processes in their own right: `down` stops them by PID.
        self.event("reconciler_stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.localstack.reconciler")
    parser.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = StackConfig.load(args.state_dir.resolve())
    except (OSError, ValueError) as exc:
        print(
            f"reconciler: cannot read {args.state_dir}/stack.json ({exc}); start it with the stack",
            file=sys.stderr,
        )
        return 2
    Reconciler(cfg).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
