"""ECS services keep settings given at create/update that stock moto 5.2.5 drops (Terraform sees drift):
availabilityZoneRebalancing."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.ecs.responses import EC2ContainerServiceResponse

    def _remember(self: Any, name_param: str) -> None:
        rebalancing = self._get_param("availabilityZoneRebalancing")
        if rebalancing is None:
            return
        cluster = self._get_param("cluster", "default").split("/")[-1]
        name = self._get_param(name_param).split("/")[-1]
        for svc in self.ecs_backend.services.values():
            if svc.cluster_name == cluster and svc.name == name:
                svc.availability_zone_rebalancing = rebalancing

    for action, name_param in (("create_service", "serviceName"), ("update_service", "service")):
        original = getattr(EC2ContainerServiceResponse, action)

        def wrapped(self: Any, _original: Any = original, _name: str = name_param) -> Any:
            out = _original(self)
            _remember(self, _name)
            return out

        setattr(EC2ContainerServiceResponse, action, wrapped)
