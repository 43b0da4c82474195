"""ECS services keep settings given at create/update that stock moto 5.2.5 drops (Terraform sees drift):
availabilityZoneRebalancing, healthCheckGracePeriodSeconds, enableECSManagedTags, capacityProviderStrategy
(moto reports launchType EC2 instead, and Terraform replaces the service on every plan)."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.ecs.responses import EC2ContainerServiceResponse

    settings = {
        "availabilityZoneRebalancing": "availability_zone_rebalancing",
        "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
        "enableECSManagedTags": "enable_ecs_managed_tags",
        "capacityProviderStrategy": "capacity_provider_strategy",
    }

    def _remember(self: Any, name_param: str) -> None:
        given = {attr: self._get_param(param) for param, attr in settings.items()}
        if name_param == "service":  # update: only what the call names; create: absent means unset, like ECS
            given = {k: v for k, v in given.items() if v is not None}
        elif given.get("capacity_provider_strategy") is None:
            given.pop("capacity_provider_strategy")
        cluster = self._get_param("cluster", "default").split("/")[-1]
        name = self._get_param(name_param).split("/")[-1]
        for svc in self.ecs_backend.services.values():
            if svc.cluster_name == cluster and svc.name == name:
                for attr, value in given.items():
                    setattr(svc, attr, value)
                if given.get("capacity_provider_strategy"):
                    svc.launch_type = None  # ECS reports no launch type for capacity-provider services

    for action, name_param in (("create_service", "serviceName"), ("update_service", "service")):
        original = getattr(EC2ContainerServiceResponse, action)

        def wrapped(self: Any, _original: Any = original, _name: str = name_param) -> Any:
            out = _original(self)
            _remember(self, _name)
            return out

        setattr(EC2ContainerServiceResponse, action, wrapped)
