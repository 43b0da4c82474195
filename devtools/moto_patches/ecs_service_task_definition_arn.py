"""ECS services report their task definition as a full ARN with revision, resolved when CreateService/UpdateService
is called (stock moto 5.2.5 stores whatever string it was given, e.g. a bare family, so a later RegisterTaskDefinition
silently changes what the service "runs"). The local Fargate runner (devtools/fargate) rolls on that ARN."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    for action in ("create_service", "update_service"):
        original = getattr(EC2ContainerServiceBackend, action)

        def wrapped(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            service = _original(self, *args, **kwargs)
            ref = getattr(service, "task_definition", None)
            if ref and not (ref.startswith("arn:") and ":" in ref.rsplit("/", 1)[-1]):
                service.task_definition = self.describe_task_definition(ref).arn
                for deployment in getattr(service, "deployments", None) or []:
                    if deployment.get("taskDefinition") == ref:
                        deployment["taskDefinition"] = service.task_definition
            return service

        setattr(EC2ContainerServiceBackend, action, wrapped)
