"""Data types shared by the pure core and the I/O shell."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def rank(self) -> int:
        """0 ok, 1 degraded, 2 down: the value of the Prometheus/CloudWatch status gauges."""
        return _RANK[self]


_RANK = {Status.OK: 0, Status.DEGRADED: 1, Status.DOWN: 2}


def worst(statuses: Any) -> Status:
    """The worst of ``statuses`` (ok for none)."""
    return max(statuses, key=lambda s: s.rank, default=Status.OK)


def iso(ts: float) -> str:
    """Unix seconds -> ISO 8601 UTC with millisecond precision."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ComponentResult:
    """One component's health as one probe saw it.

    ``facts`` carries structured figures for the page and /metrics (queue depth, sync age, ...); it is not part
    of the /status contract.
    """

    name: str
    status: Status
    latency_ms: float
    detail: str
    checked_at: float
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "latency_ms": round(self.latency_ms, 1),
            "detail": self.detail,
            "checked_at": iso(self.checked_at),
        }


@dataclass(frozen=True)
class Snapshot:
    """The aggregated view at one point in time."""

    status: Status
    checked_at: float
    components: dict[str, ComponentResult]

    def to_json(self) -> dict[str, Any]:
        doc = {
            "status": self.status.value,
            "checked_at": iso(self.checked_at),
            "components": {name: c.to_json() for name, c in sorted(self.components.items())},
        }
        slo = self.components.get("slo")
        if slo is not None and "slos" in slo.facts:  # the SLO probe's states (docs/slo.md)
            doc["slos"] = slo.facts["slos"]
        return doc
