"""Runner and cache semantics, in-process with plain coroutines (no backends involved)."""

from __future__ import annotations

import asyncio
import time

from healthcheck.aggregate import Rule
from healthcheck.metrics import Metrics
from healthcheck.model import ComponentResult, Snapshot, Status
from healthcheck.probes import Probe
from healthcheck.runner import Runner, StatusCache


def ok_probe(name: str, comps: tuple[str, ...] = ()) -> Probe:
    comps = comps or (name,)

    async def run() -> list[ComponentResult]:
        return [ComponentResult(c, Status.OK, 1.0, "fine", time.time()) for c in comps]

    return Probe(name, f"{name} target", 1.0, comps, run)


def test_stubborn_probe_is_cut_off_at_its_timeout() -> None:
    """A probe that swallows cancellation still cannot hold the round past its timeout."""
    released = asyncio.Event()

    async def stubborn() -> list[ComponentResult]:
        while not released.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # ignores cancellation
        return []

    async def main() -> Snapshot:
        metrics = Metrics()
        runner = Runner(
            [
                ok_probe("redis"),
                Probe("airflow", "api-server http://x", 0.3, ("airflow_api", "airflow_scheduler"), stubborn),
            ],
            Rule(critical=("airflow_api",)),
            metrics,
        )
        snap = await runner.run_once()  # would never return if the runner waited for the probe
        released.set()
        assert metrics.timeouts.labels("airflow")._value.get() == 1
        return snap

    snap = asyncio.run(main())
    assert snap.status is Status.DOWN
    assert snap.components["redis"].status is Status.OK
    for name in ("airflow_api", "airflow_scheduler"):
        assert snap.components[name].status is Status.DOWN
    assert snap.components["airflow_api"].detail == "api-server http://x: no answer within 0.3 s"
    assert (
        snap.components["airflow_scheduler"].detail == "unknown, api-server http://x: no answer within 0.3 s"
    )


def test_raising_probe_marks_its_components_down_with_redacted_reason() -> None:
    async def boom() -> list[ComponentResult]:
        raise ConnectionError("redis://:hunter2@10.0.0.1:6379/0 refused")

    async def main() -> Snapshot:
        return await Runner([Probe("redis", "redis", 1.0, ("redis",), boom)], Rule()).run_once()

    snap = asyncio.run(main())
    comp = snap.components["redis"]
    assert comp.status is Status.DOWN and "hunter2" not in comp.detail and "ConnectionError" in comp.detail
    assert snap.status is Status.DEGRADED  # default role: degrade


def test_single_flight_ttl_and_stale_grace() -> None:
    clock = [100.0]
    calls = [0]
    gate = asyncio.Event

    async def main() -> None:
        release = gate()

        async def refresh() -> Snapshot:
            calls[0] += 1
            await release.wait()
            return Snapshot(Status.OK, float(calls[0]), {})

        cache = StatusCache(refresh, ttl=5, stale_grace=10, clock=lambda: clock[0])
        waiters = [asyncio.create_task(cache.get()) for _ in range(50)]
        await asyncio.sleep(0.01)
        assert calls[0] == 1  # fifty callers, one refresh
        release.set()
        snaps = await asyncio.gather(*waiters)
        assert {s.checked_at for s in snaps} == {1.0}

        clock[0] += 4.9  # within TTL: cached, no refresh
        assert (await cache.get()).checked_at == 1.0 and calls[0] == 1

        release.clear()
        clock[0] += 1  # stale but within grace: served at once, one background refresh
        got = await asyncio.gather(*(cache.get() for _ in range(20)))
        assert {s.checked_at for s in got} == {1.0}
        await asyncio.sleep(0.01)
        assert calls[0] == 2
        release.set()
        await asyncio.sleep(0.01)
        assert (await cache.get()).checked_at == 2.0 and cache.generation == 2

        release.clear()
        clock[0] += 100  # beyond grace: callers wait for the shared refresh
        late = asyncio.create_task(cache.get())
        await asyncio.sleep(0.01)
        assert not late.done() and calls[0] == 3
        release.set()
        assert (await late).checked_at == 3.0

    asyncio.run(main())


def test_cancelled_caller_does_not_cancel_the_shared_refresh() -> None:
    async def main() -> None:
        release = asyncio.Event()
        calls = [0]

        async def refresh() -> Snapshot:
            calls[0] += 1
            await release.wait()
            return Snapshot(Status.OK, 1.0, {})

        cache = StatusCache(refresh, ttl=5)
        first = asyncio.create_task(cache.get())
        second = asyncio.create_task(cache.get())
        await asyncio.sleep(0.01)
        first.cancel()  # e.g. a client that hung up
        release.set()
        assert (await second).checked_at == 1.0 and calls[0] == 1

    asyncio.run(main())
