"""The dagsync status file: ``<state dir>/sidecars/<sidecar id>.json`` (and ``status.json`` after a success).

Written by every dagsync sidecar after each cycle (services/dagsync/sync.py), read by ``dagsync check`` and by the
health aggregator's dagsync probe (services/healthcheck/assess.py). The JSON keys and types are a contract between
versions that run side by side during a deploy: add optional keys only; readers ignore keys they do not know.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SidecarStatus:
    sidecar_id: str
    source: str | None = None  # s3://BUCKET/PREFIX/
    dest: str | None = None  # the directory Airflow reads
    last_success: float | None = None  # unix time of the last successful cycle; None: never
    last_attempt: float | None = None  # unix time the last cycle started
    version: str | None = None  # the published version DEST points at
    commit: str | None = None  # the commit of that version's manifest
    last_error: str | None = None  # "<kind>: <message>" of the last cycle, None after a success
    consecutive_failures: int = 0
    outcome: str | None = None  # the last cycle's outcome (services/dagsync/sync.py CycleResult.outcome)

    @property
    def shown_version(self) -> str | None:
        """The version, or the commit when a writer left the version out."""
        return self.version or self.commit

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Any) -> SidecarStatus:
        """Parse one status file's JSON. ValueError (one line, naming the key) when it does not fit."""
        if not isinstance(doc, Mapping):
            raise ValueError("not a JSON object")

        def num(key: str) -> float | None:
            v = doc.get(key)
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{key} is not a number")
            return float(v)

        def text(key: str) -> str | None:
            v = doc.get(key)
            return None if v is None else str(v)

        sid = doc.get("sidecar_id")
        if not isinstance(sid, str) or not sid:
            raise ValueError("sidecar_id missing")
        failures = doc.get("consecutive_failures", 0)
        if isinstance(failures, bool) or not isinstance(failures, int):
            raise ValueError("consecutive_failures is not an integer")
        return cls(
            sidecar_id=sid,
            source=text("source"),
            dest=text("dest"),
            last_success=num("last_success"),
            last_attempt=num("last_attempt"),
            version=text("version") or None,
            commit=text("commit") or None,
            last_error=text("last_error"),
            consecutive_failures=failures,
            outcome=text("outcome"),
        )
