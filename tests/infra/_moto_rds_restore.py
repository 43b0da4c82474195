"""Moto gaps for the restore drill (tests/infra/test_rds_restore_drill.py), loaded into its moto server process.
They belong in devtools/moto_patches/ next to the other infra_* patches.

- Stock moto 5.2.5 gives every DB instance the same DbiResourceId ("db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U"). The AWS
  provider finds aws_db_instance by that id, so with a restored instance next to the old one every read is
  ambiguous. Each instance gets its own id, as in RDS.
- RestoreDBInstanceToPointInTime keeps SourceDBInstanceIdentifier on the new instance, which then reads back as a
  read replica of its source (ReadReplicaSourceDBInstanceIdentifier). A PITR instance is a standalone instance.
- ModifyDBInstance drops the Performance Insights settings (devtools/moto_patches/infra_rds_performance_insights.py
  covers CreateDBInstance only), so turning them on for the restored instance never reads back."""

from __future__ import annotations

import secrets
import string
from typing import Any


def apply() -> None:
    from moto.rds.models import DBInstance, RDSBackend

    original_init = DBInstance.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        alphabet = string.ascii_uppercase + string.digits
        self.dbi_resource_id = "db-" + "".join(secrets.choice(alphabet) for _ in range(26))

    original_pitr = RDSBackend.restore_db_instance_to_point_in_time

    def pitr(
        self: Any, source_db_identifier: str, target_db_identifier: str, overrides: dict[str, Any]
    ) -> Any:
        overrides = {k: v for k, v in overrides.items() if k not in ("source_db_instance_identifier",
                                                                       "SourceDBInstanceIdentifier")}  # fmt: skip
        instance = original_pitr(self, source_db_identifier, target_db_identifier, overrides)
        instance.source_db_instance_identifier = None
        return instance

    original_update = DBInstance.update

    def update(self: Any, *args: Any, **kwargs: Any) -> None:
        original_update(self, *args, **kwargs)
        if kwargs.get("enable_performance_insights") is not None:
            self.performance_insights_enabled = bool(kwargs["enable_performance_insights"])
            if self.performance_insights_enabled:
                self.performance_insights_kms_key_id = (
                    kwargs.get("performance_insights_kms_key_id")
                    or getattr(self, "performance_insights_kms_key_id", None)
                    or self.kms_key_id
                )
                self.performance_insights_retention_period = int(
                    kwargs.get("performance_insights_retention_period")
                    or getattr(self, "performance_insights_retention_period", None)
                    or 7
                )

    DBInstance.__init__ = init  # type: ignore[method-assign]
    DBInstance.update = update  # type: ignore[method-assign]
    RDSBackend.restore_db_instance_to_point_in_time = pitr  # type: ignore[method-assign]
