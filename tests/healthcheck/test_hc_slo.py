"""SLO state (docs/slo.md): the burn-rate arithmetic and the state /status shows, as examples and hypothesis
properties; the SLIs the aggregator publishes; and the slo probe reading real metrics back from the moto server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthcheck import page, publish
from healthcheck.aggregate import Rule
from healthcheck.assess import airflow_health, dagsync
from healthcheck.config import Settings
from healthcheck.model import Snapshot, Status
from healthcheck.probes import Probes
from healthcheck.runner import Runner
from healthcheck.slo import (
    Pair,
    SpecError,
    burn_rate,
    component,
    error_ratio,
    evaluate,
    label,
    parse_spec,
)
from tests.support.healthcheck import PROBES_OFF

OFF = PROBES_OFF
H, M5, M30, H6, D28 = 3600, 300, 1800, 21600, 28 * 86400
FAST, SLOW = Pair("fast", H, M5, 14.4), Pair("slow", H6, M30, 6.0)


def spec_doc(ns: str, objective: float = 0.99, lb: str = "app/x/1") -> dict[str, Any]:
    """The shape the observability module's slo_spec output renders (infra/modules/observability/main.tf)."""
    return {
        "window_days": 28,
        "pairs": [
            {"name": "fast", "long": H, "short": M5, "burn_rate": 14.4},
            {"name": "slow", "long": H6, "short": M30, "burn_rate": 6},
        ],
        "slos": [
            {
                "name": "api_availability",
                "objective": objective,
                "pairs": ["fast", "slow"],
                "runbook": "docs/runbooks/slo-api-availability.md",
                "total": [{"namespace": ns, "metric": "RequestCount", "dimensions": {"LoadBalancer": lb}}],
                "bad": [
                    {"namespace": ns, "metric": "HTTPCode_ELB_5XX_Count", "dimensions": {"LoadBalancer": lb}},
                    {"namespace": ns, "metric": "HTTPCode_Target_5XX_Count", "dimensions": {"LoadBalancer": lb}},
                ],
            }
        ],
    }  # fmt: skip


SLO = parse_spec(json.dumps(spec_doc("AWS/ApplicationELB"))).slos[0]
TOTAL, BAD = SLO.total[0].key(), SLO.bad[0].key()


def sums(per_window: dict[int, tuple[float, float]]) -> dict[int, dict[str, float]]:
    """{window: (bad, total)} -> the probe's sums."""
    return {w: {BAD: b, TOTAL: t} for w, (b, t) in per_window.items()}


# --- arithmetic: examples ---------------------------------------------------------------------------------------
def test_burn_rate_examples() -> None:
    assert burn_rate(1, 100, 0.99) == pytest.approx(1.0)  # exactly the budget
    assert burn_rate(144, 1000, 0.99) == pytest.approx(14.4)
    assert burn_rate(0, 0, 0.99) == 0.0  # no traffic spends nothing
    assert error_ratio(5, 2) == 1.0  # clipped: more bad than total (metrics from different sources)
    assert label(300) == "5m" and label(3600) == "1h" and label(D28) == "28d" and label(90) == "90s"


def test_states() -> None:
    quiet = {w: (0.0, 1000.0) for w in (M5, M30, H, H6, D28)}
    assert evaluate(SLO, sums(quiet), D28).state == "within_budget"
    fast = quiet | {M5: (200, 1000), H: (150, 1000)}  # 20x and 15x > 14.4
    st_fast = evaluate(SLO, sums(fast), D28)
    assert st_fast.state == "burning" and st_fast.burning_pairs == ("fast",)
    short_only = quiet | {M5: (500, 1000)}  # a blip: the long window is calm
    assert evaluate(SLO, sums(short_only), D28).state == "within_budget"
    spent = quiet | {D28: (11, 1000)}  # 1.1 % bad over 28 d against a 1 % budget
    st_spent = evaluate(SLO, sums(spent), D28)
    assert st_spent.state == "spent" and st_spent.budget_remaining == pytest.approx(-0.1)
    half = evaluate(SLO, sums(quiet | {D28: (5, 1000)}), D28)
    assert half.state == "within_budget" and half.budget_remaining == pytest.approx(0.5)
    assert evaluate(SLO, {}, D28).budget_remaining == 1.0  # no data at all


def test_component_degrades_only_while_burning() -> None:
    calm = evaluate(SLO, sums({D28: (0, 10)}), D28)
    spent = evaluate(SLO, sums({D28: (10, 10)}), D28)
    burning = evaluate(SLO, sums({D28: (0, 10), M5: (10, 10), H: (10, 10), H6: (10, 10), M30: (10, 10)}), D28)
    assert component([calm], now=0, latency_ms=1).status is Status.OK
    c = component([spent], now=0, latency_ms=1)
    assert c.status is Status.OK and "budget spent: api_availability" in c.detail
    c = component([burning], now=0, latency_ms=1)
    assert c.status is Status.DEGRADED and "api_availability burning (fast, slow" in c.detail
    assert component([], now=0, latency_ms=1).detail == "no SLOs configured"


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ("nope", "not JSON"),
        ("[]", "JSON object"),
        ('{"window_days": 28, "pairs": [], "slos": [{"name": "x", "objective": 1.5}]}', "between 0 and 1"),
        ('{"window_days": 28, "pairs": [], "slos": [{"name": "x", "objective": 0.9, "pairs": ["f"]}]}', "unknown pair f"),
        ('{"window_days": 28, "pairs": [], "slos": [{"name": "x", "objective": 0.9}]}', "at least one total"),
        ('{"pairs": [], "slos": []}', "needs window_days"),
    ],
)  # fmt: skip
def test_bad_specs_are_refused_with_one_line(doc: str, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        parse_spec(doc)
    with pytest.raises(ValueError, match="HEALTHCHECK_SLO_SPEC"):
        Settings(**{**OFF, "slo_enabled": True, "slo_spec": doc})


# --- arithmetic: properties -------------------------------------------------------------------------------------
counts = st.floats(0, 1e6, allow_nan=False)
objectives = st.sampled_from([0.9, 0.95, 0.99, 0.995, 0.999])


@settings(max_examples=300, deadline=None)
@given(bad=counts, extra=counts, total=counts, objective=objectives)
def test_burn_rate_is_monotonic_bounded_and_linear(
    bad: float, extra: float, total: float, objective: float
) -> None:
    r = burn_rate(bad, total, objective)
    assert 0 <= r <= 1 / (1 - objective) + 1e-9
    assert burn_rate(bad + extra, total, objective) >= r - 1e-12  # more errors never burn slower
    if total > 0 and bad <= total:
        assert r * (1 - objective) * total == pytest.approx(bad, rel=1e-9, abs=1e-6)


window_counts = st.tuples(counts, counts).map(lambda bt: (min(bt), max(bt)))  # bad <= total


@settings(max_examples=300, deadline=None)
@given(per=st.fixed_dictionaries({w: window_counts for w in (M5, M30, H, H6, D28)}), more=counts)
def test_state_properties(per: dict[int, tuple[float, float]], more: float) -> None:
    state = evaluate(SLO, sums(per), D28)
    order = ("within_budget", "burning", "spent")
    assert state.state in order
    assert (state.state == "spent") == (per[D28][1] > 0 and state.budget_remaining <= 0)
    if state.state == "within_budget":
        assert not state.burning_pairs
    for name in state.burning_pairs:  # a pair burns only when both its windows exceed the factor
        pair = FAST if name == "fast" else SLOW
        assert (
            state.burn_rates[label(pair.long)] > pair.factor
            and state.burn_rates[label(pair.short)] > pair.factor
        )
    # more bad events in every window (same totals) never make the state better
    worse = {w: (min(t, b + more), t) for w, (b, t) in per.items()}
    assert order.index(evaluate(SLO, sums(worse), D28).state) >= order.index(state.state)


# --- the SLIs the aggregator publishes ----------------------------------------------------------------------------
def test_publishes_freshness_and_scheduler_slis_per_env() -> None:
    now = time.time()
    sync = dagsync(
        [("a.json", {"sidecar_id": "task-a", "last_success": now - 30, "last_attempt": now}),
         ("b.json", {"sidecar_id": "task-b", "last_success": now - 900, "last_attempt": now})],
        now=now, max_age=300, forget_after=3600, latency_ms=1, where="x",
    )  # fmt: skip
    sched = airflow_health(
        {"scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2026-01-01T00:00:00+00:00"}},
        ["scheduler"], now=now, latency_ms=1,
    )  # fmt: skip
    comps = {c.name: c for c in [sync, *sched]}
    data = publish.metric_data(Snapshot(Status.DEGRADED, now, comps), "dev")
    got = {
        (d["MetricName"], tuple(sorted((x["Name"], x["Value"]) for x in d["Dimensions"]))): d["Value"]
        for d in data
    }
    env = (("Env", "dev"),)
    assert got[("DagSyncAge", (("Env", "dev"), ("Sidecar", "task-a")))] == pytest.approx(30, abs=1)
    assert got[("DagSyncAge", (("Env", "dev"), ("Sidecar", "task-b")))] == pytest.approx(900, abs=1)
    assert got[("DagSyncWorstAge", env)] == pytest.approx(900, abs=1)  # the worst sidecar of the env
    assert got[("DagFreshnessSamples", env)] == 1 and got[("DagFreshnessBad", env)] == 1
    assert got[("SchedulerSamples", env)] == 1 and got[("SchedulerBad", env)] == 0
    assert got[("SchedulerHeartbeatAge", env)] > 0


# --- against the moto server ------------------------------------------------------------------------------------
def round_of(**kw: Any) -> Snapshot:
    s = Settings(**{**OFF, **kw})

    async def main() -> Snapshot:
        async with Probes(s) as probes:
            return await Runner(probes.probes(), s.rule()).run_once()

    return asyncio.run(main())


def test_slo_probe_reads_the_metrics_and_status_shows_the_state(aws_env: str) -> None:
    ns = f"HcSlo/{uuid.uuid4().hex[:6]}"
    cw = boto3.client("cloudwatch")
    lb = f"app/{uuid.uuid4().hex[:6]}/1"  # unique: moto ignores the namespace when dimensions are given
    dims = [{"Name": "LoadBalancer", "Value": lb}]
    now = time.time()
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "RequestCount", "Dimensions": dims, "Value": 1000, "Timestamp": now - 60},
        {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Value": 150, "Timestamp": now - 60},
        {"MetricName": "HTTPCode_ELB_5XX_Count", "Dimensions": dims, "Value": 50, "Timestamp": now - 120},
        {"MetricName": "RequestCount", "Dimensions": [{"Name": "LoadBalancer", "Value": "other"}], "Value": 1e6,
         "Timestamp": now - 60},  # another load balancer: not counted
    ])  # fmt: skip
    snap = round_of(slo_enabled=True, slo_spec=json.dumps(spec_doc(ns, lb=lb)))
    comp = snap.components["slo"]
    assert comp.status is Status.DEGRADED, (
        comp.detail
    )  # 20 % bad in every window: burning, and the budget spent
    doc = snap.to_json()["slos"]["api_availability"]
    assert doc["state"] == "spent" and doc["burning"] == ["fast", "slow"]
    assert doc["burn_rates"]["5m"] == pytest.approx(20.0) and doc["burn_rates"]["28d"] == pytest.approx(20.0)
    assert doc["events"] == 1000 and doc["runbook"] == "docs/runbooks/slo-api-availability.md"
    html = page.render(snap, Rule(), time.time(), 10)
    assert 'data-slo="api_availability" data-state="spent"' in html

    calm = round_of(slo_enabled=True, slo_spec=json.dumps(spec_doc(ns, objective=0.5, lb=lb)))  # 20 % of 50 %
    doc = calm.to_json()["slos"]["api_availability"]
    assert doc["state"] == "within_budget" and doc["budget_remaining"] == pytest.approx(0.6)
    assert calm.components["slo"].status is Status.OK


def test_slo_probe_unreachable_is_down(aws_env: str, monkeypatch: Any) -> None:
    from devtools.servers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    snap = round_of(slo_enabled=True, slo_spec=json.dumps(spec_doc("X")), slo_timeout=2)
    assert snap.components["slo"].status is Status.DOWN
    assert "slos" not in snap.to_json()


def test_status_json_and_page_show_the_slo_state(aws_env: str, live_app: Any) -> None:
    """`healthcheck serve` with the slo probe: /status (the cached fast path) carries `slos`, the page a table."""
    import httpx

    from tests.support.healthcheck import hc_env

    ns, lb = f"HcSlo/{uuid.uuid4().hex[:6]}", f"app/{uuid.uuid4().hex[:6]}/1"  # moto ignores the namespace
    boto3.client("cloudwatch").put_metric_data(Namespace=ns, MetricData=[  # when dimensions are given
        {"MetricName": "RequestCount", "Dimensions": [{"Name": "LoadBalancer", "Value": lb}], "Value": 100},
    ])  # fmt: skip
    app = live_app(hc_env(slo_enabled=True, slo_spec=json.dumps(spec_doc(ns, lb=lb))))
    doc = httpx.get(f"{app.url}/status", timeout=30).json()
    assert doc["slos"]["api_availability"]["state"] == "within_budget", doc
    assert doc["slos"]["api_availability"]["events"] == 100
    assert doc["components"]["slo"]["status"] == "ok"
    page_html = httpx.get(f"{app.url}/", timeout=30).text
    assert 'data-slo="api_availability" data-state="within_budget"' in page_html


def test_a_spent_budget_is_shown_but_never_degrades_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the SLO component is informational: after a recovered incident /status is ok again, while the
    SLO section still says the budget is spent (docs/slo.md)."""
    from healthcheck.aggregate import Role, overall
    from healthcheck.config import Settings
    from healthcheck.model import Status

    for key in [k for k in __import__("os").environ if k.startswith("HEALTHCHECK_")]:
        monkeypatch.delenv(key)
    rule = Settings().rule()
    assert rule.role_of("slo") is Role.INFO
    assert overall({"airflow_scheduler": Status.OK, "slo": Status.DEGRADED}, rule) is Status.OK
    assert overall({"airflow_scheduler": Status.DOWN, "slo": Status.DEGRADED}, rule) is Status.DOWN
