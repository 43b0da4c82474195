"""Prometheus metrics, one registry per app (so tests can run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from platform_common.prometheus import exposition, new_registry

from .model import Snapshot

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or new_registry()
        r = self.registry
        self.status = Gauge(
            "healthcheck_component_status",
            "Component status: 0 ok, 1 degraded, 2 down",
            ["component"],
            registry=r,
        )
        self.overall = Gauge(
            "healthcheck_overall_status", "Overall status: 0 ok, 1 degraded, 2 down", registry=r
        )
        self.latency = Histogram(
            "healthcheck_probe_latency_seconds",
            "Wall time of one probe run",
            ["probe"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.timeouts = Counter(
            "healthcheck_probe_timeouts_total", "Probe runs cut off by their timeout", ["probe"], registry=r
        )
        self.errors = Counter(
            "healthcheck_probe_errors_total", "Probe runs that raised", ["probe"], registry=r
        )
        self.refreshes = Counter(
            "healthcheck_refreshes_total", "Probe rounds run (all probes, concurrently)", registry=r
        )
        self.queue_depth = Gauge(
            "healthcheck_celery_queue_depth", "Messages waiting in the Celery queues", registry=r
        )
        self.unacked = Gauge(
            "healthcheck_celery_unacked", "Messages taken by workers, not yet acked", registry=r
        )
        self.sync_age = Gauge(
            "healthcheck_dagsync_last_sync_age_seconds",
            "Age of the newest successful DAG sync of any sidecar",
            registry=r,
        )
        self.ecs_desired = Gauge(
            "healthcheck_ecs_desired_count", "ECS desired count", ["service"], registry=r
        )
        self.ecs_running = Gauge(
            "healthcheck_ecs_running_count", "ECS running count", ["service"], registry=r
        )

    def render(self) -> tuple[bytes, str]:
        """``(body, content type)`` for ``GET /metrics``."""
        return exposition(self.registry)

    def observe(self, snap: Snapshot) -> None:
        self.refreshes.inc()
        self.overall.set(snap.status.rank)
        for name, comp in snap.components.items():
            self.status.labels(name).set(comp.status.rank)
            f = comp.facts
            if name == "redis" and "queue_depth" in f:
                self.queue_depth.set(f["queue_depth"])
                self.unacked.set(f["unacked"])
            if name == "dagsync" and f.get("newest_sync_age_s") is not None:
                self.sync_age.set(f["newest_sync_age_s"])
            if name == "ecs":
                for svc, counts in f.get("services", {}).items():
                    self.ecs_desired.labels(svc).set(counts["desired"])
                    self.ecs_running.labels(svc).set(counts["running"])
