"""The SLIs the scaler measures (docs/slo.md): oldest queued age, queued -> start per queue (counted once, late above
the threshold, p50/p95 over the window) from the real Airflow schema in the same one query, and the pure scale-up
tracker (examples and hypothesis properties)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaler.cloudwatch import metric_data
from scaler.measure import TaskInstanceCounts
from scaler.sli import ScaleUpEvent, ScaleUpState, track_scale_up
from tests.support.scaler import AirflowRows


def add_ti(
    rows: AirflowRows, state: str, *, queued_ago: float, started_ago: float | None, queue: str
) -> None:
    """One task instance queued `queued_ago` s ago (and started `started_ago` s ago), by the DB's clock."""
    rows.n += 1
    rows.conn.execute(
        "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, state, try_number, pool, pool_slots,"
        " queue, priority_weight, operator, dag_version_id, queued_dttm, start_date)"
        " VALUES (%s, %s, %s, %s, -1, %s, 1, 'default_pool', 1, %s, 1, 'BashOperator', %s,"
        " now() - make_interval(secs => %s),"
        " CASE WHEN %s::float8 IS NULL THEN NULL ELSE now() - make_interval(secs => %s::float8) END)",
        (uuid.uuid4(), f"t{rows.n}", rows.dag_id, rows.run_id, state, queue, rows.version_id, queued_ago,
         started_ago, started_ago),
    )  # fmt: skip


# --- task_instance: one query per cycle ---------------------------------------------------------------------------
@pytest.mark.airflow
def test_oldest_queued_age_per_queue(rows: AirflowRows, airflow_db_url: str) -> None:
    add_ti(rows, "queued", queued_ago=40, started_ago=None, queue="default")
    add_ti(rows, "queued", queued_ago=400, started_ago=None, queue="default")
    add_ti(rows, "queued", queued_ago=90, started_ago=None, queue="gpu")
    add_ti(rows, "queued", queued_ago=9000, started_ago=None, queue="other")  # not a configured queue
    add_ti(rows, "running", queued_ago=5000, started_ago=4000, queue="default")  # running: not waiting
    src = TaskInstanceCounts(airflow_db_url, ["default", "gpu"])
    counts = src.read()
    assert counts.queued == 3 and counts.running == 1
    assert 399 < counts.oldest_queued_age["default"] < 430
    assert 89 < counts.oldest_queued_age["gpu"] < 120
    assert counts.oldest_age == counts.oldest_queued_age["default"]
    assert src.queries == 1
    rows.clear()
    assert src.read().oldest_age == 0.0  # nothing queued: 0, not missing
    src.close()


@pytest.mark.airflow
def test_starts_are_counted_once_late_above_threshold_with_percentiles(
    rows: AirflowRows, airflow_db_url: str
) -> None:
    src = TaskInstanceCounts(airflow_db_url, ["default", "gpu"], late_after=120, window=300)
    first = src.read()
    assert first.started == 0 and first.watermark is not None  # no baseline yet: nothing counted
    src.watermark = first.watermark - 3600  # as if the previous cycle had run an hour ago
    for latency in (10, 20, 30, 40):  # on time
        add_ti(rows, "success", queued_ago=60 + latency, started_ago=60, queue="default")
    add_ti(rows, "running", queued_ago=260, started_ago=60, queue="default")  # 200 s: late
    add_ti(rows, "failed", queued_ago=100, started_ago=30, queue="gpu")  # 70 s: on time
    add_ti(rows, "success", queued_ago=5000, started_ago=4000, queue="default")  # before the window
    add_ti(rows, "success", queued_ago=10, started_ago=1, queue="default")  # inside the 5 s lag: next cycle
    add_ti(rows, "running", queued_ago=10, started_ago=20, queue="default")  # resumed after deferral: ignored
    counts = src.read()
    assert src.queries == 2
    default, gpu = counts.starts["default"], counts.starts["gpu"]
    assert (default.started, default.late) == (5, 1)
    assert (gpu.started, gpu.late) == (1, 0)
    assert (counts.started, counts.late) == (6, 1)
    assert default.p50 is not None and default.p95 is not None and gpu.p50 is not None
    # percentile_cont over 10, 20, 30, 40, 200 and the 9 s one inside the lag (in the window, not yet counted)
    assert 14 < default.p50 < 26 and 150 < default.p95 < 200, (default.p50, default.p95)
    assert 69 < gpu.p50 < 72
    again = src.read()  # the watermark moved: nothing counted twice
    assert again.started == 0 and again.late == 0
    assert again.starts["default"].p95 is not None  # the window still has them
    src.close()


def test_per_queue_figures_carry_the_queue_dimension() -> None:
    data = metric_data(
        {"OldestQueuedAge": 5.0, "TasksStarted": 2, "ScaleUpSeconds": None},
        "dev",
        "w",
        0.0,
        {"gpu": {"TaskStartLatencyP95": 3.0, "TaskStartLatencyP50": None}},
    )
    got = {
        (d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"]), d["Unit"]) for d in data
    }
    assert got == {
        ("OldestQueuedAge", (("env", "dev"), ("service", "w")), "Seconds"),
        ("TasksStarted", (("env", "dev"), ("service", "w")), "Count"),
        ("TaskStartLatencyP95", (("env", "dev"), ("service", "w"), ("queue", "gpu")), "Seconds"),
    }


# --- the scale-up tracker (pure) ----------------------------------------------------------------------------
def step(state: ScaleUpState, now: float, queued: int, running: int, workers: int | None, age: float = 0.0,
         late_after: float = 180.0) -> tuple[ScaleUpState, ScaleUpEvent]:  # fmt: skip
    return track_scale_up(
        state, now=now, queued=queued, running=running, workers=workers, oldest_queued_age=age,
        late_after=late_after,
    )  # fmt: skip


def test_scale_up_from_zero_is_timed_from_the_oldest_queued_task() -> None:
    s, e = step(ScaleUpState(), 1000, queued=3, running=0, workers=0, age=10)
    assert s.waiting_since == 990 and e == ScaleUpEvent()
    s, e = step(s, 1015, queued=3, running=0, workers=1)  # scaled out, task not running yet
    assert e == ScaleUpEvent()
    s, e = step(s, 1060, queued=2, running=1, workers=1)
    assert e == ScaleUpEvent(1, 0, 70.0) and s.waiting_since is None


def test_a_scale_up_that_never_happens_is_counted_late_once() -> None:
    s, _ = step(ScaleUpState(), 0, queued=1, running=0, workers=0)
    s, e = step(s, 100, queued=1, running=0, workers=1)
    assert e.events == 0
    s, e = step(s, 200, queued=1, running=0, workers=1)
    assert e == ScaleUpEvent(1, 1) and s.counted
    s, e = step(s, 300, queued=1, running=0, workers=1)
    assert e == ScaleUpEvent()
    s, e = step(s, 400, queued=0, running=1, workers=1)
    assert e == ScaleUpEvent(0, 0, 400.0)  # the time is still reported, the event not counted twice


def test_warm_workers_and_unknown_workers_start_no_wait() -> None:
    s, e = step(ScaleUpState(), 0, queued=5, running=0, workers=2)
    assert s.waiting_since is None and s.warm_at == 0 and e == ScaleUpEvent()
    s, e = step(s, 15, queued=5, running=0, workers=None)
    assert s.waiting_since is None and e == ScaleUpEvent()
    # workers gone at 30; the oldest task was queued long before: the wait starts at the last warm cycle
    s, _ = step(s, 30, queued=5, running=0, workers=0, age=1000)
    assert s.waiting_since == 0


def test_work_that_vanishes_ends_the_wait_without_an_event() -> None:
    s, _ = step(ScaleUpState(), 0, queued=1, running=0, workers=0)
    s, e = step(s, 30, queued=0, running=0, workers=1)
    assert s.waiting_since is None and e == ScaleUpEvent()


cycle = st.tuples(
    st.integers(0, 5), st.integers(0, 3), st.one_of(st.none(), st.integers(0, 3)), st.floats(0, 5000)
)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.lists(cycle, min_size=1, max_size=40),
    gaps=st.lists(st.floats(1, 120), min_size=40, max_size=40),
    late_after=st.floats(1, 600),
)
def test_scale_up_properties(
    seq: list[tuple[int, int, int | None, float]], gaps: list[float], late_after: float
) -> None:
    """Each wait is counted at most once; late never exceeds events; a completed wait reports a non-negative
    time that is late exactly when it was counted late; no time is reported without a wait."""
    s, now = ScaleUpState(), 1_000_000.0
    for (queued, running, workers, age), gap in zip(seq, gaps, strict=False):
        now += gap
        before = s
        s, e = step(s, now, queued, running, workers, age, late_after)
        assert 0 <= e.late <= e.events <= 1
        if before.counted and s.waiting_since is not None:
            assert e.events == 0
        if e.seconds is not None:
            assert before.waiting_since is not None and e.seconds >= 0
            assert e.late == (1 if not before.counted and e.seconds > late_after else 0)
        if s.waiting_since is not None:
            assert s.waiting_since <= now
        if e.events and s.waiting_since is not None:
            assert e.late == 1 and s.counted  # an open wait is only ever counted as late
