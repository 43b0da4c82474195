"""CloudWatch PutCompositeAlarm (stock moto 5.2.5 answers 500, although its alarms already carry an ``AlarmRule``
and DescribeAlarms lists them under ``CompositeAlarms``): the SLO burn-rate pairs of infra/modules/observability."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.cloudwatch.models import Alarm
    from moto.cloudwatch.responses import CloudWatchResponse

    CloudWatchResponse.put_composite_alarm = CloudWatchResponse.put_metric_alarm  # type: ignore[attr-defined]

    def alarm_rule(self: Any) -> Any:  # the response shape's member name
        return self.rule

    Alarm.alarm_rule = property(alarm_rule)  # type: ignore[attr-defined]
