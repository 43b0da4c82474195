"""EFS DeleteFileSystemPolicy (stock moto 5.2.5 answers 500): `aws_efs_file_system_policy` (infra/modules/data, TLS
and IAM authorization) can be destroyed; DescribeFileSystemPolicy then answers PolicyNotFound, as on AWS."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.efs.models import EFSBackend
    from moto.efs.responses import EFSResponse

    def delete_file_system_policy(self: Any, file_system_id: str) -> None:
        self.file_systems_by_id[file_system_id].file_system_policy = None

    def delete_file_system_policy_response(self: Any) -> Any:
        self.efs_backend.delete_file_system_policy(self._get_param("FileSystemId"))
        return "{}", {"Content-Type": "application/json"}

    EFSBackend.delete_file_system_policy = delete_file_system_policy  # type: ignore[attr-defined]
    EFSResponse.delete_file_system_policy = delete_file_system_policy_response  # type: ignore[attr-defined]
