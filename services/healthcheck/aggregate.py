"""The aggregation rule: component statuses -> overall status. Pure; see docs/adr/0007-health-aggregation.md.

Every component has a role, chosen by the first list whose glob pattern matches its name, in this order:

* ``critical``: down -> overall down; degraded -> overall degraded.
* ``degrade``: down or degraded -> overall degraded (the platform still works, with less).
* ``info``: shown, never changes the overall status.

Names no list matches get ``default_role``. The overall status is the worst contribution; no components -> ok.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .model import Status, worst


class Role(StrEnum):
    CRITICAL = "critical"
    DEGRADE = "degrade"
    INFO = "info"


@dataclass(frozen=True)
class Rule:
    critical: tuple[str, ...] = ()
    degrade: tuple[str, ...] = ()
    info: tuple[str, ...] = ()
    default_role: Role = Role.DEGRADE

    def role_of(self, component: str) -> Role:
        for role, patterns in (
            (Role.CRITICAL, self.critical),
            (Role.INFO, self.info),
            (Role.DEGRADE, self.degrade),
        ):
            if any(fnmatch.fnmatchcase(component, p) for p in patterns):
                return role
        return self.default_role

    def describe(self) -> str:
        """One line, for the log and the page."""
        return (
            f"critical={','.join(self.critical) or '-'}; degrade={','.join(self.degrade) or '-'}; "
            f"info={','.join(self.info) or '-'}; others={self.default_role.value}"
        )


def contribution(role: Role, status: Status) -> Status:
    """What one component in ``status`` does to the overall status."""
    if role is Role.INFO or status is Status.OK:
        return Status.OK
    if status is Status.DOWN and role is Role.CRITICAL:
        return Status.DOWN
    return Status.DEGRADED


def overall(components: Mapping[str, Status], rule: Rule) -> Status:
    return worst(contribution(rule.role_of(name), st) for name, st in components.items())


def culprits(components: Mapping[str, Status], rule: Rule) -> list[str]:
    """Names of the components that make the overall status what it is (empty when ok)."""
    target = overall(components, rule)
    if target is Status.OK:
        return []
    return sorted(n for n, st in components.items() if contribution(rule.role_of(n), st) is target)


def parse_patterns(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"a, b*"`` or ``["a", "b*"]`` -> ``("a", "b*")``; blanks dropped."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(p.strip() for p in items if p and p.strip())
