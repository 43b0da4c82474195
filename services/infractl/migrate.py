"""The deploy path's schema migration: run the env's one-off ``migrate`` ECS task and wait for it.

``infra apply`` runs it after every apply that changed something, and ``infra migrate ENV`` on demand (the deploy
workflow goes through ``infra apply``). The task's own definition (compute module output ``migrate_task``) says how:
the Airflow image's ``migrate`` role, the env's subnets and security group, its awslogs stream. A failure stops the
deploy with the container's exit code and the tail of its log. See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .paths import InfraError

POLL_SECONDS = 3.0
PROGRESS_EVERY = 30.0
LOG_TAIL_LINES = 25


class MigrateError(InfraError):
    """The migration task could not run or failed: `infra` exits FAILED (platform_common/exitcodes.py)."""


@dataclass(frozen=True)
class MigrateTask:
    cluster: str
    task_definition: str
    container: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    log_group: str
    log_stream: str

    @classmethod
    def from_output(cls, out: Mapping[str, Any]) -> MigrateTask:
        try:
            return cls(
                str(out["cluster"]),
                str(out["task_definition"]),
                str(out["container"]),
                tuple(out["subnets"]),
                tuple(out["security_groups"]),
                str(out["log_group"]),
                str(out["log_stream"]),
            )
        except (KeyError, TypeError) as exc:
            raise InfraError(
                f"output migrate_task is incomplete ({exc}): re-run `infra apply` with this checkout's infra/"
            ) from None


@dataclass(frozen=True)
class Outcome:
    done: bool
    ok: bool = False
    exit_code: int | None = None
    reason: str = ""


def outcome(task: Mapping[str, Any], container: str) -> Outcome:
    """What a DescribeTasks entry says about the migration (pure)."""
    if task.get("lastStatus") != "STOPPED":
        return Outcome(done=False)
    c: Mapping[str, Any] = next((c for c in task.get("containers", []) if c.get("name") == container), {})
    code = c.get("exitCode")
    reason = str(task.get("stoppedReason") or c.get("reason") or "")
    return Outcome(done=True, ok=code == 0, exit_code=code if isinstance(code, int) else None, reason=reason)


def run(
    spec: MigrateTask,
    ecs: Any,
    logs: Any,
    *,
    timeout: float = 1800.0,
    say: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Start the migration task, wait for it to stop; return its duration or raise MigrateError with its log tail."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _run(spec, ecs, logs, timeout=timeout, say=say, clock=clock, sleep=sleep)
    except (BotoCoreError, ClientError) as exc:
        raise MigrateError(
            f"ECS call for the migration task failed: {exc}; check credentials and the cluster, then `infra migrate ENV`"
        ) from None


def _run(
    spec: MigrateTask,
    ecs: Any,
    logs: Any,
    *,
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> float:
    resp = ecs.run_task(
        cluster=spec.cluster,
        taskDefinition=spec.task_definition,
        launchType="FARGATE",
        count=1,
        startedBy="infra-migrate",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(spec.subnets),
                "securityGroups": list(spec.security_groups),
                "assignPublicIp": "DISABLED",
            }
        },
    )
    if resp.get("failures") or not resp.get("tasks"):
        raise MigrateError(
            f"RunTask of the migration task failed: {resp.get('failures')}; check the cluster and retry"
        )
    arn = resp["tasks"][0]["taskArn"]
    task_id = arn.rsplit("/", 1)[-1]
    say(f"==> migration task {task_id} started (airflow db migrate); waiting for it to stop")
    t0 = last = clock()
    while True:
        tasks = ecs.describe_tasks(cluster=spec.cluster, tasks=[arn]).get("tasks", [])
        res = outcome(tasks[0], spec.container) if tasks else Outcome(done=False)
        if res.done:
            break
        if clock() - t0 > timeout:
            raise MigrateError(
                f"migration task {task_id} still running after {timeout:.0f}s: look at its log "
                f"({spec.log_group} {spec.log_stream}/{task_id}) and stop it with `aws ecs stop-task`"
            )
        if clock() - last >= PROGRESS_EVERY:
            last = clock()
            say(
                f"    migration task {task_id}: {tasks[0].get('lastStatus') if tasks else '?'} ({last - t0:.0f}s)"
            )
        sleep(POLL_SECONDS)
    took = clock() - t0
    if res.ok:
        say(f"==> migration task {task_id} succeeded in {took:.0f}s")
        return took
    tail = log_tail(logs, spec.log_group, f"{spec.log_stream}/{task_id}")
    code = "no exit code" if res.exit_code is None else f"exit code {res.exit_code}"
    say(f"migration task {task_id} failed ({code}; {res.reason or 'no stop reason'}); last log lines:")
    for line in tail or ["(no log events found)"]:
        say(f"    {line}")
    raise MigrateError(
        f"migration task {task_id} failed with {code}: fix the cause shown above, then `infra migrate ENV`"
    )


def log_tail(logs: Any, group: str, stream: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        events = logs.get_log_events(
            logGroupName=group, logStreamName=stream, limit=lines, startFromHead=False
        )
    except Exception:  # the stream may not exist (the task never started): the stop reason says why
        return []
    return [str(e.get("message", "")).rstrip() for e in events.get("events", [])]
