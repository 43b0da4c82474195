"""ECS tasks with every container, and SubmitContainerStateChange (stock moto 5.2.5 lists only the first container
of a task definition and has no agent state-change API).

The local Fargate runner (devtools/fargate) reports each container's status, exit code and reason through the same
call the ECS agent uses, so DescribeTasks shows what ran: `infra migrate` reads the migration container's exit code
from it (services/infractl/migrate.py), like it does on AWS.
"""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.models import Container, EC2ContainerServiceBackend, Task
    from moto.ecs.responses import EC2ContainerServiceResponse

    def _container(task_definition: Any, definition: dict[str, Any]) -> Any:
        c = Container(task_definition)
        c.name = definition.get("name")
        c.image = definition.get("image")
        c.cpu = definition.get("cpu", 0)
        c.memory = definition.get("memory")
        c.environment = definition.get("environment")
        c.command = definition.get("command")
        c.exitCode = None  # unknown until the container stops
        c.reason = None
        c.runtime_id = None
        c.health_status = "UNKNOWN" if definition.get("healthCheck") else None
        return c

    original_init = Task.__init__

    def task_init(self: Any, cluster: Any, task_definition: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, cluster, task_definition, *args, **kwargs)
        self.containers = [_container(task_definition, d) for d in task_definition.container_definitions]

    Task.__init__ = task_init  # type: ignore[method-assign]

    def submit_container_state_change(
        self: Any,
        cluster_str: str,
        task_ref: str,
        container_name: str,
        status: str | None,
        exit_code: int | None,
        reason: str | None,
        runtime_id: str | None,
    ) -> None:
        cluster = self._get_cluster(cluster_str)
        task_id = task_ref.split("/")[-1]
        task = next(
            (
                t
                for arn, t in self.tasks.get(cluster.name, {}).items()
                if arn == task_ref or arn.endswith("/" + task_id)
            ),
            None,
        )
        if task is None:
            raise InvalidParameterException(f"task {task_ref} not found in cluster {cluster.name}")
        container = next((c for c in task.containers if c.name == container_name), None)
        if container is None:
            raise InvalidParameterException(f"task {task_id} has no container named {container_name}")
        if status:
            container.last_status = status
        if exit_code is not None:
            container.exitCode = int(exit_code)
        if reason:
            container.reason = reason[:255]
        if runtime_id:
            container.runtime_id = runtime_id

    EC2ContainerServiceBackend.submit_container_state_change = submit_container_state_change  # type: ignore[attr-defined]

    def resp_submit(self: Any) -> ActionResult:
        self.ecs_backend.submit_container_state_change(
            self._get_param("cluster", "default"),
            self._get_param("task"),
            self._get_param("containerName"),
            self._get_param("status"),
            self._get_param("exitCode"),
            self._get_param("reason"),
            self._get_param("runtimeId"),
        )
        return ActionResult({"acknowledgment": "ACK"})

    EC2ContainerServiceResponse.submit_container_state_change = resp_submit  # type: ignore[attr-defined]
