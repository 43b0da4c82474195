"""Pure decisions of the local Fargate runner: plain data in, decisions out. No I/O, no clocks (callers pass ``now``).

- :func:`plan_service`: ECS's service scheduler for one service (scale out/in, rolling deployment within
  ``minimumHealthyPercent``/``maximumPercent``, scale-in protection, launch throttling).
- :func:`dependency_state`: may a container start yet (``dependsOn`` START/HEALTHY/COMPLETE/SUCCESS)?
- :func:`health_step` / :func:`health_due`: the container health-check state machine (``startPeriod``,
  ``interval``, ``timeout``, ``retries``).
- :func:`task_stop_reason`, :func:`stop_waves`, :func:`task_ready`: task-level decisions.

ECS semantics followed here (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html,
.../task_definition_parameters.html#container_definition_dependson, ...#container_definition_healthcheck):
the lower limit rounds up, the upper limit rounds down; a task counts as healthy once RUNNING and, if any essential
container has a health check, once those are HEALTHY; protected tasks are never stopped by scale-in or a deployment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

# --- service scheduler ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskView:
    """One live task of a service as the scheduler sees it."""

    task_id: str
    task_def: str  # task definition ARN it runs
    started_at: float
    ready: bool  # RUNNING and (if essential containers have health checks) HEALTHY
    protected: bool = False
    stopping: bool = False  # already being stopped: counts for nothing


@dataclass(frozen=True)
class ServiceView:
    name: str
    desired: int
    task_def: str  # the service's current task definition ARN
    tasks: tuple[TaskView, ...] = ()
    min_percent: int = 100
    max_percent: int = 200
    launch_blocked: bool = False  # launch throttling (see launch_delay) holds new starts


@dataclass(frozen=True)
class ServicePlan:
    start: int = 0
    stop: tuple[tuple[str, str], ...] = ()  # (task id, reason)
    held: tuple[str, ...] = ()  # tasks that would be stopped but are protected
    note: str = ""


def limits(desired: int, min_percent: int, max_percent: int) -> tuple[int, int]:
    """(lower, upper) task counts of a deployment. ECS: min rounds up, max rounds down. A maximum below 100 % is
    read as 100 % (a service must be able to reach its desired count)."""
    desired = max(0, desired)
    min_percent = min(max(0, min_percent), 100)
    max_percent = max(100, max_percent)
    lower = math.ceil(desired * min_percent / 100)
    upper = (desired * max_percent) // 100
    return lower, upper


def plan_service(svc: ServiceView) -> ServicePlan:
    """What to start and stop this cycle so ``svc`` converges on ``desired`` tasks of ``task_def``.

    Invariants (property-tested): the ready tasks left after the stops are at least ``min(ready now, lower)``; the
    live tasks after the starts are at most ``max(upper, live now - stops)``; a protected task is never stopped.
    """
    desired = max(0, svc.desired)
    lower, upper = limits(desired, svc.min_percent, svc.max_percent)
    active = [t for t in svc.tasks if not t.stopping]
    new = [t for t in active if t.task_def == svc.task_def]
    old = [t for t in active if t.task_def != svc.task_def]
    oldest = sorted(active, key=lambda t: (t.started_at, t.task_id))
    stops: list[tuple[str, str]] = []
    held: list[str] = []
    ready = sum(1 for t in active if t.ready)

    # Deployment: old revisions go, not-ready ones first, ready ones only while the ready count stays >= lower.
    for t in sorted(old, key=lambda t: (t.ready, t.started_at, t.task_id)):
        if t.protected:
            held.append(t.task_id)
        elif not t.ready:
            stops.append((t.task_id, f"deployment: replaced by {_rev(svc.task_def)}"))
        elif ready - 1 >= lower:
            stops.append((t.task_id, f"deployment: replaced by {_rev(svc.task_def)}"))
            ready -= 1

    # Scale-in of the current revision: oldest unprotected first.
    surplus = len(new) - desired
    if surplus > 0:
        for t in (t for t in oldest if t.task_def == svc.task_def):
            if surplus == 0:
                break
            if t.protected:
                held.append(t.task_id)
                continue
            stops.append((t.task_id, f"scale-in to desired count {desired}"))
            surplus -= 1

    start = max(0, min(desired - len(new), upper - len(active)))
    note = ""
    if start and svc.launch_blocked:
        start, note = 0, "task launches throttled after repeated failures"
    return ServicePlan(start, tuple(stops), tuple(held), note)


def _rev(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def launch_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait before the next launch after ``failures`` consecutive failed tasks (ECS throttles
    relaunches of a service whose tasks keep failing): 0 for none, then base, 2*base, 4*base ... up to ``cap``."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2 ** min(failures - 1, 30)))


# --- containers: dependsOn -------------------------------------------------------------------------------------

ContainerPhase = Literal["PENDING", "RUNNING", "EXITED"]
Health = Literal["UNKNOWN", "HEALTHY", "UNHEALTHY"]


@dataclass(frozen=True)
class ContainerView:
    name: str
    phase: ContainerPhase = "PENDING"
    exit_code: int | None = None
    essential: bool = True
    has_health_check: bool = False
    health: Health = "UNKNOWN"
    health_reason: str = ""  # last failing check, for the stop reason
    depends_on: tuple[tuple[str, str], ...] = ()  # (container name, condition)


@dataclass(frozen=True)
class DependencyState:
    ready: bool
    failed: str = ""  # non-empty: the condition can never hold (the task must stop)


def dependency_state(ctr: ContainerView, others: Mapping[str, ContainerView]) -> DependencyState:
    """Whether ``ctr``'s ``dependsOn`` conditions hold now, or can never hold."""
    for dep_name, condition in ctr.depends_on:
        dep = others.get(dep_name)
        if dep is None:
            return DependencyState(False, f"dependsOn names unknown container {dep_name}")
        cond = condition.upper()
        if cond == "START":
            ok = dep.phase != "PENDING"
        elif cond == "COMPLETE":
            ok = dep.phase == "EXITED"
        elif cond == "SUCCESS":
            if dep.phase == "EXITED" and dep.exit_code != 0:
                return DependencyState(
                    False,
                    f"dependency {dep_name} exited with code {dep.exit_code}; {ctr.name} needs SUCCESS",
                )
            ok = dep.phase == "EXITED"
        elif cond == "HEALTHY":
            if not dep.has_health_check:
                return DependencyState(
                    False, f"{ctr.name} depends on {dep_name} HEALTHY but it has no healthCheck"
                )
            if dep.phase == "EXITED" or dep.health == "UNHEALTHY":
                return DependencyState(
                    False, f"dependency {dep_name} did not become HEALTHY; {ctr.name} not started"
                )
            ok = dep.phase == "RUNNING" and dep.health == "HEALTHY"
        else:
            return DependencyState(False, f"unknown dependsOn condition {condition!r}")
        if not ok:
            return DependencyState(False)
    return DependencyState(True)


DEFAULT_START_TIMEOUT = 180.0  # Fargate's default startTimeout for dependsOn waits


def start_timeout_reason(
    ctr: ContainerView, others: Mapping[str, ContainerView], waited: float, start_timeout: float
) -> str | None:
    """ECS ``startTimeout``: a container still waiting for its dependencies after ``start_timeout`` gives up; an
    essential one stops the task with this reason (a non-essential one just never starts)."""
    if ctr.phase != "PENDING" or not ctr.depends_on or waited < start_timeout:
        return None
    unmet = [
        f"{name} {cond}"
        for name, cond in ctr.depends_on
        if not dependency_state(replace(ctr, depends_on=((name, cond),)), others).ready
    ]
    if not unmet or not ctr.essential:
        return None
    return (
        f"CannotStartContainerError: container {ctr.name}: dependencies not met after startTimeout "
        f"{start_timeout:g}s: {', '.join(unmet)}"
    )


def dependency_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependsOn cycle (container names), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in deps.get(n, ()):
            if state.get(m) == 1:
                return [*path[path.index(m) :], m]
            if m in deps and state.get(m) is None:
                found = visit(m)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for n in deps:
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


# --- health checks ---------------------------------------------------------------------------------------------

# ECS defaults when a healthCheck omits them.
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 3
DEFAULT_START_PERIOD = 0.0


@dataclass(frozen=True)
class HealthCheck:
    command: tuple[str, ...]  # ("CMD", ...) or ("CMD-SHELL", "...")
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    start_period: float = DEFAULT_START_PERIOD

    @classmethod
    def from_ecs(cls, hc: Mapping[str, object]) -> HealthCheck:
        def num(key: str, default: float) -> float:
            value = hc.get(key)
            return default if value is None else float(value)  # type: ignore[arg-type]

        return cls(
            tuple(str(x) for x in hc.get("command") or ()),  # type: ignore[attr-defined]
            num("interval", DEFAULT_INTERVAL),
            num("timeout", DEFAULT_TIMEOUT),
            int(num("retries", DEFAULT_RETRIES)),
            num("startPeriod", DEFAULT_START_PERIOD),
        )

    def describe(self) -> str:
        """The check as a person reads it: the shell string, or the CMD argv."""
        kind, *rest = self.command or ("",)
        return " ".join(rest) if kind in ("CMD", "CMD-SHELL") else " ".join(self.command)


@dataclass(frozen=True)
class HealthState:
    status: Health = "UNKNOWN"
    failures: int = 0  # consecutive failures that counted
    last_run: float | None = None
    last_detail: str = ""  # one line about the last failure


def health_due(state: HealthState, check: HealthCheck, started_at: float, now: float) -> bool:
    """The next check runs ``interval`` after the container started, then ``interval`` after each check (Docker)."""
    last = started_at if state.last_run is None else state.last_run
    return now >= last + check.interval


def health_step(
    state: HealthState, check: HealthCheck, started_at: float, ran_at: float, ok: bool, detail: str = ""
) -> HealthState:
    """The state after one check that began at ``ran_at`` and passed (``ok``) or failed/timed out.

    A pass makes the container HEALTHY and clears the failure count. A failure inside ``startPeriod`` does not
    count; after ``retries`` consecutive counted failures the container is UNHEALTHY.
    """
    if ok:
        return HealthState("HEALTHY", 0, ran_at, "")
    if ran_at < started_at + check.start_period:
        return HealthState(state.status, state.failures, ran_at, detail)
    failures = state.failures + 1
    status: Health = "UNHEALTHY" if failures >= max(1, check.retries) else state.status
    return HealthState(status, failures, ran_at, detail)


# --- task-level decisions --------------------------------------------------------------------------------------

ESSENTIAL_EXITED = "Essential container in task exited"


def task_stop_reason(containers: Sequence[ContainerView]) -> str | None:
    """Why the task must stop now, or None. ECS's wording where it has one."""
    by_name = {c.name: c for c in containers}
    for c in containers:
        if c.essential and c.phase == "EXITED":
            return ESSENTIAL_EXITED
    for c in containers:
        if c.essential and c.has_health_check and c.health == "UNHEALTHY" and c.phase == "RUNNING":
            return (
                f"Task failed container health checks: container {c.name}: {c.health_reason or 'unhealthy'}"
            )
    for c in containers:
        if c.phase == "PENDING":
            dep = dependency_state(c, by_name)
            if dep.failed:
                return f"CannotStartContainerError: {dep.failed}"
    if containers and all(c.phase == "EXITED" for c in containers):
        return ESSENTIAL_EXITED
    return None


def task_running(containers: Sequence[ContainerView]) -> bool:
    """ECS reports a task RUNNING once its essential containers run."""
    ess = [c for c in containers if c.essential]
    return bool(ess) and all(c.phase == "RUNNING" for c in ess)


def task_health(containers: Sequence[ContainerView]) -> Health:
    """ECS task health: UNHEALTHY if an essential checked container is, HEALTHY if all of them are."""
    checked = [c for c in containers if c.essential and c.has_health_check]
    if any(c.health == "UNHEALTHY" for c in checked):
        return "UNHEALTHY"
    if all(c.health == "HEALTHY" for c in checked):
        return "HEALTHY"
    return "UNKNOWN"


def task_ready(containers: Sequence[ContainerView]) -> bool:
    """Counts toward a service's healthy tasks: RUNNING, and HEALTHY where essential containers have checks."""
    return task_running(containers) and task_health(containers) == "HEALTHY"


def stop_waves(depends_on: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Stop order: dependants before their dependencies. Each wave may stop together; cycles end in one last wave."""
    remaining = set(depends_on)
    waves: list[list[str]] = []
    while remaining:
        needed = {d for n in remaining for d in depends_on[n] if d in remaining and d != n}
        wave = sorted(remaining - needed)
        if not wave:  # a cycle: stop the rest together
            wave = sorted(remaining)
        waves.append(wave)
        remaining -= set(wave)
    return waves


@dataclass
class Backoff:
    """Consecutive failed launches of one service (mutable bookkeeping the shell keeps per service)."""

    failures: int = 0
    last_failure: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def failed(self, now: float, reason: str) -> None:
        self.failures += 1
        self.last_failure = now
        self.reasons = [*self.reasons[-4:], reason]

    def succeeded(self) -> None:
        self.failures = 0

    def blocked(self, now: float, base: float, cap: float) -> bool:
        return now < self.last_failure + launch_delay(self.failures, base, cap)
