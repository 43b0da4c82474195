"""Prometheus metrics (one registry per process; served on DAGSYNC_METRICS_PORT, 0 = off).

prometheus_client is imported only when metrics are served (it costs ~10 MB RSS; one-shot ``sync`` and
``run`` with port 0 use ``NullMetrics``).
"""

from __future__ import annotations

from platform_common import prometheus


class _NoOp:
    """One metric that records nothing: the calls sync.py makes on a Counter, Gauge or Histogram."""

    def labels(self, **_labels: str) -> _NoOp:
        return self

    def inc(self, amount: float = 1) -> None: ...

    def set(self, value: float) -> None: ...

    def observe(self, value: float) -> None: ...

    def clear(self) -> None: ...


class NullMetrics:
    """Records nothing; the same names as ``Metrics`` (a misspelt metric fails here too, tests compare both)."""

    def __init__(self) -> None:
        noop = _NoOp()
        self.cycle_duration = self.cycles = self.objects_listed = self.objects_downloaded = noop
        self.objects_linked = self.objects_deleted = self.bytes_downloaded = self.errors = noop
        self.unsafe_keys = self.unverified = self.last_success = self.consecutive_failures = noop
        self.published = self.publishes = noop

    def set_published(self, version: str | None, commit: str | None) -> None: ...

    def set_unsafe(self, counts: dict[str, int]) -> None: ...


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        r = self.registry = prometheus.new_registry()
        self._published_now: tuple[str | None, str | None] | None = None
        self._unsafe_now: dict[str, int] | None = None
        self.cycle_duration = Histogram(
            "dagsync_cycle_duration_seconds",
            "Wall time of one sync cycle",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.cycles = Counter("dagsync_cycles_total", "Sync cycles by result", ["result"], registry=r)
        self.objects_listed = Gauge("dagsync_objects_listed", "Objects in the last listing", registry=r)
        self.objects_downloaded = Counter(
            "dagsync_objects_downloaded_total", "Objects downloaded", registry=r
        )
        self.objects_linked = Counter(
            "dagsync_objects_linked_total", "Unchanged files hard-linked into a new version", registry=r
        )
        self.objects_deleted = Counter(
            "dagsync_objects_deleted_total", "Files dropped from the published set", registry=r
        )
        self.bytes_downloaded = Counter("dagsync_bytes_downloaded_total", "Bytes downloaded", registry=r)
        self.errors = Counter("dagsync_errors_total", "Failed cycles by error kind", ["kind"], registry=r)
        self.unsafe_keys = Gauge(
            "dagsync_unsafe_keys",
            "Keys skipped as unsafe in the last cycle, by reason",
            ["reason"],
            registry=r,
        )
        self.unverified = Counter(
            "dagsync_unverified_objects_total",
            "Downloads with no SHA-256 checksum, manifest entry or MD5 ETag to check against",
            registry=r,
        )
        self.last_success = Gauge(
            "dagsync_last_success_timestamp_seconds", "Unix time of the last successful cycle", registry=r
        )
        self.consecutive_failures = Gauge(
            "dagsync_consecutive_failures", "Failed cycles since the last success", registry=r
        )
        self.published = Gauge(
            "dagsync_published_info", "The published version (value 1)", ["version", "commit"], registry=r
        )
        self.publishes = Counter("dagsync_publishes_total", "New versions this sidecar published", registry=r)

    def set_published(self, version: str | None, commit: str | None) -> None:
        if (version, commit) == self._published_now:  # the usual quiet cycle: nothing to relabel
            return
        self._published_now = (version, commit)
        self.published.clear()
        if version:
            self.published.labels(version=version, commit=commit or "").set(1)

    def set_unsafe(self, counts: dict[str, int]) -> None:
        if counts == self._unsafe_now:
            return
        self._unsafe_now = dict(counts)
        self.unsafe_keys.clear()
        for reason, n in counts.items():
            self.unsafe_keys.labels(reason=reason).set(n)

    def serve(self, port: int, addr: str = prometheus.ANY_ADDRESS) -> None:
        if port:
            prometheus.serve(self.registry, port, addr)
