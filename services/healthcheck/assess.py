"""Pure interpreters: what one probe read -> component results. No I/O here, so every branch is unit-tested.

Thresholds and their reasons: docs/adr/0007-health-aggregation.md.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from platform_common import broker
from platform_common.redact import redact, redact_text
from platform_common.sidecar_status import SidecarStatus

from .model import ComponentResult, Status, worst

AIRFLOW_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def ago(seconds: float | None) -> str:
    """``12.3`` -> ``"12 s"``, ``4000`` -> ``"1 h 6 min"``; None -> ``"never"``."""
    if seconds is None or math.isnan(seconds):
        return "never"
    s = max(0.0, seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{s / 86400:.0f} d"


def _clean(text: str, limit: int = 300) -> str:
    text = redact_text(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failed(names: Sequence[str], detail: str, latency_ms: float, checked_at: float) -> list[ComponentResult]:
    """Every component of a probe that could not run: down, with the reason.

    The first name is the probe's own target; the others (e.g. the scheduler behind the api-server) are unknown,
    which counts as down (docs/adr/0007-health-aggregation.md).
    """
    reason = _clean(detail)
    return [
        ComponentResult(
            n, Status.DOWN, latency_ms, reason if i == 0 else _clean(f"unknown, {detail}"), checked_at
        )
        for i, n in enumerate(names)
    ]


def error_text(exc: BaseException) -> str:
    msg = str(exc).strip()
    return _clean(f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__)


# --- Airflow api-server ------------------------------------------------------------------------------------
def parse_ts(value: Any) -> float | None:
    """ISO 8601 (as Airflow writes heartbeats) -> unix seconds; None when absent or unparseable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def airflow_health(
    doc: Any, parts: Sequence[str], *, now: float, latency_ms: float, http_status: int = 200
) -> list[ComponentResult]:
    """``GET /api/v2/monitor/health`` -> ``airflow_api`` plus ``airflow_<part>`` for each wanted part."""
    names = ["airflow_api", *(f"airflow_{p}" for p in parts)]
    if http_status != 200:
        hint = " (a redirect: is this path behind a login?)" if 300 <= http_status < 400 else ""
        return failed(names, f"api-server answered HTTP {http_status}{hint}", latency_ms, now)
    if not isinstance(doc, Mapping):
        return failed(names, "api-server health is not a JSON object", latency_ms, now)
    out = [ComponentResult("airflow_api", Status.OK, latency_ms, "api-server answers", now)]
    for part in parts:
        entry = doc.get(part)
        name = f"airflow_{part}"
        if not isinstance(entry, Mapping):
            out.append(
                ComponentResult(name, Status.DOWN, latency_ms, f"{part} not reported by the api-server", now)
            )
            continue
        beat = parse_ts(entry.get(f"latest_{part}_heartbeat"))
        age = None if beat is None else now - beat
        facts = {"heartbeat_age_s": age} if part != "metadatabase" else {}
        hb = (
            ""
            if part == "metadatabase"
            else f", heartbeat {ago(age)} ago"
            if age is not None
            else ", no heartbeat"
        )
        state = entry.get("status")
        if state == "healthy":
            out.append(ComponentResult(name, Status.OK, latency_ms, f"healthy{hb}", now, facts))
        elif state is None:
            out.append(
                ComponentResult(name, Status.DOWN, latency_ms, f"never started (no {part} job)", now, facts)
            )
        else:
            out.append(ComponentResult(name, Status.DOWN, latency_ms, _clean(f"{state}{hb}"), now, facts))
    return out


# --- Redis / Celery broker (key layout: services/platform_common/broker.py) -------------------------------
def redis_broker(
    lengths: Mapping[str, int],
    queues: Sequence[str],
    unacked: int,
    *,
    now: float,
    latency_ms: float,
    degraded_at: int | None = None,
    prefix: str = "",
) -> ComponentResult:
    """``lengths``: LLEN of every key of ``broker.queue_keys(queues, ..., prefix)``; ``unacked``: HLEN."""
    per_queue = broker.depth_per_queue(lengths, queues, prefix)
    depth = sum(per_queue.values())
    facts = {"queue_depth": depth, "unacked": unacked, "queues": per_queue}
    listing = ", ".join(f"{q}={n}" for q, n in per_queue.items())
    detail = f"PING ok; queue depth {depth} ({listing}); unacked {unacked}"
    if degraded_at is not None and depth >= degraded_at:
        return ComponentResult(
            "redis", Status.DEGRADED, latency_ms, f"{detail}; backlog >= {degraded_at}", now, facts
        )
    return ComponentResult("redis", Status.OK, latency_ms, detail, now, facts)


# --- Postgres ----------------------------------------------------------------------------------------------
def postgres(
    value: Any, *, query_ms: float, connect_ms: float, now: float, slow_ms: float
) -> ComponentResult:
    total = query_ms + connect_ms
    facts = {"query_ms": query_ms, "connect_ms": connect_ms}
    if value != 1:
        return ComponentResult("postgres", Status.DOWN, total, f"SELECT 1 returned {value!r}", now, facts)
    detail = f"SELECT 1 in {query_ms:.1f} ms (connect {connect_ms:.1f} ms)"
    if query_ms > slow_ms:
        return ComponentResult(
            "postgres", Status.DEGRADED, total, f"{detail}; slower than {slow_ms:g} ms", now, facts
        )
    return ComponentResult("postgres", Status.OK, total, detail, now, facts)


# --- DAG sync sidecars -------------------------------------------------------------------------------------
def parse_sidecar(doc: Any) -> SidecarStatus:
    """One ``<state>/sidecars/<id>.json`` (schema: services/platform_common/sidecar_status.py). ValueError when
    malformed."""
    return SidecarStatus.from_json(doc)


def dagsync(
    files: Sequence[tuple[str, Any]],
    *,
    now: float,
    max_age: float,
    forget_after: float,
    latency_ms: float,
    where: str,
) -> ComponentResult:
    """``files``: (path, parsed JSON or an Exception). Any live sidecar older than ``max_age`` -> degraded.

    A sidecar that has not even attempted a sync for ``forget_after`` seconds (0 = never forget) is taken as gone
    (its ECS task stopped) and left out; no live sidecar at all -> down.
    """
    live: list[SidecarStatus] = []
    bad: list[str] = []
    forgotten = 0
    for path, doc in files:
        try:
            if isinstance(doc, BaseException):
                raise ValueError(error_text(doc))
            car = parse_sidecar(doc)
        except ValueError as exc:
            bad.append(f"{path.rsplit('/', 1)[-1]}: {exc}")
            continue
        seen = car.last_attempt if car.last_attempt is not None else car.last_success
        if forget_after > 0 and (seen is None or now - seen > forget_after):
            forgotten += 1
            continue
        live.append(car)
    ages = [None if c.last_success is None else now - c.last_success for c in live]
    known = [a for a in ages if a is not None]
    facts: dict[str, Any] = {
        "sidecars": len(live),
        "newest_sync_age_s": min(known) if known else None,
        "oldest_sync_age_s": None if not live else (max(known) if len(known) == len(ages) else None),
        "forgotten": forgotten,
        "ages": {c.sidecar_id: a for c, a in zip(live, ages, strict=True)},  # per sidecar, for the SLI
    }
    if not live:
        why = f"no live sidecar status files in {where}"
        if bad:
            why += f"; unreadable: {'; '.join(bad)}"
        return ComponentResult("dagsync", Status.DOWN, latency_ms, _clean(why), now, facts)
    stale = [(c, a) for c, a in zip(live, ages, strict=True) if a is None or a > max_age]
    facts["stale"] = len(stale)
    versions = sorted({v for c in live if (v := c.shown_version)})
    ver = f"; version {', '.join(versions)}" if versions else ""
    problems = []
    for car, age in stale:
        why = (
            f"{car.sidecar_id} last success {ago(age)} ago"
            if age is not None
            else f"{car.sidecar_id} never synced"
        )
        if car.consecutive_failures:
            why += f", {car.consecutive_failures} failures"
        if car.last_error:
            why += f": {car.last_error}"
        problems.append(why)
    problems += [f"unreadable {b}" for b in bad]
    if problems:
        head = (
            f"{len(stale)} of {len(live)} sidecars older than {ago(max_age)}"
            if stale
            else f"{len(live)} sidecars ok"
        )
        return ComponentResult(
            "dagsync", Status.DEGRADED, latency_ms, _clean(f"{head}: {'; '.join(problems)}{ver}"), now, facts
        )
    newest, oldest = min(known), max(known)
    return ComponentResult(
        "dagsync",
        Status.OK,
        latency_ms,
        f"{len(live)} sidecars; last sync {ago(newest)} ago, oldest {ago(oldest)} ago{ver}",
        now,
        facts,
    )


# --- scaler ------------------------------------------------------------------------------------------------
def scaler(
    doc: Any, *, now: float, max_age: float, latency_ms: float, http_status: int = 200
) -> ComponentResult:
    """The scaler's ``GET /decision``: fresh and error-free -> ok; failed cycle or stale decision -> degraded."""
    if http_status == 503 and isinstance(doc, Mapping):  # up, but no decision yet (first cycle running)
        why = _clean(str(doc.get("error") or "no decision yet"))
        return ComponentResult("scaler", Status.DEGRADED, latency_ms, f"/decision answered 503: {why}", now)
    if http_status != 200:
        return ComponentResult(
            "scaler", Status.DOWN, latency_ms, f"/decision answered HTTP {http_status}", now
        )
    if not isinstance(doc, Mapping):
        return ComponentResult("scaler", Status.DOWN, latency_ms, "/decision is not a JSON object", now)
    doc = redact(dict(doc))
    decided = doc.get("decided_at")
    age = now - decided if isinstance(decided, int | float) and not isinstance(decided, bool) else None
    facts = {k: doc.get(k) for k in ("desired", "current", "queued", "running", "broker_depth") if k in doc}
    facts["decision_age_s"] = age
    parts = []
    if "desired" in doc:
        cur = f" (current {doc['current']})" if doc.get("current") is not None else ""
        parts.append(f"desired {doc['desired']}{cur}")
    for key in ("queued", "running", "broker_depth"):
        if key in doc:
            parts.append(f"{key} {doc[key]}")
    if doc.get("reason"):
        parts.append(f"reason: {doc['reason']}")
    summary = "; ".join(str(p) for p in parts) or "no decision fields"
    if age is None:
        return ComponentResult(
            "scaler", Status.DEGRADED, latency_ms, _clean(f"no decision yet; {summary}"), now, facts
        )
    if doc.get("error"):
        return ComponentResult(
            "scaler",
            Status.DEGRADED,
            latency_ms,
            _clean(f"last cycle failed: {doc['error']}; {summary}"),
            now,
            facts,
        )
    if age > max_age:
        return ComponentResult(
            "scaler",
            Status.DEGRADED,
            latency_ms,
            _clean(f"last decision {ago(age)} ago; {summary}"),
            now,
            facts,
        )
    return ComponentResult(
        "scaler", Status.OK, latency_ms, _clean(f"decided {ago(age)} ago; {summary}"), now, facts
    )


# --- ECS ---------------------------------------------------------------------------------------------------
def ecs_service_status(svc: Mapping[str, Any]) -> Status:
    """Running vs desired of one service: enough -> ok; short -> degraded; nothing running or starting -> down."""
    if svc.get("status") not in (None, "ACTIVE"):
        return Status.DOWN
    desired = int(svc.get("desiredCount", 0))
    running = int(svc.get("runningCount", 0))
    pending = int(svc.get("pendingCount", 0))
    if running >= desired:  # more than desired while a scale-in drains is fine
        return Status.OK
    # Short of desired: tasks starting (pending) or some crashed; none at all and none starting -> down.
    return Status.DOWN if running == 0 and pending == 0 else Status.DEGRADED


def ecs(
    services: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]],
    wanted: Sequence[str],
    *,
    now: float,
    latency_ms: float,
    worker_service: str | None = None,
) -> ComponentResult:
    by_name = {str(s.get("serviceName")): s for s in services}
    statuses = []
    parts = []
    counts: dict[str, dict[str, int]] = {}
    for name in wanted:
        svc = by_name.get(name) or by_name.get(name.rsplit("/", 1)[-1])
        if svc is None:
            reason = next(
                (
                    f.get("reason")
                    for f in failures
                    if str(f.get("arn", "")).endswith("/" + name.rsplit("/", 1)[-1])
                ),
                "not found",
            )
            statuses.append(Status.DOWN)
            parts.append(f"{name} {str(reason).lower()}")
            continue
        st = ecs_service_status(svc)
        statuses.append(st)
        desired, running = int(svc.get("desiredCount", 0)), int(svc.get("runningCount", 0))
        pending = int(svc.get("pendingCount", 0))
        counts[name] = {"desired": desired, "running": running, "pending": pending}
        extra = f" +{pending} pending" if pending else ""
        inactive = f" {svc.get('status')}" if svc.get("status") not in (None, "ACTIVE") else ""
        parts.append(f"{name} {running}/{desired} running{extra}{inactive}")
    facts: dict[str, Any] = {"services": counts}
    if worker_service and worker_service in counts:
        facts["workers"] = counts[worker_service]
    return ComponentResult(
        "ecs", worst(statuses), latency_ms, _clean("; ".join(parts) or "no services", 500), now, facts
    )


# --- CloudWatch alarms -------------------------------------------------------------------------------------
def alarms(names: Sequence[str], prefix: str, *, now: float, latency_ms: float) -> ComponentResult:
    facts = {"in_alarm": len(names)}
    if not names:
        return ComponentResult(
            "cloudwatch_alarms", Status.OK, latency_ms, f"no alarm {prefix}* in ALARM", now, facts
        )
    shown = ", ".join(sorted(names)[:10]) + (f" (+{len(names) - 10} more)" if len(names) > 10 else "")
    return ComponentResult(
        "cloudwatch_alarms",
        Status.DEGRADED,
        latency_ms,
        _clean(f"{len(names)} in ALARM: {shown}", 500),
        now,
        facts,
    )
