"""The pure decider and schedule: examples and hypothesis properties from issue 3."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaler.decider import Config, Measurement, State, decide
from scaler.schedule import ScheduleError, parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")
# Wed 2026-11-25 10:00 Berlin (inside Mon-Fri 07:00-19:00) and Sat 2026-11-28 10:00 Berlin (outside).
WEEKDAY = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN).timestamp()
WEEKEND = datetime(2026, 11, 28, 10, 0, tzinfo=BERLIN).timestamp()
OFFICE = parse_schedule("Mon-Fri 07:00-19:00", "Europe/Berlin")


def cfg(**kw: object) -> Config:
    base: dict[str, object] = {"concurrency": 8, "min_workers": 1, "max_workers": 10, "cooldown": 300.0}
    base.update(kw)
    return Config(**base)  # type: ignore[arg-type]


def m(queued: int = 0, running: int = 0, broker: int = 0) -> Measurement:
    return Measurement(queued, running, broker)


# --- examples ------------------------------------------------------------------------------------------------
def test_helm_keda_formula() -> None:
    d, _ = decide(m(queued=17, running=3), cfg(), State(), now=0)
    assert d.desired == math.ceil(20 / 8) == 3
    assert (d.min, d.max, d.window) == (1, 10, "always")


def test_broker_backlog_scales_up_while_db_says_zero() -> None:
    d, _ = decide(m(queued=0, running=0, broker=40), cfg(min_workers=0), State(), now=0)
    assert d.desired == 5 and d.target == 5


def test_unacked_running_not_counted_twice() -> None:
    # 8 running, all 8 unacked in Redis: broker_depth 8 is the same work, not more.
    d, _ = decide(m(queued=0, running=8, broker=8), cfg(), State(), now=0)
    assert d.desired == 1


def test_scale_out_at_once_scale_in_after_cooldown() -> None:
    c = cfg()
    d, s = decide(m(queued=80), c, State(2), now=0)
    assert d.desired == 10 and "scale out" in d.reason
    d, s = decide(m(queued=8), c, s, now=10)
    assert d.desired == 10 and d.target == 1 and "hold" in d.reason
    d, s = decide(m(queued=20), c, s, now=200)
    assert d.desired == 10
    d, s = decide(m(queued=8), c, s, now=310)  # lower values held 300 s: scale in to the highest of them (3)
    assert d.desired == 3 and "scale in" in d.reason
    d, s = decide(m(queued=8), c, s, now=320)
    assert d.desired == 3  # the next scale-in needs another full cooldown


def test_spike_during_cooldown_resets_it() -> None:
    c = cfg()
    _, s = decide(m(queued=80), c, State(), now=0)
    _, s = decide(m(queued=8), c, s, now=100)
    _, s = decide(m(queued=80), c, s, now=200)  # back up: cooldown restarts
    d, s = decide(m(queued=8), c, s, now=350)
    assert d.desired == 10
    d, s = decide(m(queued=8), c, s, now=660)
    assert d.desired == 1


def test_missing_data_holds_and_never_zero() -> None:
    c = cfg(min_workers=0)
    d, _ = decide(None, c, State(4), now=0, current=4, error="redis: ConnectionError")
    assert d.desired == 4 and "hold" in d.reason and "redis" in d.reason
    d, _ = decide(None, c, State(), now=0, current=3)
    assert d.desired == 3  # nothing decided yet: keep what ECS has
    d, _ = decide(None, c, State(), now=0)
    assert d.desired is None  # nothing to hold: nothing is applied


def test_missing_data_restarts_cooldown() -> None:
    c = cfg()
    _, s = decide(m(queued=80), c, State(), now=0)
    _, s = decide(m(queued=0), c, s, now=100)
    _, s = decide(None, c, s, now=200)
    d, s = decide(m(queued=0), c, s, now=310)
    assert d.desired == 10  # the lower value was not seen to hold through the gap


def test_off_hours_min_zero_and_cap_and_drain() -> None:
    c = cfg(min_workers=2, schedule=OFFICE, offhours_max=3, cooldown=0)
    d, _ = decide(m(), c, State(2), now=WEEKDAY)
    assert (d.desired, d.min, d.max, d.window) == (2, 2, 10, "Mon-Fri 07:00-19:00")
    d, _ = decide(m(queued=80), c, State(2), now=WEEKEND)
    assert (d.desired, d.min, d.max, d.window) == (3, 0, 3, "off-hours")
    d, s = decide(m(running=1), c, State(3), now=WEEKEND)
    assert d.desired == 1  # still draining: not zero while a task instance runs
    d, _ = decide(m(), c, s, now=WEEKEND + 15)
    assert d.desired == 0 and "zero" in d.reason


def test_cron_schedule_window() -> None:
    cron = parse_schedule("cron(0 7 * * 1-5)..cron(0 19 * * 1-5)", "Europe/Berlin")
    c = cfg(min_workers=2, schedule=cron)
    assert decide(m(), c, State(), now=WEEKDAY)[0].desired == 2
    assert decide(m(), c, State(), now=WEEKEND)[0].desired == 0


@pytest.mark.parametrize(
    ("spec", "when", "active"),
    [
        ("Mon-Fri 07:00-19:00", datetime(2026, 11, 23, 6, 59), False),
        ("Mon-Fri 07:00-19:00", datetime(2026, 11, 23, 7, 0), True),
        ("Mon-Fri 07:00-19:00", datetime(2026, 11, 27, 18, 59), True),
        ("Mon-Fri 07:00-19:00", datetime(2026, 11, 27, 19, 0), False),
        ("Sat,Sun 09:00-12:00", datetime(2026, 11, 29, 11, 0), True),
        ("Fri 22:00-06:00", datetime(2026, 11, 28, 5, 0), True),  # wraps into Saturday
        ("Fri 22:00-06:00", datetime(2026, 11, 28, 22, 30), False),
        ("Daily 00:00-24:00", datetime(2026, 11, 28, 23, 59), True),
        ("Mon 08:00-09:00; Tue 08:00-09:00", datetime(2026, 11, 24, 8, 30), True),
        ("cron(30 6 * * *)..cron(0 7 * * *)", datetime(2026, 11, 24, 6, 45), True),
        ("cron(30 6 * * *)..cron(0 7 * * *)", datetime(2026, 11, 24, 7, 0), False),
    ],
)
def test_schedule_windows(spec: str, when: datetime, active: bool) -> None:
    sched = parse_schedule(spec, "America/New_York")
    now = when.replace(tzinfo=ZoneInfo("America/New_York")).timestamp()
    assert (sched.active_window(now) is not None) is active


@pytest.mark.parametrize(
    ("spec", "tz", "match"),
    [
        ("Mon-Fri 07:00-19:00", "Mars/Olympus", "unknown timezone"),
        ("Mon-Fri 07:00-25:00", "UTC", "bad time"),
        ("Mon-Fun 07:00-19:00", "UTC", "bad day"),
        ("weekdays", "UTC", "bad schedule window"),
        ("cron(61 * * * *)..cron(0 7 * * *)", "UTC", "bad cron"),
        ("Mon 07:00-07:00", "UTC", "empty"),
    ],
)
def test_bad_schedules(spec: str, tz: str, match: str) -> None:
    with pytest.raises(ScheduleError, match=match):
        parse_schedule(spec, tz)


def test_bad_config() -> None:
    for kw, match in (
        ({"concurrency": 0}, "concurrency"),
        ({"min_workers": 5, "max_workers": 2}, "min workers"),
        ({"offhours_max": 0}, "off-hours"),
    ):
        with pytest.raises(ValueError, match=match):
            cfg(**kw)


# --- properties ----------------------------------------------------------------------------------------------
configs = st.builds(
    lambda conc, lo, span, cooldown, off, cap: Config(
        concurrency=conc,
        min_workers=lo,
        max_workers=max(1, lo + span),
        cooldown=cooldown,
        schedule=OFFICE if off else parse_schedule(""),
        offhours_max=cap,
    ),
    st.integers(1, 32),
    st.integers(0, 10),
    st.integers(0, 20),
    st.sampled_from([0.0, 60.0, 300.0]),
    st.booleans(),
    st.none() | st.integers(1, 10),
)
loads = st.builds(Measurement, st.integers(0, 2000), st.integers(0, 2000), st.integers(0, 4000))
times = st.sampled_from([WEEKDAY, WEEKEND])
states = st.builds(
    State,
    st.none() | st.integers(0, 40),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, loads, st.integers(0, 500), st.integers(0, 500), st.integers(0, 500), states, times)
def test_monotonic_in_load(
    c: Config, base: Measurement, dq: int, dr: int, db: int, s: State, now: float
) -> None:
    more = Measurement(base.queued + dq, base.running + dr, base.broker_depth + db)
    d1, _ = decide(base, c, s, now=now)
    d2, _ = decide(more, c, s, now=now)
    assert (
        d1.target is not None and d2.target is not None and d1.desired is not None and d2.desired is not None
    )
    assert d2.target >= d1.target
    assert d2.desired >= d1.desired


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, loads, states, times, st.none() | st.integers(0, 40))
def test_always_within_bounds(
    c: Config, load: Measurement, s: State, now: float, current: int | None
) -> None:
    d, new = decide(load, c, s, now=now, current=current)
    assert d.desired is not None
    assert d.min <= d.desired <= d.max
    assert new.desired == d.desired
    if d.window == "off-hours":
        assert d.min == 0 and d.max <= c.max_workers
    else:
        assert (d.min, d.max) == (c.min_workers, c.max_workers)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, st.lists(st.none() | loads, min_size=1, max_size=40), times, st.none() | st.integers(0, 40))
def test_zero_only_without_work_and_when_allowed(
    c: Config, seq: list[Measurement | None], now: float, current: int | None
) -> None:
    s = State()
    for i, load in enumerate(seq):
        d, s = decide(load, c, s, now=now + i * 15, current=current)
        if d.desired == 0 and load is not None:
            assert load.queued + load.running == 0 and load.broker_depth == 0
            assert d.min == 0
        if load is None:
            # missing data never moves the count
            assert d.desired == (s.desired)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, st.lists(st.none() | loads, min_size=2, max_size=30), times)
def test_missing_data_never_changes_desired(c: Config, seq: list[Measurement | None], now: float) -> None:
    s = State()
    prev = None
    for i, load in enumerate(seq):
        d, s = decide(load, c, s, now=now + i * 15, current=7)
        if load is None:
            assert d.desired == (prev if prev is not None else 7)
        prev = d.desired


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 16),
    st.integers(0, 200),
    st.lists(st.integers(-60, 60), min_size=50, max_size=200),
    st.sampled_from([60.0, 300.0]),
)
def test_bounded_changes_under_noisy_load(conc: int, level: int, noise: list[int], cooldown: float) -> None:
    """Noise around a level: at most one scale-in per cooldown, and a bounded number of rises between them."""
    c = Config(concurrency=conc, min_workers=0, max_workers=50, cooldown=cooldown)
    s = State()
    interval = 15.0
    downs = ups = 0
    last = None
    for i, n in enumerate(noise):
        d, s = decide(Measurement(max(0, level + n), 0, 0), c, s, now=i * interval)
        if last is not None and d.desired is not None:
            downs += d.desired < last
            ups += d.desired > last
        last = d.desired
    duration = len(noise) * interval
    assert downs <= duration // cooldown + 1
    # Between two scale-ins desired only rises, inside the range of targets the noise can produce:
    # at most `span` rises per segment, and there are downs + 1 segments.
    span = min(50, math.ceil((level + 60) / conc)) - min(50, math.ceil(max(0, level - 60) / conc))
    assert ups <= (downs + 1) * span


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 16), st.integers(10, 200), st.integers(1, 8))
def test_no_flapping_when_load_oscillates_faster_than_cooldown(conc: int, high: int, period: int) -> None:
    """Load alternating between high and 0 more often than the cooldown: after the first scale-out, desired stays."""
    c = Config(concurrency=conc, min_workers=0, max_workers=50, cooldown=300)
    s = State()
    seen = []
    for i in range(120):
        load = high if (i // period) % 2 == 0 else 0
        d, s = decide(Measurement(load, 0, 0), c, s, now=i * 15.0)
        seen.append(d.desired)
    assert len(set(seen)) == 1
