"""SLO state (pure): error ratios -> burn rates -> within budget / burning / spent. See docs/slo.md.

The spec is the JSON the observability module renders from the same locals as its burn-rate alarms (output
``slo_spec``, passed as ``HEALTHCHECK_SLO_SPEC``; infra/modules/observability/main.tf), so the page and the alarms
read the same metrics with the same windows and factors:

- error ratio over a window = sum(bad metrics) / sum(total metrics), 0 when nothing happened;
- burn rate = error ratio / (1 - objective): 1 spends the budget exactly over the SLO window;
- a pair (long, short, factor) burns when both windows burn faster than ``factor`` (the alarm's condition);
- budget consumed = the burn rate over the whole SLO window; spent at >= 1.

State, worst first: ``spent`` (budget consumed >= 1), ``burning`` (some pair burns), ``within_budget``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import ComponentResult, Status

STATES = ("within_budget", "burning", "spent")
_ID = re.compile(r"^[A-Za-z0-9_.\-/]+$")


class SpecError(ValueError):
    """The SLO spec is not usable; the message says what is wrong, in one line."""


@dataclass(frozen=True)
class MetricRef:
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]

    def key(self) -> str:
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace}|{self.metric}|{dims}"


@dataclass(frozen=True)
class Pair:
    name: str
    long: int  # seconds
    short: int  # seconds
    factor: float


@dataclass(frozen=True)
class Slo:
    name: str
    objective: float  # e.g. 0.99
    pairs: tuple[Pair, ...]
    total: tuple[MetricRef, ...]
    bad: tuple[MetricRef, ...]
    runbook: str = ""
    description: str = ""

    @property
    def budget(self) -> float:
        return 1.0 - self.objective


@dataclass(frozen=True)
class Spec:
    window: int  # the SLO window, seconds (28 days)
    slos: tuple[Slo, ...]

    def windows(self) -> list[int]:
        """Every window the state needs, shortest first."""
        return sorted({self.window} | {w for s in self.slos for p in s.pairs for w in (p.long, p.short)})

    def refs(self) -> list[MetricRef]:
        seen: dict[str, MetricRef] = {}
        for s in self.slos:
            for r in (*s.total, *s.bad):
                seen.setdefault(r.key(), r)
        return list(seen.values())


def _ref(doc: Any, where: str) -> MetricRef:
    if not isinstance(doc, Mapping):
        raise SpecError(f"{where}: a metric must be an object with namespace, metric, dimensions")
    ns, metric, dims = doc.get("namespace"), doc.get("metric"), doc.get("dimensions", {})
    if not isinstance(ns, str) or not ns or not isinstance(metric, str) or not metric:
        raise SpecError(f"{where}: namespace and metric must be non-empty strings")
    if not isinstance(dims, Mapping) or not all(isinstance(v, str) for v in dims.values()):
        raise SpecError(f"{where}: dimensions must map names to strings")
    return MetricRef(ns, metric, tuple(sorted((str(k), v) for k, v in dims.items())))


def parse_spec(text: str) -> Spec:
    """The JSON of the module's ``slo_spec`` output -> Spec; SpecError with one line when it is not usable."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"not JSON: {exc}") from None
    if not isinstance(doc, Mapping):
        raise SpecError("must be a JSON object with window_days, pairs and slos")
    try:
        window = int(float(doc["window_days"]) * 86400)
        pairs = {
            str(p["name"]): Pair(str(p["name"]), int(p["long"]), int(p["short"]), float(p["burn_rate"]))
            for p in doc["pairs"]
        }
        raw_slos = list(doc["slos"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(
            f"needs window_days, pairs [{{name, long, short, burn_rate}}] and slos: {exc!r}"
        ) from None
    if window <= 0 or any(p.long <= 0 or p.short <= 0 or p.factor <= 0 for p in pairs.values()):
        raise SpecError("windows and burn rates must be positive")
    slos = []
    for i, s in enumerate(raw_slos):
        if not isinstance(s, Mapping) or not isinstance(s.get("name"), str) or not _ID.match(s["name"]):
            raise SpecError(f"slos[{i}]: needs a name of letters, digits, _ . - /")
        name = s["name"]
        try:
            objective = float(s["objective"])
        except (KeyError, TypeError, ValueError):
            raise SpecError(f"{name}: objective must be a number like 0.99") from None
        if not 0 < objective < 1:
            raise SpecError(f"{name}: objective must be between 0 and 1 (exclusive), got {objective}")
        unknown = [p for p in s.get("pairs", []) if p not in pairs]
        if unknown:
            raise SpecError(f"{name}: unknown pair {', '.join(map(str, unknown))}")
        total = tuple(_ref(r, f"{name}.total") for r in s.get("total", []))
        bad = tuple(_ref(r, f"{name}.bad") for r in s.get("bad", []))
        if not total or not bad:
            raise SpecError(f"{name}: needs at least one total and one bad metric")
        slos.append(
            Slo(
                name,
                objective,
                tuple(pairs[p] for p in s.get("pairs", [])),
                total,
                bad,
                str(s.get("runbook", "")),
                str(s.get("description", "")),
            )
        )
    return Spec(window, tuple(slos))


# --- arithmetic ------------------------------------------------------------------------------------------------
def error_ratio(bad: float, total: float) -> float:
    """bad / total, clipped to [0, 1]; 0 when nothing happened (no traffic spends no budget)."""
    if not total > 0 or not math.isfinite(total) or not math.isfinite(bad):
        return 0.0
    return min(1.0, max(0.0, bad / total))


def burn_rate(bad: float, total: float, objective: float) -> float:
    """How many times faster than "exactly the budget over the SLO window" errors arrive."""
    return error_ratio(bad, total) / (1.0 - objective)


@dataclass(frozen=True)
class SloState:
    name: str
    state: str  # one of STATES
    objective: float
    budget_remaining: float  # 1 - consumed; negative when overspent
    burn_rates: dict[str, float]  # window label -> burn rate
    burning_pairs: tuple[str, ...]
    events: float  # total events over the SLO window
    runbook: str

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "objective": self.objective,
            "budget_remaining": round(self.budget_remaining, 4),
            "burn_rates": {k: round(v, 3) for k, v in self.burn_rates.items()},
            "burning": list(self.burning_pairs),
            "events": self.events,
            "runbook": self.runbook,
        }


def label(seconds: int) -> str:
    """300 -> "5m", 3600 -> "1h", 2419200 -> "28d"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def evaluate(slo: Slo, sums: Mapping[int, Mapping[str, float]], window: int) -> SloState:
    """``sums[window_seconds][metric key]`` = Sum of that metric over the window (missing = 0)."""

    def totals(w: int) -> tuple[float, float]:
        got = sums.get(w, {})
        return sum(got.get(r.key(), 0.0) for r in slo.bad), sum(got.get(r.key(), 0.0) for r in slo.total)

    rates = {}
    for w in sorted({window} | {x for p in slo.pairs for x in (p.long, p.short)}):
        bad, total = totals(w)
        rates[w] = burn_rate(bad, total, slo.objective)
    burning = tuple(p.name for p in slo.pairs if rates[p.long] > p.factor and rates[p.short] > p.factor)
    bad, total = totals(window)
    consumed = rates[window]
    if total > 0 and consumed >= 1.0:
        state = "spent"
    elif burning:
        state = "burning"
    else:
        state = "within_budget"
    return SloState(
        slo.name,
        state,
        slo.objective,
        1.0 - consumed,
        {label(w): r for w, r in rates.items()},
        burning,
        total,
        slo.runbook,
    )


def component(states: list[SloState], *, now: float, latency_ms: float) -> ComponentResult:
    """The ``slo`` component: degraded while any SLO burns; a spent budget alone is shown, not alarming (it stays
    spent for the rest of the window)."""
    facts: dict[str, Any] = {"slos": {s.name: s.to_json() for s in states}}
    if not states:
        return ComponentResult("slo", Status.OK, latency_ms, "no SLOs configured", now, facts)
    burning = [s for s in states if s.burning_pairs]
    spent = [s.name for s in states if s.state == "spent"]
    parts = [
        f"{s.name} burning ({', '.join(s.burning_pairs)}; {max(s.burn_rates.values()):.1f}x)" for s in burning
    ]
    if spent:
        parts.append(f"budget spent: {', '.join(spent)}")
    if not parts:
        parts.append(f"{len(states)} SLOs within budget")
    return ComponentResult(
        "slo", Status.DEGRADED if burning else Status.OK, latency_ms, "; ".join(parts), now, facts
    )
