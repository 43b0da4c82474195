"""The thin shell around the pure decider: measure -> decide -> protect -> apply -> publish, once per cycle.

Synchronous on purpose: the steps of a cycle are ordered (protection must succeed before a scale-in goes out), each
source costs one round trip, and measuring takes ~45 ms (median) at 100k queued messages
(bench/scaler/RESULTS.md) against a 15 s interval. The HTTP endpoints run in their own thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from platform_common.redact import redact, redact_text
from platform_common.secrets import SecretError, db_url_from_secret

from .cloudwatch import Publisher
from .config import ScalerSettings
from .decider import Decision, Measurement, State, decide
from .ecs import EcsService, ProtectionResult
from .measure import MeasureError, RedisDepth, TaskCounts, TaskInstanceCounts
from .metrics import Metrics
from .sli import ScaleUpEvent, ScaleUpState, track_scale_up

log = logging.getLogger("scaler")


@dataclass
class CycleResult:
    decision: Decision
    errors: list[str] = field(default_factory=list)
    applied: int | None = None
    protection: ProtectionResult | None = None
    measured: bool = True
    sli: dict[str, Any] = field(default_factory=dict)  # the SLI figures of this cycle (docs/slo.md)

    def as_dict(self, decided_at: float) -> dict[str, Any]:
        doc = self.decision.as_dict()
        doc["decided_at"] = decided_at
        if self.errors:
            doc["error"] = redact_text("; ".join(self.errors))
        if self.applied is not None:
            doc["applied"] = self.applied
        if self.protection is not None:
            doc["protected_tasks"] = sorted(self.protection.protected)
            doc["unmatched_busy_hosts"] = sorted(self.protection.unmatched_hosts)
        if self.sli:
            doc["sli"] = self.sli
        return dict(redact(doc))


class Scaler:
    def __init__(self, settings: ScalerSettings) -> None:
        self.s = settings
        self.config = settings.decider_config()
        self.state = State()
        self.metrics = Metrics()
        self.redis = RedisDepth(
            settings.redis_url, settings.queue_list(), settings.step_list(), settings.redis_key_prefix
        )
        self._watermark: float | None = None  # where the last connection stopped counting task starts
        self._db: TaskInstanceCounts | None = self._counts(settings.db_url) if settings.db_url else None
        self.scale_up = ScaleUpState()
        self.ecs = (
            EcsService(settings.ecs_cluster, settings.ecs_service, settings.protection_minutes)
            if settings.ecs_cluster and settings.ecs_service
            else None
        )
        self.publisher = (
            Publisher(settings.cw_namespace, settings.cw_env, settings.cw_service)
            if settings.cloudwatch
            else None
        )
        self.unpublished_errors = 0  # errors of cycles whose own publish failed, carried to the next publish
        self.last: dict[str, Any] | None = None
        self.lock = threading.Lock()

    # --- sources --------------------------------------------------------------------------------------------
    def db(self) -> TaskInstanceCounts:
        if self._db is None:
            assert self.s.db_secret_arn
            try:
                url = db_url_from_secret(
                    self.s.db_secret_arn,
                    self.s.db_host,
                    self.s.db_port,
                    self.s.db_name,
                    host_setting="SCALER_DB_HOST",
                )
            except SecretError as exc:
                raise MeasureError(str(exc)) from None
            self._db = self._counts(url)
        return self._db

    def _counts(self, url: str) -> TaskInstanceCounts:
        counts = TaskInstanceCounts(
            url, self.s.queue_list(), late_after=self.s.start_slo_seconds, window=self.s.latency_window
        )
        counts.watermark = self._watermark  # a new connection (secret re-read) keeps counting
        return counts

    def measure(self, errors: list[str]) -> tuple[Measurement | None, TaskCounts | None, int | None]:
        depth = counts = None
        try:
            depth = self.redis.read()
        except MeasureError as exc:
            errors.append(str(exc))
            self.metrics.errors.labels("redis").inc()
        try:
            counts = self.db().read()
        except MeasureError as exc:
            errors.append(str(exc))
            self.metrics.errors.labels("db").inc()
            if self.s.db_secret_arn and self._db is not None:
                # RDS rotates managed master passwords: read the secret again next cycle.
                self._watermark = self._db.watermark
                self._db.close()
                self._db = None
        if depth is None or counts is None:
            return None, counts, depth.unacked if depth else None
        return Measurement(counts.queued, counts.running, depth.total), counts, depth.unacked

    # --- one cycle ---------------------------------------------------------------------------------------------
    def cycle(self, *, apply: bool = True, publish: bool = True, stateful: bool = True) -> CycleResult:
        started = time.monotonic()
        now = time.time()
        errors: list[str] = []
        measurement, counts, unacked = self.measure(errors)

        current: int | None = None
        if self.ecs is not None:
            try:
                current = self.ecs.current()
            except Exception as exc:
                errors.append(f"ecs: DescribeServices: {type(exc).__name__}: {exc}")
                self.metrics.errors.labels("ecs").inc()

        state = self.state if stateful else State()
        decision, new_state = decide(
            measurement, self.config, state, now=now, current=current, error="; ".join(errors) or None
        )
        if stateful:
            self.state = new_state
        result = CycleResult(decision, errors, measured=measurement is not None)
        if counts is not None:
            result.sli = self._sli(counts, current, now, stateful)

        # Protection first: a scale-in only goes out once every busy task is protected.
        if apply and self.ecs is not None and self.s.protect and counts is not None:
            result.protection = self.ecs.protect(counts.running_by_host.keys(), now)
            if not result.protection.ok:
                errors.append(result.protection.error or "protection failed")
                self.metrics.errors.labels("protection").inc()
            if result.protection.unmatched_hosts:
                log.warning(
                    "busy hosts matched no worker task",
                    extra={"hosts": sorted(result.protection.unmatched_hosts)},
                )

        if apply and self.s.apply == "ecs":
            self._apply(result, current)

        if publish and self.publisher is not None:
            self._publish(result, now)
        self._record(result, now, unacked, time.monotonic() - started)
        return result

    def _sli(self, counts: TaskCounts, current: int | None, now: float, stateful: bool) -> dict[str, Any]:
        """The SLI figures of this cycle; the scale-up tracker advances only in stateful cycles."""
        scale_up, event = track_scale_up(
            self.scale_up,
            now=now,
            queued=counts.queued,
            running=counts.running,
            workers=current,
            oldest_queued_age=counts.oldest_age,
            late_after=self.s.scaleup_slo_seconds,
        )
        if stateful:
            self.scale_up = scale_up
        else:
            event = ScaleUpEvent()
        return {
            "oldest_queued_age_s": round(counts.oldest_age, 3),
            "tasks_started": counts.started,
            "tasks_started_late": counts.late,
            "queues": {
                q: {
                    "oldest_queued_age_s": round(counts.oldest_queued_age.get(q, 0.0), 3),
                    "started": counts.starts[q].started if q in counts.starts else 0,
                    "start_p50_s": counts.starts[q].p50 if q in counts.starts else None,
                    "start_p95_s": counts.starts[q].p95 if q in counts.starts else None,
                }
                for q in self.s.queue_list()
            },
            "scale_up": {
                "tracked": current is not None,
                "waiting_since": scale_up.waiting_since,
                "events": event.events,
                "late": event.late,
                "seconds": event.seconds,
            },
        }

    def _apply(self, result: CycleResult, current: int | None) -> None:
        desired = result.decision.desired
        if (
            self.ecs is None
            or desired is None
            or current is None
            or desired == current
            or not result.measured
        ):
            return
        if desired < current and self.s.protect:
            prot = result.protection
            if not (prot and prot.ok):
                result.errors.append(f"scale-in {current}->{desired} held: busy tasks not protected")
                return
            if prot.unmatched_hosts and self.s.unmatched_hosts == "hold":
                # A running task instance we cannot place could be on any task: don't risk it.
                # see docs/adr/0002-scaling.md
                result.errors.append(
                    f"scale-in {current}->{desired} held: {len(prot.unmatched_hosts)} busy host(s) match no worker "
                    "task (set SCALER_UNMATCHED_HOSTS=ignore to allow)"
                )
                return
        try:
            self.ecs.set_desired(desired)
            result.applied = desired
            log.info(
                "desiredCount set", extra={"from": current, "to": desired, "service": self.s.ecs_service}
            )
        except Exception as exc:
            result.errors.append(f"ecs: UpdateService: {type(exc).__name__}: {exc}")
            self.metrics.errors.labels("ecs").inc()

    def _publish(self, result: CycleResult, now: float) -> None:
        d = result.decision
        shortfall = d.desired - d.current if d.desired is not None and d.current is not None else None
        figures: dict[str, float | None] = {
            "QueuedTasks": d.queued,
            "RunningTasks": d.running,
            "BrokerDepth": d.broker_depth,
            "DesiredWorkers": d.desired,
            "CurrentWorkers": d.current,
            "WorkerShortfall": shortfall,
            "ScalerErrors": len(result.errors) + self.unpublished_errors,
        }
        per_queue: dict[str, dict[str, float | None]] = {}
        if result.sli:
            sli, up = result.sli, result.sli["scale_up"]
            figures |= {
                "OldestQueuedAge": sli["oldest_queued_age_s"],
                "TasksStarted": sli["tasks_started"],
                "TasksStartedLate": sli["tasks_started_late"],
                "ScaleUps": up["events"] if up["tracked"] else None,
                "ScaleUpsLate": up["late"] if up["tracked"] else None,
                "ScaleUpSeconds": up["seconds"],
            }
            per_queue = {
                q: {
                    "OldestQueuedAge": f["oldest_queued_age_s"],
                    "TaskStartLatencyP50": f["start_p50_s"],
                    "TaskStartLatencyP95": f["start_p95_s"],
                }
                for q, f in sli["queues"].items()
            }
        try:
            assert self.publisher is not None
            self.publisher.publish(figures, now, per_queue)
            self.unpublished_errors = 0
        except Exception as exc:  # throttling after retries, endpoint down: the loop goes on
            self.unpublished_errors += len(result.errors) + 1
            result.errors.append(f"cloudwatch: PutMetricData: {type(exc).__name__}: {exc}")
            self.metrics.errors.labels("cloudwatch").inc()

    def _record(self, result: CycleResult, now: float, unacked: int | None, seconds: float) -> None:
        d, m = result.decision, self.metrics
        m.cycles.inc()
        m.cycle_seconds.set(seconds)
        m.active.set(0 if d.window == "off-hours" else 1)
        for gauge, value in (
            (m.queued, d.queued),
            (m.running, d.running),
            (m.broker, d.broker_depth),
            (m.unacked, unacked),
            (m.desired, d.desired),
            (m.target, d.target),
            (m.current, d.current),
        ):
            if value is not None:
                gauge.set(value)
        if d.desired is not None and d.current is not None:
            m.shortfall.set(d.desired - d.current)
        if result.protection is not None:
            m.protected.set(len(result.protection.protected))
            m.unmatched.set(len(result.protection.unmatched_hosts))
        if result.measured:
            m.last_success.set(now)
        if result.sli:
            sli, up = result.sli, result.sli["scale_up"]
            m.oldest_queued.set(sli["oldest_queued_age_s"])
            m.started.inc(sli["tasks_started"])
            m.started_late.inc(sli["tasks_started_late"])
            m.scale_ups.inc(up["events"])
            m.scale_ups_late.inc(up["late"])
            if up["seconds"] is not None:
                m.scale_up_seconds.set(up["seconds"])
            for q, f in sli["queues"].items():
                if f["start_p95_s"] is not None:
                    m.start_p95.labels(q).set(f["start_p95_s"])
        doc = result.as_dict(now)
        with self.lock:
            self.last = doc
        log.info("cycle", extra={"decision": doc})

    def close(self) -> None:
        self.redis.close()
        if self._db is not None:
            self._db.close()

    # --- loop ------------------------------------------------------------------------------------------------
    def run(self, interval: float, stop: threading.Event, max_cycles: int | None = None) -> int:
        cycles = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.cycle()
            except Exception as exc:  # never let one bad cycle end the loop
                log.exception("cycle failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                self.metrics.errors.labels("internal").inc()
            cycles += 1
            if max_cycles is not None and cycles >= max_cycles:
                break
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        return cycles


def serve(scaler: Scaler, host: str, port: int) -> ThreadingHTTPServer:
    """``GET /metrics`` (Prometheus) and ``GET /decision`` (the last decision, JSON) in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, *scaler.metrics.render())
            elif path == "/decision":
                with scaler.lock:
                    last = scaler.last
                if last is None:
                    self._send(503, b'{"error": "no decision yet"}\n', "application/json")
                else:
                    self._send(200, json.dumps(last).encode() + b"\n", "application/json")
            else:
                self._send(404, b'{"error": "not found: use /metrics or /decision"}\n', "application/json")

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: scrapes every few seconds
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="scaler-http", daemon=True).start()
    return server
