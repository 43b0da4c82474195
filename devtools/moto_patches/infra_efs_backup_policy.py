"""EFS PutBackupPolicy (stock moto 5.2.5 answers 500); DescribeBackupPolicy then reads the stored status.

Needed by `aws_efs_backup_policy` (infra/modules/data). See docs/adr/0003-nat-free-vpc-endpoints.md for the emulated run.
"""

from __future__ import annotations

import json
from typing import Any


def apply() -> None:
    from moto.efs.models import EFSBackend, FileSystem
    from moto.efs.responses import EFSResponse

    def backup_policy(self: Any) -> dict[str, str] | None:
        status = getattr(self, "_backup_status", None)
        if status is None:
            return {"Status": "ENABLED"} if self._backup else None
        return {"Status": status}

    def put_backup_policy(self: Any, file_system_id: str, policy: dict[str, str]) -> dict[str, str]:
        fs = self.file_systems_by_id[file_system_id]
        fs._backup_status = policy.get("Status", "ENABLED")
        fs._backup = fs._backup_status == "ENABLED"
        return {"Status": fs._backup_status}

    def put_backup_policy_response(self: Any) -> Any:
        fs_id = self._get_param("FileSystemId")
        policy = self._get_param("BackupPolicy") or {}
        result = self.efs_backend.put_backup_policy(fs_id, policy)
        return json.dumps({"BackupPolicy": result}), {"Content-Type": "application/json"}

    FileSystem.backup_policy = property(backup_policy)  # type: ignore[method-assign,assignment]
    EFSBackend.put_backup_policy = put_backup_policy  # type: ignore[attr-defined]
    EFSResponse.put_backup_policy = put_backup_policy_response  # type: ignore[attr-defined]
