"""DescribeSecurityGroupRules returns the description of rules that reference a security group or a prefix list
(stock moto 5.2.5 keeps it only for CIDR rules: Terraform's `aws_vpc_security_group_*_rule` sees drift)."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.ec2.models.security_groups import SecurityGroupRule

    original_init = SecurityGroupRule.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        pl = kwargs.get("prefix_list_id", args[7] if len(args) > 7 else None)
        self._prefix_list_description = pl.get("Description") if isinstance(pl, dict) else None

    def description(self: Any) -> str | None:
        return (
            self.ip_range.get("Description")
            or (self.source_group or {}).get("Description")
            or getattr(self, "_prefix_list_description", None)
        )

    SecurityGroupRule.__init__ = __init__  # type: ignore[method-assign]
    SecurityGroupRule.description = property(description)  # type: ignore[method-assign,assignment]
