"""ECS services count their tasks (stock moto 5.2.5 reports ``runningCount`` from the MOTO_ECS_SERVICE_RUNNING
environment variable, 0 by default, and the rest of ``desiredCount`` as pending, whatever runs).

DescribeServices counts the service's tasks (``group = service:<name>``) that are not stopping: RUNNING ones as
``runningCount``, earlier states as ``pendingCount``, like ECS; the PRIMARY deployment follows. The local Fargate
runner (devtools/fargate) starts and stops those tasks, so the health aggregator's ECS probe and the rollout check
see what runs.
"""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.describe_services

    def describe_services(
        self: Any, cluster_str: str, names: list[str]
    ) -> tuple[list[Any], list[dict[str, str]]]:
        services, failures = original(self, cluster_str, names)
        for svc in services:
            tasks = [
                t
                for t in self.tasks.get(svc.cluster_name, {}).values()
                if t.group == f"service:{svc.name}" and t.desired_status == "RUNNING"
            ]
            running = sum(1 for t in tasks if t.last_status == "RUNNING")
            svc.running_count = running
            svc.pending_count = len(tasks) - running
            for deployment in svc.deployments or []:
                if deployment.get("status") == "PRIMARY":
                    deployment["runningCount"] = running
                    deployment["pendingCount"] = svc.pending_count
                    deployment["desiredCount"] = svc.desired_count
                    done = running >= svc.desired_count and svc.pending_count == 0
                    deployment["rolloutState"] = "COMPLETED" if done else "IN_PROGRESS"
        return services, failures

    EC2ContainerServiceBackend.describe_services = describe_services  # type: ignore[method-assign]
