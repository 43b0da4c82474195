"""Airflow's CeleryExecutor, except that a task whose send fails because the broker is unreachable stays queued.

Stock CeleryExecutor fails a task at once when its send to the broker raises (only send timeouts are retried,
``[celery] task_publish_max_retries`` times), so every task queued during an ElastiCache failover failed.
Here a broker error keeps the task queued and it is sent again on the next scheduler loops, for up to
``PLATFORM_BROKER_OUTAGE_GRACE_SECONDS`` (images/airflow/broker_outage.py decides). When the first send of a batch
finds the broker unreachable, the rest of the batch is not tried in that loop, so an outage costs a scheduler loop
one connection attempt, not one per task. See docs/adr/0015-broker-outage.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.providers.celery.executors.celery_executor import CeleryExecutor
from airflow.providers.celery.executors.celery_executor_utils import ExceptionWithTraceback
from airflow.providers.common.compat.sdk import AirflowTaskTimeout
from broker_outage import SendRetryPolicy, Verdict, is_broker_error

WARN_EVERY_S = 10.0


class PlatformCeleryExecutor(CeleryExecutor):
    """CeleryExecutor that rides out a broker outage (docs/adr/0015-broker-outage.md)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The stock retry bookkeeping this class steers; a provider upgrade that renames it must fail loudly here.
        if not hasattr(self, "workload_publish_retries") or not hasattr(self, "workload_publish_max_retries"):
            raise RuntimeError(
                "PlatformCeleryExecutor: the celery provider no longer has workload_publish_retries; "
                "review images/airflow/platform_executor.py against the pinned provider"
            )
        # 0 would make the stock code fail a kept task at once.
        self.workload_publish_max_retries = max(1, self.workload_publish_max_retries)
        self.send_retry = SendRetryPolicy.from_env()
        self._last_warning = float("-inf")

    def _send_workloads_to_celery(self, workload_tuples_to_send: Sequence[Any]) -> list[Any]:
        if not workload_tuples_to_send:
            return []
        held = getattr(self, "queued_tasks", None)  # tasks revoked meanwhile need no outage clock
        if held is not None:
            self.send_retry.forget(set(held))
        first: list[Any] = list(super()._send_workloads_to_celery(workload_tuples_to_send[:1]))
        results = first
        rest = workload_tuples_to_send[1:]
        if rest:
            error = _error_of(first[0][2])
            if error is not None and is_broker_error(error):
                note = f"not sent: the broker was unreachable for the first task of this batch ({error!r})"
                results = first + [(t[0], t[1], ExceptionWithTraceback(error, note)) for t in rest]
            else:
                results = first + list(super()._send_workloads_to_celery(rest))
        return [self._judged(key, args, result) for key, args, result in results]

    def _judged(self, key: Any, args: Any, result: Any) -> tuple[Any, Any, Any]:
        error = _error_of(result)
        verdict = self.send_retry.verdict(key, error)
        if verdict is Verdict.KEEP_QUEUED:
            self._warn(error)
            # The stock code keeps a task queued after a send timeout while its retry count is below the maximum.
            self.workload_publish_retries[key] = 0
            return key, args, ExceptionWithTraceback(AirflowTaskTimeout(f"broker unreachable: {error!r}"), "")
        if verdict is Verdict.FAIL and isinstance(error, AirflowTaskTimeout):
            self.workload_publish_retries[key] = self.workload_publish_max_retries  # grace spent: fail it now
        return key, args, result

    def _warn(self, error: BaseException | None) -> None:
        now = time.monotonic()
        if now - self._last_warning < WARN_EVERY_S:
            return
        self._last_warning = now
        self.log.warning(
            "Celery broker unreachable (%r): %d task(s) stay queued and are sent again each scheduler loop, each for "
            "up to %.0f s; see docs/runbooks/redis-failover.md",
            error,
            len(self.send_retry.unreachable_since),
            self.send_retry.grace_s,
        )


def _error_of(result: Any) -> BaseException | None:
    return result.exception if isinstance(result, ExceptionWithTraceback) else None
