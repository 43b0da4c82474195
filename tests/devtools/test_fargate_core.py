"""The local Fargate runner's pure core (devtools/fargate/core.py): scheduler, dependsOn, health, task decisions."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, note, settings
from hypothesis import strategies as st

from devtools.fargate.core import (
    ESSENTIAL_EXITED,
    Backoff,
    ContainerView,
    HealthCheck,
    HealthState,
    ServiceView,
    TaskView,
    dependency_cycle,
    dependency_state,
    health_due,
    health_step,
    launch_delay,
    limits,
    plan_service,
    start_timeout_reason,
    stop_waves,
    task_health,
    task_ready,
    task_running,
    task_stop_reason,
)

OLD, NEW = "arn:td/svc:1", "arn:td/svc:2"


def t(tid: str, td: str = NEW, at: float = 0.0, ready: bool = True, **kw: bool) -> TaskView:
    return TaskView(tid, td, at, ready, **kw)


# --- limits / scheduler -----------------------------------------------------------------------------------------
def test_limits_round_like_ecs() -> None:
    assert limits(3, 50, 200) == (2, 6)  # ceil(1.5), floor(6)
    assert limits(3, 100, 150) == (3, 4)  # floor(4.5)
    assert limits(1, 100, 200) == (1, 2)
    assert limits(0, 100, 200) == (0, 0)
    assert limits(2, 0, 50) == (0, 2)  # max below 100 % read as 100 %


def test_scale_out_from_zero() -> None:
    assert plan_service(ServiceView("s", 3, NEW)).start == 3


def test_scale_in_oldest_unprotected_first() -> None:
    tasks = (t("a", at=1), t("b", at=2, protected=True), t("c", at=3), t("d", at=4))
    plan = plan_service(ServiceView("s", 2, NEW, tasks))
    assert [tid for tid, _ in plan.stop] == ["a", "c"]
    assert plan.start == 0 and plan.held == ("b",)
    assert all("scale-in" in reason for _, reason in plan.stop)


def test_scale_in_held_by_protection() -> None:
    plan = plan_service(ServiceView("s", 0, NEW, (t("a", protected=True), t("b", protected=True))))
    assert plan.stop == () and set(plan.held) == {"a", "b"}


def test_stopping_tasks_count_for_nothing() -> None:
    plan = plan_service(ServiceView("s", 1, NEW, (t("a", stopping=True),)))
    assert plan.start == 1 and plan.stop == ()


def test_rollout_one_task_min100_max200() -> None:
    svc = ServiceView("s", 1, NEW, (t("old", OLD),))
    p1 = plan_service(svc)
    assert p1.start == 1 and p1.stop == ()  # surge first; the old one is the only healthy task
    p2 = plan_service(ServiceView("s", 1, NEW, (t("old", OLD), t("new", ready=False, at=5))))
    assert p2.start == 0 and p2.stop == ()  # new one not healthy yet
    p3 = plan_service(ServiceView("s", 1, NEW, (t("old", OLD), t("new", at=5))))
    assert p3.start == 0 and [x for x, _ in p3.stop] == ["old"]
    assert "replaced by svc:2" in p3.stop[0][1]


def test_rollout_min0_max100_stops_first() -> None:
    p = plan_service(ServiceView("s", 1, NEW, (t("old", OLD),), min_percent=0, max_percent=100))
    assert p.start == 0 and [x for x, _ in p.stop] == ["old"]
    p2 = plan_service(
        ServiceView("s", 1, NEW, (t("old", OLD, stopping=True),), min_percent=0, max_percent=100)
    )
    assert p2.start == 1


def test_rollout_never_stops_protected_old() -> None:
    p = plan_service(ServiceView("s", 1, NEW, (t("old", OLD, protected=True), t("new", at=5))))
    assert p.stop == () and p.held == ("old",)


def test_not_ready_old_tasks_go_first() -> None:
    tasks = (t("o1", OLD, at=1), t("o2", OLD, at=2, ready=False))
    p = plan_service(ServiceView("s", 2, NEW, tasks, min_percent=50, max_percent=100))
    # lower = 1: the unready one goes, then one ready one may go (2 ready - 1 >= 1)? ready count is 1
    assert [x for x, _ in p.stop] == ["o2"]
    assert p.start == 0  # upper 2, still 2 live


def test_launch_throttle_blocks_starts_only() -> None:
    tasks = (t("a", at=1), t("b", at=2))
    p = plan_service(ServiceView("s", 1, NEW, tasks, launch_blocked=True))
    assert len(p.stop) == 1
    p2 = plan_service(ServiceView("s", 3, NEW, tasks, launch_blocked=True))
    assert p2.start == 0 and "throttled" in p2.note


def test_launch_delay_and_backoff() -> None:
    assert launch_delay(0, 2, 60) == 0
    assert [launch_delay(n, 2, 60) for n in (1, 2, 3, 6, 50)] == [2, 4, 8, 60, 60]
    b = Backoff()
    b.failed(100.0, "x")
    assert b.blocked(101.0, 2, 60) and not b.blocked(102.0, 2, 60)
    b.failed(102.0, "y")
    assert b.blocked(105.9, 2, 60) and not b.blocked(106.0, 2, 60)
    b.succeeded()
    assert not b.blocked(102.0, 2, 60)


task_views = st.builds(
    TaskView,
    task_id=st.text("abcdefgh", min_size=1, max_size=3),
    task_def=st.sampled_from([OLD, NEW, "arn:td/svc:0"]),
    started_at=st.floats(0, 100),
    ready=st.booleans(),
    protected=st.booleans(),
    stopping=st.booleans(),
).map(lambda v: v)


@st.composite
def services(draw: st.DrawFn) -> ServiceView:
    tasks = draw(st.lists(task_views, max_size=10, unique_by=lambda v: v.task_id))
    return ServiceView(
        "s",
        draw(st.integers(0, 8)),
        NEW,
        tuple(tasks),
        draw(st.integers(0, 100)),
        draw(st.integers(100, 300)),
        draw(st.booleans()),
    )


@settings(max_examples=400, deadline=None)
@given(services())
def test_plan_invariants(svc: ServiceView) -> None:
    plan = plan_service(svc)
    lower, upper = limits(svc.desired, svc.min_percent, svc.max_percent)
    by_id = {x.task_id: x for x in svc.tasks}
    stopped = {tid for tid, _ in plan.stop}
    assert len(stopped) == len(plan.stop)  # no task twice
    assert all(not by_id[tid].protected and not by_id[tid].stopping for tid in stopped)
    active = [x for x in svc.tasks if not x.stopping]
    ready_before = sum(x.ready for x in active)
    ready_after = sum(x.ready for x in active if x.task_id not in stopped)
    # the ready count never drops below the lower limit because of a deployment; scale-in of the current
    # revision only stops tasks beyond desired
    new_ready_stopped = sum(1 for tid in stopped if by_id[tid].ready and by_id[tid].task_def == svc.task_def)
    assert ready_after + new_ready_stopped >= min(ready_before, lower)
    live_after = len(active) - len(stopped) + plan.start
    if plan.start:
        assert len(active) + plan.start <= upper
        assert not svc.launch_blocked
    assert plan.start <= max(0, svc.desired)
    new_after = sum(1 for x in active if x.task_def == svc.task_def and x.task_id not in stopped)
    assert new_after + plan.start <= max(
        svc.desired, sum(1 for x in active if x.task_def == svc.task_def and x.protected)
    )
    assert live_after >= 0


@settings(max_examples=200, deadline=None)
@given(services())
def test_plan_converges(svc: ServiceView) -> None:
    """Simulated: stops take effect, starts become ready -> exactly desired tasks of the new revision. (Protected
    tasks may block a deployment for as long as they stay protected, as on ECS; they are left out here.)"""
    note(repr(svc))
    tasks = {x.task_id: x for x in svc.tasks if not x.stopping and not x.protected}
    svc = ServiceView("s", svc.desired, NEW, tuple(tasks.values()), svc.min_percent, svc.max_percent)
    n = 0
    for _ in range(30):
        plan = plan_service(svc)
        for tid, _ in plan.stop:
            tasks.pop(tid)
        for _ in range(plan.start):
            n += 1
            tasks[f"n{n}"] = TaskView(f"n{n}", NEW, 1000.0 + n, False)
        tasks = {k: replace(x, ready=True) if x.task_def == NEW else x for k, x in tasks.items()}  # came up
        svc = ServiceView("s", svc.desired, NEW, tuple(tasks.values()), svc.min_percent, svc.max_percent)
    lower, upper = limits(svc.desired, svc.min_percent, svc.max_percent)
    if lower < upper or svc.desired == 0:
        assert all(x.task_def == NEW for x in tasks.values())
        assert len(tasks) == svc.desired
    else:  # min and max both round to desired: ECS can neither surge nor drop a task, so it cannot deploy
        assert len(tasks) <= max(svc.desired, len(svc.tasks))


# --- dependsOn ---------------------------------------------------------------------------------------------------
def c(name: str, **kw: object) -> ContainerView:
    return ContainerView(name, **kw)  # type: ignore[arg-type]


def test_depends_on_conditions() -> None:
    app = c("app", depends_on=(("side", "START"),))
    assert not dependency_state(app, {"side": c("side")}).ready
    assert dependency_state(app, {"side": c("side", phase="RUNNING")}).ready

    app = c("app", depends_on=(("init", "COMPLETE"),))
    assert not dependency_state(app, {"init": c("init", phase="RUNNING")}).ready
    assert dependency_state(app, {"init": c("init", phase="EXITED", exit_code=3)}).ready

    app = c("app", depends_on=(("init", "SUCCESS"),))
    assert dependency_state(app, {"init": c("init", phase="EXITED", exit_code=0)}).ready
    failed = dependency_state(app, {"init": c("init", phase="EXITED", exit_code=3)})
    assert not failed.ready and "exited with code 3" in failed.failed

    app = c("app", depends_on=(("side", "HEALTHY"),))
    side = c("side", phase="RUNNING", has_health_check=True)
    assert not dependency_state(app, {"side": side}).ready
    assert dependency_state(
        app, {"side": c("side", phase="RUNNING", has_health_check=True, health="HEALTHY")}
    ).ready
    bad = dependency_state(
        app, {"side": c("side", phase="RUNNING", has_health_check=True, health="UNHEALTHY")}
    )
    assert bad.failed
    assert dependency_state(app, {"side": c("side", phase="RUNNING")}).failed  # no healthCheck
    assert dependency_state(c("x", depends_on=(("nope", "START"),)), {}).failed
    assert dependency_state(c("x", depends_on=(("y", "SOMETIMES"),)), {"y": c("y")}).failed


def test_start_timeout() -> None:
    side = c("side", phase="RUNNING", has_health_check=True)
    app = c("app", depends_on=(("side", "HEALTHY"),))
    assert start_timeout_reason(app, {"side": side}, 179, 180) is None
    reason = start_timeout_reason(app, {"side": side}, 180, 180)
    assert (
        reason
        == "CannotStartContainerError: container app: dependencies not met after startTimeout 180s: side HEALTHY"
    )
    healthy = c("side", phase="RUNNING", has_health_check=True, health="HEALTHY")
    assert start_timeout_reason(app, {"side": healthy}, 500, 180) is None  # met (it starts this cycle)
    assert (
        start_timeout_reason(
            c("app", essential=False, depends_on=(("side", "HEALTHY"),)), {"side": side}, 500, 180
        )
        is None
    )
    assert (
        start_timeout_reason(
            c("app", phase="RUNNING", depends_on=(("side", "HEALTHY"),)), {"side": side}, 500, 180
        )
        is None
    )


def test_dependency_cycle() -> None:
    assert dependency_cycle({"a": ["b"], "b": []}) is None
    assert dependency_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]


CONDS = ["START", "COMPLETE", "SUCCESS", "HEALTHY"]
containers = st.builds(
    ContainerView,
    name=st.sampled_from(["d"]),
    phase=st.sampled_from(["PENDING", "RUNNING", "EXITED"]),
    exit_code=st.sampled_from([None, 0, 1]),
    has_health_check=st.booleans(),
    health=st.sampled_from(["UNKNOWN", "HEALTHY", "UNHEALTHY"]),
)


@settings(max_examples=300, deadline=None)
@given(containers, st.sampled_from(CONDS))
def test_depends_on_never_early(dep: ContainerView, cond: str) -> None:
    state = dependency_state(c("app", depends_on=(("d", cond),)), {"d": dep})
    if state.ready:
        assert dep.phase != "PENDING"
        if cond in ("COMPLETE", "SUCCESS"):
            assert dep.phase == "EXITED"
        if cond == "SUCCESS":
            assert dep.exit_code == 0
        if cond == "HEALTHY":
            assert dep.health == "HEALTHY" and dep.has_health_check
    assert not (state.ready and state.failed)


# --- health ------------------------------------------------------------------------------------------------------
def test_health_defaults_from_ecs() -> None:
    hc = HealthCheck.from_ecs({"command": ["CMD-SHELL", "exit 1"]})
    assert (hc.interval, hc.timeout, hc.retries, hc.start_period) == (30, 5, 3, 0)
    assert hc.describe() == "exit 1"
    assert HealthCheck.from_ecs({"command": ["CMD", "a", "b"], "retries": 1}).retries == 1


def test_health_state_machine() -> None:
    hc = HealthCheck(("CMD-SHELL", "x"), interval=5, timeout=2, retries=2, start_period=10)
    s = HealthState()
    assert not health_due(s, hc, 0, 4.9) and health_due(s, hc, 0, 5)
    s = health_step(s, hc, 0, 5, False, "exit 1")  # inside startPeriod: does not count
    assert s.status == "UNKNOWN" and s.failures == 0 and s.last_detail == "exit 1"
    assert not health_due(s, hc, 0, 9.9) and health_due(s, hc, 0, 10)
    s = health_step(s, hc, 0, 10, False, "exit 1")
    assert s.status == "UNKNOWN" and s.failures == 1
    s = health_step(s, hc, 0, 15, True)
    assert s.status == "HEALTHY" and s.failures == 0
    s = health_step(s, hc, 0, 20, False, "exit 1")
    assert s.status == "HEALTHY"
    s = health_step(s, hc, 0, 25, False, "exit 1")
    assert s.status == "UNHEALTHY"
    assert health_step(s, hc, 0, 30, True).status == "HEALTHY"


def test_health_pass_in_start_period_counts() -> None:
    hc = HealthCheck(("CMD", "x"), interval=1, retries=1, start_period=100)
    assert health_step(HealthState(), hc, 0, 1, True).status == "HEALTHY"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=20), st.integers(1, 5), st.floats(0, 20))
def test_health_unhealthy_only_after_retries(results: list[bool], retries: int, start_period: float) -> None:
    hc = HealthCheck(("CMD", "x"), interval=1, retries=retries, start_period=start_period)
    s = HealthState()
    counted_run = 0
    for i, ok in enumerate(results, start=1):
        s = health_step(s, hc, 0, float(i), ok)
        counted_run = 0 if ok else counted_run + (1 if i >= start_period else 0)
        if ok:
            assert s.status == "HEALTHY"
        assert (s.status == "UNHEALTHY") == (counted_run >= retries)


# --- task decisions ----------------------------------------------------------------------------------------------
def test_task_stop_reasons() -> None:
    assert task_stop_reason([c("a", phase="RUNNING"), c("b", phase="EXITED", essential=False)]) is None
    assert task_stop_reason([c("a", phase="EXITED", exit_code=0)]) == ESSENTIAL_EXITED
    unhealthy = c(
        "sched", phase="RUNNING", has_health_check=True, health="UNHEALTHY", health_reason="probe exited 1"
    )
    assert (
        task_stop_reason([unhealthy])
        == "Task failed container health checks: container sched: probe exited 1"
    )
    # non-essential unhealthy: kept
    assert (
        task_stop_reason(
            [
                c("a", phase="RUNNING"),
                c("s", phase="RUNNING", essential=False, has_health_check=True, health="UNHEALTHY"),
            ]
        )
        is None
    )
    blocked = [
        c("init", phase="EXITED", exit_code=2, essential=False),
        c("app", depends_on=(("init", "SUCCESS"),)),
    ]
    reason = task_stop_reason(blocked)
    assert reason is not None and reason.startswith("CannotStartContainerError") and "code 2" in reason
    assert task_stop_reason([c("x", phase="EXITED", essential=False)]) == ESSENTIAL_EXITED


def test_task_running_health_ready() -> None:
    side = c("side", phase="RUNNING", essential=False, has_health_check=True)
    app = c("app", phase="RUNNING", has_health_check=True, health="HEALTHY")
    assert task_running([side, app]) and task_health([side, app]) == "HEALTHY" and task_ready([side, app])
    assert not task_ready([c("app", phase="RUNNING", has_health_check=True)])
    assert task_ready([c("app", phase="RUNNING")])  # no checks: ready once running
    assert not task_running([c("app")])


def test_stop_waves_dependants_first() -> None:
    deps = {"dagsync": [], "scheduler": ["dagsync"], "init": [], "web": ["scheduler", "init"]}
    assert stop_waves(deps) == [["web"], ["init", "scheduler"], ["dagsync"]]
    assert stop_waves({"a": ["b"], "b": ["a"]}) == [["a", "b"]]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcdef"), st.lists(st.sampled_from("abcdef"), max_size=3), max_size=6)
)
def test_stop_waves_order(deps: dict[str, list[str]]) -> None:
    if dependency_cycle(deps):
        return
    waves = stop_waves(deps)
    pos = {n: i for i, w in enumerate(waves) for n in w}
    assert set(pos) == set(deps)
    for n, ds in deps.items():
        for d in ds:
            if d in deps and d != n:
                assert pos[n] < pos[d]
