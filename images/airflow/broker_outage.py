"""When a Celery send fails because the broker cannot be reached, keep the task queued instead of failing it.

The pure decision of images/airflow/platform_executor.py (no Airflow import): each scheduler loop the executor sends
its queued tasks; a send that fails for a broker reason (connection refused or reset, AUTH refused by a Redis that
just restarted, a send timeout) is kept for the next loop until the broker has been unreachable for the task for
``grace_s``; after that, or for any other error, the task fails as Airflow would fail it.
See docs/adr/0015-broker-outage.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum

GRACE_ENV = "PLATFORM_BROKER_OUTAGE_GRACE_SECONDS"
DEFAULT_GRACE_S = 300.0

# Exception class names (any class in the exception's MRO) that mean "the broker could not take the message":
# kombu wraps connection errors in OperationalError once its own publish retries are spent; redis-py raises
# ConnectionError (AuthenticationError is one) and TimeoutError; the OS ConnectionRefusedError/ConnectionResetError
# are ConnectionError too; Airflow's send timeout ([celery] operation_timeout) is AirflowTaskTimeout.
BROKER_ERRORS = frozenset({"OperationalError", "ConnectionError", "TimeoutError", "AirflowTaskTimeout"})


def is_broker_error(exc: BaseException) -> bool:
    """True when ``exc`` (or the exception it wraps) says the broker was not reachable, not that the task is bad."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if any(cls.__name__ in BROKER_ERRORS for cls in type(cur).__mro__):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


class Verdict(Enum):
    SENT = "sent"
    KEEP_QUEUED = "keep_queued"  # the broker was unreachable: send again next loop
    FAIL = "fail"  # another error, or the broker stayed unreachable for longer than the grace


@dataclass
class SendRetryPolicy:
    grace_s: float = DEFAULT_GRACE_S
    clock: Callable[[], float] = time.monotonic
    unreachable_since: dict[Hashable, float] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SendRetryPolicy:
        raw = (os.environ if env is None else env).get(GRACE_ENV, "").strip()
        if not raw:
            return cls()
        try:
            grace = float(raw)
        except ValueError:
            raise ValueError(f"{GRACE_ENV} must be a number of seconds, got {raw!r}") from None
        if grace < 0:
            raise ValueError(f"{GRACE_ENV} must be 0 or more seconds, got {raw!r}")
        return cls(grace_s=grace)

    def verdict(self, key: Hashable, error: BaseException | None) -> Verdict:
        """What to do with the task ``key`` whose send ended with ``error`` (None: sent)."""
        if error is None:
            self.unreachable_since.pop(key, None)
            return Verdict.SENT
        if not is_broker_error(error):
            self.unreachable_since.pop(key, None)
            return Verdict.FAIL
        now = self.clock()
        since = self.unreachable_since.setdefault(key, now)
        if now - since < self.grace_s:
            return Verdict.KEEP_QUEUED
        self.unreachable_since.pop(key, None)
        return Verdict.FAIL

    def forget(self, keys: set[Hashable]) -> None:
        """Drop tasks the executor no longer holds (revoked, adopted elsewhere)."""
        for key in list(self.unreachable_since):
            if key not in keys:
                del self.unreachable_since[key]
