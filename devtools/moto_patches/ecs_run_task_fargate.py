"""ECS RunTask on FARGATE as real task definitions need it (stock moto 5.2.5 answers 500 twice):

- task-level cpu/memory only: moto sums per-container memory and adds None. A container without its own memory
  counts as 0, like Fargate's placement, which only looks at the task size;
- awsvpc in a VPC without DNS hostnames: moto reads the ENI's privateDnsName, which it only sets with
  ``enableDnsHostnames``. AWS names every ENI (``ip-10-0-1-5.ec2.internal``); so does this patch.

The local Fargate runner (devtools/fargate) uses the task ENI's privateDnsName as the task's HOSTNAME.
"""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.utils import generate_dns_from_ip
    from moto.ecs.models import EC2ContainerServiceBackend

    original_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def requirements(task_definition: Any) -> dict[str, Any]:
        saved = task_definition.container_definitions
        task_definition.container_definitions = [
            c
            if any(k in c for k in ("memory", "memoryReservation", "Memory", "MemoryReservation"))
            else {**c, "memory": 0}
            for c in saved
        ]
        try:
            return original_requirements(task_definition)  # type: ignore[no-any-return]
        finally:
            task_definition.container_definitions = saved

    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(requirements)  # type: ignore[method-assign,assignment]

    original_init = NetworkInterface.__init__

    def eni_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if getattr(self, "private_dns_name", None) is None and self.private_ip_address:
            self.private_dns_name = generate_dns_from_ip(self.private_ip_address)

    NetworkInterface.__init__ = eni_init  # type: ignore[method-assign]
