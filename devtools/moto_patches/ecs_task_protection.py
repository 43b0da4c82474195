"""ECS UpdateTaskProtection / GetTaskProtection (stock moto 5.2.5 answers 500).

Protection is stored per task ARN with its expiry, like ECS: ``expiresInMinutes`` 1..2880, default 120; an expired
protection reads back as disabled. Unknown tasks come back in ``failures`` with reason ``TASK_NOT_VALID``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_MINUTES = 120


def apply() -> None:
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    def _protections(self: Any) -> dict[str, datetime]:
        store = getattr(self, "_task_protection", None)
        if store is None:
            store = self._task_protection = {}
        return store  # type: ignore[no-any-return]

    def _resolve(self: Any, cluster_str: str, tasks: list[str]) -> tuple[list[Any], list[dict[str, str]]]:
        cluster = self._get_cluster(cluster_str)
        known = self.tasks.get(cluster.name, {})
        found, failures = [], []
        for ref in tasks:
            task_id = ref.split("/")[-1]
            match = next((t for arn, t in known.items() if arn == ref or arn.endswith("/" + task_id)), None)
            if match is None:
                failures.append({"arn": ref, "reason": "TASK_NOT_VALID", "detail": "task not found"})
            else:
                found.append(match)
        return found, failures

    def _view(self: Any, task: Any) -> dict[str, Any]:
        expiry = _protections(self).get(task.task_arn)
        now = datetime.now(UTC)
        if expiry is None or expiry <= now:
            return {"taskArn": task.task_arn, "protectionEnabled": False}
        return {"taskArn": task.task_arn, "protectionEnabled": True, "expirationDate": expiry}

    def update_task_protection(
        self: Any, cluster_str: str, tasks: list[str], enabled: bool, minutes: int | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        if not tasks or len(tasks) > 10:
            raise InvalidParameterException("tasks must list 1 to 10 tasks")
        if enabled:
            minutes = DEFAULT_MINUTES if minutes is None else int(minutes)
            if not 1 <= minutes <= 2880:
                raise InvalidParameterException("expiresInMinutes must be between 1 and 2880")
        found, failures = _resolve(self, cluster_str, tasks)
        store = _protections(self)
        for task in found:
            if enabled:
                store[task.task_arn] = datetime.now(UTC) + timedelta(minutes=minutes or DEFAULT_MINUTES)
            else:
                store.pop(task.task_arn, None)
        return [_view(self, t) for t in found], failures

    def get_task_protection(
        self: Any, cluster_str: str, tasks: list[str] | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        if tasks:
            found, failures = _resolve(self, cluster_str, tasks)
        else:
            cluster = self._get_cluster(cluster_str)
            found, failures = list(self.tasks.get(cluster.name, {}).values()), []
        return [_view(self, t) for t in found], failures

    EC2ContainerServiceBackend.update_task_protection = update_task_protection  # type: ignore[attr-defined]
    EC2ContainerServiceBackend.get_task_protection = get_task_protection  # type: ignore[attr-defined]

    def resp_update(self: Any) -> ActionResult:
        protected, failures = self.ecs_backend.update_task_protection(
            self._get_param("cluster", "default"),
            self._get_param("tasks", []),
            bool(self._get_param("protectionEnabled")),
            self._get_param("expiresInMinutes"),
        )
        return ActionResult({"protectedTasks": protected, "failures": failures})

    def resp_get(self: Any) -> ActionResult:
        protected, failures = self.ecs_backend.get_task_protection(
            self._get_param("cluster", "default"), self._get_param("tasks")
        )
        return ActionResult({"protectedTasks": protected, "failures": failures})

    EC2ContainerServiceResponse.update_task_protection = resp_update  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.get_task_protection = resp_get  # type: ignore[attr-defined]
