"""The scaler's Prometheus metrics, served on /metrics next to /decision (runner.serve)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from platform_common.prometheus import exposition, new_registry


class Metrics:
    def __init__(self) -> None:
        self.registry = new_registry()
        r = self.registry

        def g(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, registry=r)

        self.queued = g("scaler_queued_tasks", "task_instance rows in state queued")
        self.running = g("scaler_running_tasks", "task_instance rows in state running")
        self.broker = g("scaler_broker_depth", "Redis: waiting messages (all priority lists) + unacked")
        self.unacked = g("scaler_broker_unacked", "Redis: messages taken by workers, not acked yet")
        self.desired = g("scaler_desired_workers", "desired worker count decided")
        self.target = g("scaler_target_workers", "what the formula says right now, before cooldown")
        self.current = g("scaler_current_workers", "the worker service's desiredCount as read from ECS")
        self.shortfall = g("scaler_worker_shortfall", "desired - current workers")
        self.active = g("scaler_active_window", "1 inside an active schedule window, 0 off-hours")
        self.protected = g("scaler_protected_tasks", "busy worker tasks with scale-in protection")
        self.unmatched = g("scaler_unmatched_busy_hosts", "task_instance hostnames that matched no ECS task")
        self.cycle_seconds = g("scaler_cycle_seconds", "wall time of the last cycle")
        self.last_success = g("scaler_last_success_timestamp_seconds", "unix time of the last measured cycle")
        self.cycles = Counter("scaler_cycles", "cycles run", registry=r)
        self.oldest_queued = g("scaler_oldest_queued_age_seconds", "age of the oldest queued task instance")
        self.start_p95 = Gauge(
            "scaler_task_start_p95_seconds", "p95 queued -> start over the window", ["queue"], registry=r
        )
        self.started = Counter("scaler_tasks_started", "task instances that started", registry=r)
        self.started_late = Counter(
            "scaler_tasks_started_late",
            "task instances that started later than the SLO threshold",
            registry=r,
        )
        self.scale_ups = Counter("scaler_scale_ups", "scale-ups from zero workers", registry=r)
        self.scale_ups_late = Counter(
            "scaler_scale_ups_late", "scale-ups slower than the SLO threshold", registry=r
        )
        self.scale_up_seconds = g("scaler_last_scale_up_seconds", "zero workers -> first task running, last")
        self.errors = Counter("scaler_errors", "errors by source", ["source"], registry=r)

    def render(self) -> tuple[bytes, str]:
        """``(body, content type)`` for ``GET /metrics``."""
        return exposition(self.registry)
