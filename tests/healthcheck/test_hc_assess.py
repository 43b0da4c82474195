"""Pure interpreters: raw probe readings -> component results."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from healthcheck import assess
from healthcheck.model import Status
from platform_common import broker

NOW = 1_800_000_000.0


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def airflow_doc(sched: str | None = "healthy", beat_age: float = 3.0) -> dict[str, object]:
    return {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": sched, "latest_scheduler_heartbeat": _iso(NOW - beat_age)},
        "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
        "dag_processor": {"status": "unhealthy", "latest_dag_processor_heartbeat": _iso(NOW - 400)},
    }


def by_name(results: list) -> dict:
    return {r.name: r for r in results}


def test_airflow_health_maps_each_part() -> None:
    got = by_name(assess.airflow_health(airflow_doc(), assess.AIRFLOW_PARTS, now=NOW, latency_ms=4.0))
    assert set(got) == {
        "airflow_api",
        "airflow_metadatabase",
        "airflow_scheduler",
        "airflow_triggerer",
        "airflow_dag_processor",
    }
    assert got["airflow_api"].status is Status.OK
    assert got["airflow_metadatabase"].status is Status.OK
    assert got["airflow_scheduler"].status is Status.OK
    assert got["airflow_scheduler"].detail == "healthy, heartbeat 3 s ago"
    assert got["airflow_scheduler"].facts["heartbeat_age_s"] == 3.0
    assert got["airflow_triggerer"].status is Status.DOWN
    assert "never started" in got["airflow_triggerer"].detail
    assert got["airflow_dag_processor"].status is Status.DOWN
    assert got["airflow_dag_processor"].detail == "unhealthy, heartbeat 7 min ago"


def test_airflow_health_subset_and_failures() -> None:
    got = by_name(assess.airflow_health(airflow_doc("unhealthy", 45), ["scheduler"], now=NOW, latency_ms=1))
    assert set(got) == {"airflow_api", "airflow_scheduler"}
    assert got["airflow_scheduler"].status is Status.DOWN and "45 s ago" in got["airflow_scheduler"].detail
    for res in assess.airflow_health({}, ["scheduler"], now=NOW, latency_ms=1, http_status=503):
        assert res.status is Status.DOWN and "HTTP 503" in res.detail
    redirect = assess.airflow_health({}, ["scheduler"], now=NOW, latency_ms=1, http_status=302)
    assert redirect[0].detail == "api-server answered HTTP 302 (a redirect: is this path behind a login?)"
    for res in assess.airflow_health(["x"], ["scheduler"], now=NOW, latency_ms=1):
        assert res.status is Status.DOWN
    missing = by_name(
        assess.airflow_health({"metadatabase": {"status": "healthy"}}, ["scheduler"], now=NOW, latency_ms=1)
    )
    assert (
        missing["airflow_scheduler"].status is Status.DOWN
        and "not reported" in missing["airflow_scheduler"].detail
    )


def test_parse_ts() -> None:
    assert (
        assess.parse_ts("2027-01-15T08:00:00+00:00") == dt.datetime(2027, 1, 15, 8, tzinfo=dt.UTC).timestamp()
    )
    assert assess.parse_ts("2027-01-15T08:00:00Z") == assess.parse_ts("2027-01-15T08:00:00")
    assert assess.parse_ts("garbage") is None and assess.parse_ts(None) is None and assess.parse_ts(5) is None


def test_queue_keys_cover_kombu_priorities() -> None:
    keys = broker.queue_keys(["default", "high"], broker.ALL_PRIORITIES)
    assert keys[0] == "default" and "default\x06\x163" in keys and "high\x06\x169" in keys
    assert len(keys) == 20
    assert broker.queue_keys(["q"], [0, 3], "p:") == ["p:q", "p:q\x06\x163"]


def test_redis_broker_sums_priority_lists() -> None:
    lengths = {"default": 2, "default\x06\x163": 5, "other": 1, "other\x06\x166": 4}
    res = assess.redis_broker(lengths, ["default", "other"], 3, now=NOW, latency_ms=1.0)
    assert res.status is Status.OK
    assert res.facts == {"queue_depth": 12, "unacked": 3, "queues": {"default": 7, "other": 5}}
    assert res.detail == "PING ok; queue depth 12 (default=7, other=5); unacked 3"
    backlog = assess.redis_broker(lengths, ["default", "other"], 3, now=NOW, latency_ms=1.0, degraded_at=12)
    # behind a key prefix: the same figures; an unprefixed key of the same name is not the broker's
    prefixed = {f"p:{k}": v for k, v in lengths.items()} | {"default": 100}
    again = assess.redis_broker(prefixed, ["default", "other"], 3, now=NOW, latency_ms=1.0, prefix="p:")
    assert again.facts == res.facts
    assert backlog.status is Status.DEGRADED and "backlog >= 12" in backlog.detail


def test_postgres() -> None:
    assert assess.postgres(1, query_ms=2, connect_ms=3, now=NOW, slow_ms=100).status is Status.OK
    slow = assess.postgres(1, query_ms=200, connect_ms=3, now=NOW, slow_ms=100)
    assert slow.status is Status.DEGRADED and slow.latency_ms == 203
    assert assess.postgres(None, query_ms=2, connect_ms=3, now=NOW, slow_ms=100).status is Status.DOWN


def car(
    sid: str, success_age: float | None, attempt_age: float | None = 1.0, **kw: object
) -> dict[str, object]:
    return {
        "sidecar_id": sid,
        "source": "s3://dags/prod/",
        "dest": "/opt/airflow/dags",
        "last_success": None if success_age is None else NOW - success_age,
        "last_attempt": None if attempt_age is None else NOW - attempt_age,
        "version": kw.get("version", "v7"),
        "commit": kw.get("commit"),
        "last_error": kw.get("last_error"),
        "consecutive_failures": kw.get("failures", 0),
    }


def dagsync(files: list, max_age: float = 300, forget: float = 3600):
    return assess.dagsync(
        files, now=NOW, max_age=max_age, forget_after=forget, latency_ms=1.0, where="/state"
    )


def test_dagsync_fresh_stale_forgotten_missing() -> None:
    ok = dagsync([("a.json", car("a", 10)), ("b.json", car("b", 40))])
    assert ok.status is Status.OK
    assert ok.detail == "2 sidecars; last sync 10 s ago, oldest 40 s ago; version v7"
    assert ok.facts["newest_sync_age_s"] == 10 and ok.facts["oldest_sync_age_s"] == 40

    stale = dagsync(
        [("a.json", car("a", 10)), ("b.json", car("b", 900, failures=4, last_error="AccessDenied"))]
    )
    assert stale.status is Status.DEGRADED
    assert stale.detail.startswith(
        "1 of 2 sidecars older than 5 min: b last success 15 min ago, 4 failures: AccessDenied"
    )

    never = dagsync([("a.json", car("a", None))])
    assert never.status is Status.DEGRADED and "a never synced" in never.detail

    gone = dagsync([("a.json", car("a", 5000, attempt_age=4000)), ("b.json", car("b", 3))])
    assert gone.status is Status.OK and gone.facts["sidecars"] == 1 and gone.facts["forgotten"] == 1
    assert dagsync([("a.json", car("a", 5000, attempt_age=4000))]).status is Status.DOWN
    kept = dagsync([("a.json", car("a", 5000, attempt_age=4000))], forget=0)
    assert kept.status is Status.DEGRADED

    none = dagsync([])
    assert none.status is Status.DOWN and "no live sidecar status files in /state" in none.detail


def test_dagsync_unreadable_files() -> None:
    res = dagsync(
        [("/s/sidecars/a.json", car("a", 3)), ("/s/sidecars/b.json", ValueError("Expecting value"))]
    )
    assert res.status is Status.DEGRADED and "unreadable b.json" in res.detail
    res = dagsync([("/s/sidecars/b.json", {"sidecar_id": "b", "last_success": "yesterday"})])
    assert res.status is Status.DOWN and "last_success is not a number" in res.detail
    res = dagsync([("/s/sidecars/c.json", [1, 2])])
    assert res.status is Status.DOWN and "not a JSON object" in res.detail


ages = st.one_of(st.none(), st.integers(min_value=0, max_value=10_000).map(float))  # exact in float


@settings(deadline=None)  # pure and fast; no flaky deadline on a loaded machine
@given(st.lists(st.tuples(ages, ages), max_size=8), st.integers(1, 5000), st.integers(0, 8000))
def test_dagsync_properties(
    cars: list[tuple[float | None, float | None]], max_age: float, forget: float
) -> None:
    files = [(f"{i}.json", car(f"s{i}", s, a)) for i, (s, a) in enumerate(cars)]
    res = dagsync(files, max_age, forget)

    def seen(s: float | None, a: float | None) -> float | None:
        return a if a is not None else s

    live = [(s, a) for s, a in cars if not (forget > 0 and (seen(s, a) is None or seen(s, a) > forget))]
    assert res.facts["sidecars"] == len(live)
    if not live:
        assert res.status is Status.DOWN
    elif any(s is None or s > max_age for s, _ in live):
        assert res.status is Status.DEGRADED
    else:
        assert res.status is Status.OK
        assert res.facts["newest_sync_age_s"] == min(s for s, _ in live if s is not None)


def test_scaler_decision() -> None:
    doc = {
        "desired": 3,
        "current": 2,
        "queued": 20,
        "running": 4,
        "broker_depth": 21,
        "reason": "scale out",
        "decided_at": NOW - 5,
    }
    res = assess.scaler(doc, now=NOW, max_age=120, latency_ms=1)
    assert res.status is Status.OK
    assert (
        res.detail
        == "decided 5 s ago; desired 3 (current 2); queued 20; running 4; broker_depth 21; reason: scale out"
    )
    assert res.facts["desired"] == 3 and res.facts["current"] == 2
    assert (
        assess.scaler({**doc, "decided_at": NOW - 500}, now=NOW, max_age=120, latency_ms=1).status
        is Status.DEGRADED
    )
    err = assess.scaler({**doc, "error": "redis down"}, now=NOW, max_age=120, latency_ms=1)
    assert err.status is Status.DEGRADED and "last cycle failed: redis down" in err.detail
    assert assess.scaler({}, now=NOW, max_age=120, latency_ms=1).status is Status.DEGRADED
    assert assess.scaler(doc, now=NOW, max_age=120, latency_ms=1, http_status=500).status is Status.DOWN
    early = assess.scaler({"error": "no decision yet"}, now=NOW, max_age=120, latency_ms=1, http_status=503)
    assert early.status is Status.DEGRADED and early.detail == "/decision answered 503: no decision yet"
    assert assess.scaler("x", now=NOW, max_age=120, latency_ms=1).status is Status.DOWN


def test_scaler_detail_is_redacted() -> None:
    doc = {
        "desired": 1,
        "decided_at": NOW,
        "error": "cannot read arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow/db-AbCdEf via postgresql://airflow:pa55w0rd@db:5432/airflow",
    }
    res = assess.scaler(doc, now=NOW, max_age=120, latency_ms=1)
    assert "pa55w0rd" not in res.detail and "airflow/db-AbCdEf" not in res.detail and "***" in res.detail


def svc(name: str, desired: int, running: int, pending: int = 0, status: str = "ACTIVE") -> dict[str, object]:
    return {
        "serviceName": name,
        "status": status,
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": pending,
    }


def test_ecs_service_status_table() -> None:
    S = assess.ecs_service_status
    assert S(svc("w", 0, 0)) is Status.OK
    assert S(svc("w", 2, 2)) is Status.OK
    assert S(svc("w", 2, 3)) is Status.OK  # draining after scale-in
    assert S(svc("w", 3, 1, 2)) is Status.DEGRADED  # the gap is starting
    assert S(svc("w", 3, 0, 3)) is Status.DEGRADED  # scale-out from zero under way
    assert S(svc("w", 3, 1)) is Status.DEGRADED
    assert S(svc("w", 3, 0)) is Status.DOWN
    assert S(svc("w", 3, 3, status="DRAINING")) is Status.DOWN


def test_ecs_component() -> None:
    services = [svc("airflow-worker", 3, 2), svc("airflow-api", 1, 1)]
    failures = [{"arn": "arn:aws:ecs:us-east-1:123456789012:service/c/airflow-gone", "reason": "MISSING"}]
    res = assess.ecs(
        services,
        [],
        ["airflow-api", "airflow-worker"],
        now=NOW,
        latency_ms=1,
        worker_service="airflow-worker",
    )
    assert res.status is Status.DEGRADED
    assert res.detail == "airflow-api 1/1 running; airflow-worker 2/3 running"
    assert res.facts["workers"] == {"desired": 3, "running": 2, "pending": 0}
    gone = assess.ecs(services, failures, ["airflow-api", "airflow-gone"], now=NOW, latency_ms=1)
    assert gone.status is Status.DOWN and "airflow-gone missing" in gone.detail


def test_alarms() -> None:
    assert assess.alarms([], "airflow-", now=NOW, latency_ms=1).status is Status.OK
    res = assess.alarms([f"airflow-a{i}" for i in range(12)], "airflow-", now=NOW, latency_ms=1)
    assert (
        res.status is Status.DEGRADED
        and res.detail.startswith("12 in ALARM: airflow-a0, airflow-a1")
        and "(+2 more)" in res.detail
    )


def test_ago() -> None:
    assert [assess.ago(x) for x in (None, -3, 12.4, 600, 7200, 10 * 86400)] == [
        "never",
        "0 s",
        "12 s",
        "10 min",
        "2 h 0 min",
        "10 d",
    ]


def test_failed_and_error_text_redact() -> None:
    exc = ConnectionError("redis://:topsecret@10.0.0.5:6379/0 refused")
    text = assess.error_text(exc)
    assert "topsecret" not in text and text.startswith("ConnectionError: redis://:***@")
    res = assess.failed(["a", "b"], "x " * 400, 5.0, NOW)
    assert [r.status for r in res] == [Status.DOWN, Status.DOWN] and len(res[0].detail) <= 300
    assert res[1].detail.startswith("unknown, x x") and len(res[1].detail) <= 300
