"""One batched PutMetricData per cycle (namespace + dimensions env/service). See docs/adr/0002-scaling.md.

``WorkerShortfall`` = desired - current workers: defined at 0 workers (target tracking does nothing on missing
data), so Application Auto Scaling step scaling can act on it in ``apply=none`` mode.
"""

from __future__ import annotations

from typing import Any

from platform_common.aws import AwsApis, client_config, sync_client

AWS_APIS: AwsApis = {"cloudwatch": frozenset({"PutMetricData"})}


def metric_data(
    figures: dict[str, float | None], env: str, service: str, timestamp: float
) -> list[dict[str, Any]]:
    dims = [{"Name": "env", "Value": env}, {"Name": "service", "Value": service}]
    return [
        {
            "MetricName": name,
            "Dimensions": dims,
            "Value": float(value),
            "Unit": "Count",
            "Timestamp": timestamp,
        }
        for name, value in figures.items()
        if value is not None
    ]


class Publisher:
    def __init__(self, namespace: str, env: str, service: str) -> None:
        self.namespace, self.env, self.service = namespace, env, service
        # `standard` retries throttling with backoff; few attempts so a throttled cycle ends quickly.
        self.client = sync_client(
            "cloudwatch", client_config(retry_mode="standard", max_attempts=3, read_timeout=10)
        )
        self.calls = 0

    def publish(self, figures: dict[str, float | None], timestamp: float) -> None:
        data = metric_data(figures, self.env, self.service, timestamp)
        if data:
            self.calls += 1
            self.client.put_metric_data(Namespace=self.namespace, MetricData=data)
