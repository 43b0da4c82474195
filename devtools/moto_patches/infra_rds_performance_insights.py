"""RDS instances read back Performance Insights settings (stock moto 5.2.5 drops them: Terraform sees drift)."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.rds.models import DBInstance

    original_init = DBInstance.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        enabled = kwargs.get("enable_performance_insights")
        self.performance_insights_enabled = bool(enabled) if enabled is not None else False
        if self.performance_insights_enabled:
            self.performance_insights_kms_key_id = (
                kwargs.get("performance_insights_kms_key_id") or self.kms_key_id
            )
            self.performance_insights_retention_period = int(
                kwargs.get("performance_insights_retention_period") or 7
            )

    DBInstance.__init__ = __init__  # type: ignore[method-assign]
