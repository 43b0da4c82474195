"""One batched PutMetricData per cycle (namespace + dimensions env/service, plus queue for the per-queue figures).
See docs/adr/0002-scaling.md and docs/slo.md (the SLIs and the alarms that read them).

``WorkerShortfall`` = desired - current workers: defined at 0 workers (target tracking does nothing on missing
data), so Application Auto Scaling step scaling can act on it in ``apply=none`` mode.
"""

from __future__ import annotations

from typing import Any

from platform_common.aws import AwsApis, client_config, sync_client

AWS_APIS: AwsApis = {"cloudwatch": frozenset({"PutMetricData"})}


# Figures in seconds; every other figure is a Count.
SECONDS = frozenset({"OldestQueuedAge", "TaskStartLatencyP50", "TaskStartLatencyP95", "ScaleUpSeconds"})


def metric_data(
    figures: dict[str, float | None],
    env: str,
    service: str,
    timestamp: float,
    per_queue: dict[str, dict[str, float | None]] | None = None,
) -> list[dict[str, Any]]:
    """``figures`` with dimensions {env, service}; ``per_queue[queue]`` with {env, service, queue}."""
    dims = [{"Name": "env", "Value": env}, {"Name": "service", "Value": service}]
    sets = [(dims, figures)] + [
        ([*dims, {"Name": "queue", "Value": queue}], figs)
        for queue, figs in sorted((per_queue or {}).items())
    ]
    return [
        {
            "MetricName": name,
            "Dimensions": d,
            "Value": float(value),
            "Unit": "Seconds" if name in SECONDS else "Count",
            "Timestamp": timestamp,
        }
        for d, figs in sets
        for name, value in figs.items()
        if value is not None
    ]


class Publisher:
    def __init__(self, namespace: str, env: str, service: str) -> None:
        self.namespace, self.env, self.service = namespace, env, service
        # `standard` retries throttling with backoff; few attempts so a throttled cycle ends quickly.
        self.client = sync_client(
            "cloudwatch", client_config(retry_mode="standard", max_attempts=3, read_timeout=10)
        )

    def publish(
        self,
        figures: dict[str, float | None],
        timestamp: float,
        per_queue: dict[str, dict[str, float | None]] | None = None,
    ) -> None:
        data = metric_data(figures, self.env, self.service, timestamp, per_queue)
        for i in range(0, len(data), 1000):  # PutMetricData takes at most 1000 items
            self.client.put_metric_data(Namespace=self.namespace, MetricData=data[i : i + 1000])
