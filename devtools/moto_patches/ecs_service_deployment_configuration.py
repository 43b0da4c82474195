"""ECS services keep ``deploymentConfiguration`` (stock moto 5.2.5 drops it): CreateService stores what it is
given over ECS's defaults (minimumHealthyPercent 100, maximumPercent 200); UpdateService merges what it names.
The local Fargate runner (devtools/fargate) rolls services within these limits."""

from __future__ import annotations

from typing import Any

DEFAULTS = {"minimumHealthyPercent": 100, "maximumPercent": 200}


def apply() -> None:
    from moto.ecs.responses import EC2ContainerServiceResponse

    for action, name_param in (("create_service", "serviceName"), ("update_service", "service")):
        original = getattr(EC2ContainerServiceResponse, action)

        def wrapped(self: Any, _original: Any = original, _name: str = name_param) -> Any:
            out = _original(self)
            given = self._get_param("deploymentConfiguration") or {}
            cluster = self._get_param("cluster", "default").split("/")[-1]
            name = self._get_param(_name).split("/")[-1]
            for svc in self.ecs_backend.services.values():
                if svc.cluster_name == cluster and svc.name == name:
                    current = getattr(svc, "deployment_configuration", None) or dict(DEFAULTS)
                    svc.deployment_configuration = {**current, **given}
            return out

        setattr(EC2ContainerServiceResponse, action, wrapped)
