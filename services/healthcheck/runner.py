"""Run the probes concurrently under their own timeouts; cache the round with single-flight refresh.

See docs/adr/0007-health-aggregation.md for why the cache serves a stale round during a refresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from . import assess
from .aggregate import Rule, culprits, overall
from .metrics import Metrics
from .model import ComponentResult, Snapshot
from .probes import Probe

log = logging.getLogger("healthcheck.runner")


def _swallow(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log "exception was never retrieved"


class Runner:
    """One round = every probe at once; a probe's components go down when it raises or outlives its timeout."""

    def __init__(self, probes: Sequence[Probe], rule: Rule, metrics: Metrics | None = None) -> None:
        self.probes = list(probes)
        self.rule = rule
        self.metrics = metrics
        self._last: dict[str, str] = {}

    async def guarded(self, probe: Probe) -> list[ComponentResult]:
        t0 = time.perf_counter()
        task = asyncio.ensure_future(probe.run())
        try:
            # asyncio.wait (not wait_for): returns at the deadline even if the probe ignores cancellation.
            done, _ = await asyncio.wait({task}, timeout=probe.timeout)
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(_swallow)
        elapsed = time.perf_counter() - t0
        if self.metrics:
            self.metrics.latency.labels(probe.name).observe(elapsed)
        if not done:
            if self.metrics:
                self.metrics.timeouts.labels(probe.name).inc()
            return assess.failed(
                probe.components,
                f"{probe.target}: no answer within {probe.timeout:g} s",
                elapsed * 1000,
                time.time(),
            )
        exc = task.exception()
        if exc is not None:
            if self.metrics:
                self.metrics.errors.labels(probe.name).inc()
            return assess.failed(
                probe.components, f"{probe.target}: {assess.error_text(exc)}", elapsed * 1000, time.time()
            )
        return task.result()

    async def run_once(self) -> Snapshot:
        rounds = await asyncio.gather(*(self.guarded(p) for p in self.probes))
        comps = {c.name: c for results in rounds for c in results}
        statuses = {n: c.status for n, c in comps.items()}
        snap = Snapshot(overall(statuses, self.rule), time.time(), comps)
        if self.metrics:
            self.metrics.observe(snap)
        self._log_changes(snap)
        return snap

    def _log_changes(self, snap: Snapshot) -> None:
        for name, comp in snap.components.items():
            before = self._last.get(name)
            if before != comp.status.value:
                level = logging.INFO if comp.status.value == "ok" else logging.WARNING
                log.log(
                    level,
                    "component %s: %s -> %s (%s)",
                    name,
                    before or "unknown",
                    comp.status.value,
                    comp.detail,
                    extra={"component": name, "status": comp.status.value},
                )
        overall_before = self._last.get("")
        if overall_before != snap.status.value:
            statuses = {n: c.status for n, c in snap.components.items()}
            log.warning(
                "overall: %s -> %s (because of: %s)",
                overall_before or "unknown",
                snap.status.value,
                ", ".join(culprits(statuses, self.rule)) or "-",
                extra={"status": snap.status.value},
            )
        self._last = {n: c.status.value for n, c in snap.components.items()} | {"": snap.status.value}


class StatusCache:
    """Serve the last round for ``ttl`` s; refresh once for all callers (single flight).

    Within ``ttl + stale_grace`` a stale round is served at once while one refresh runs in the background;
    older than that (or at start) callers wait for the shared refresh, which the probe timeouts bound.
    """

    def __init__(
        self,
        refresh: Callable[[], Awaitable[Snapshot]],
        ttl: float,
        stale_grace: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refresh = refresh
        self.ttl = ttl
        self.stale_grace = stale_grace
        self._clock = clock
        self._snap: Snapshot | None = None
        self._at = 0.0
        self._task: asyncio.Task[Snapshot] | None = None
        self.generation = 0  # bumps on every new round (for caches of rendered output)

    @property
    def last(self) -> Snapshot | None:
        return self._snap

    async def get(self) -> Snapshot:
        snap = self._snap
        if snap is not None:
            age = self._clock() - self._at
            if age < self.ttl:
                return snap
            if age < self.ttl + self.stale_grace:
                self._start()
                return snap
        return await asyncio.shield(self._start())

    def _start(self) -> asyncio.Task[Snapshot]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
            self._task.add_done_callback(_swallow)
        return self._task

    async def _run(self) -> Snapshot:
        snap = await self._refresh()
        self._snap, self._at = snap, self._clock()
        self.generation += 1
        return snap
