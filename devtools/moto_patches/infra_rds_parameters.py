"""RDS DescribeDBParameters returns user-set parameters with `Source: user` (stock moto 5.2.5 omits Source, so
Terraform's `aws_db_parameter_group` reads no parameters back and re-adds its `parameter` blocks every plan)."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.core.responses import ActionResult
    from moto.rds.exceptions import DBParameterGroupNotFoundError
    from moto.rds.responses import RDSResponse

    def describe_db_parameters(self: Any) -> ActionResult:
        name = self.params.get("DBParameterGroupName")
        groups = self.backend.describe_db_parameter_groups({"db_parameter_group_name": name})
        if not groups:
            raise DBParameterGroupNotFoundError(name)
        source = self.params.get("Source")
        params = []
        for p in groups[0].parameters.values():
            item = {**p, "Source": p.get("Source", "user"), "IsModifiable": True, "ApplyType": "dynamic"}
            if source in (None, "", item["Source"]):
                params.append(item)
        return ActionResult({"Parameters": params})

    RDSResponse.describe_db_parameters = describe_db_parameters  # type: ignore[method-assign]
