"""Optional: publish component health to CloudWatch so alarms can act on it (off by default)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from platform_common.aws import AwsApis, aio_client, client_config
from platform_common.redact import redact_text

from .model import Snapshot

# Every AWS call of this module (docs/adr/0003-nat-free-vpc-endpoints.md needs an endpoint for each).
AWS_APIS: AwsApis = {"cloudwatch": frozenset({"PutMetricData"})}

log = logging.getLogger("healthcheck.publish")


def metric_data(snap: Snapshot, env: str = "") -> list[dict[str, Any]]:
    """``ComponentStatus`` per component and ``OverallStatus``: 0 ok, 1 degraded, 2 down. Plus the SLIs this
    aggregator measures (docs/slo.md): ``DagSyncAge`` per sidecar, ``DagSyncWorstAge`` (the oldest live sidecar),
    ``SchedulerHeartbeatAge``, and one sample per round for the time-based SLOs (``DagFreshnessSamples`` /
    ``DagFreshnessBad``, ``SchedulerSamples`` / ``SchedulerBad``: bad when the component is not ok)."""
    base = [{"Name": "Env", "Value": env}] if env else []
    data = [
        {
            "MetricName": "ComponentStatus",
            "Dimensions": [*base, {"Name": "Component", "Value": name}],
            "Value": float(comp.status.rank),
            "Unit": "None",
        }
        for name, comp in sorted(snap.components.items())
    ]
    data.append(
        {"MetricName": "OverallStatus", "Dimensions": base, "Value": float(snap.status.rank), "Unit": "None"}
    )

    def add(name: str, value: float, unit: str, dims: list[dict[str, str]] = base) -> None:
        data.append({"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": unit})

    sync = snap.components.get("dagsync")
    if sync is not None:
        ages = sync.facts.get("ages") or {}
        for sidecar, age in sorted(ages.items()):
            if age is not None:
                add("DagSyncAge", age, "Seconds", [*base, {"Name": "Sidecar", "Value": sidecar}])
        known = [a for a in ages.values() if a is not None]
        if known:
            add("DagSyncWorstAge", max(known), "Seconds")
        add("DagFreshnessSamples", 1, "Count")
        add("DagFreshnessBad", 0 if sync.status.value == "ok" else 1, "Count")
    sched = snap.components.get("airflow_scheduler")
    if sched is not None:
        age = sched.facts.get("heartbeat_age_s")
        if age is not None:
            add("SchedulerHeartbeatAge", max(0.0, age), "Seconds")
        add("SchedulerSamples", 1, "Count")
        add("SchedulerBad", 0 if sched.status.value == "ok" else 1, "Count")
    return data


async def publish_loop(
    get: Callable[[], Awaitable[Snapshot]], namespace: str, interval: float, env: str = ""
) -> None:
    """Every ``interval`` s: take the (cached) round and send it in PutMetricData calls of at most 1000 items."""
    async with aio_client("cloudwatch", client_config(max_attempts=3)) as cw:
        while True:
            try:
                data = metric_data(await get(), env)
                for i in range(0, len(data), 1000):
                    await cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + 1000])
                log.debug("published %d health metrics to %s", len(data), namespace)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep publishing; the next round may work
                log.warning("CloudWatch publish failed: %s", redact_text(f"{type(exc).__name__}: {exc}"))
            await asyncio.sleep(interval)
