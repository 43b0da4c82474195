"""Endpoint cross-check: every AWS API a service declares (AWS_APIS next to its clients) has a VPC endpoint.

The platform has no NAT (docs/adr/0003-nat-free-vpc-endpoints.md): an API without an endpoint is unreachable.
"""

from __future__ import annotations

import importlib
import re

from infractl import tfdocs

from .conftest import INFRA, REPO

# botocore service name -> VPC endpoint service name (com.amazonaws.<region>.<name>)
ENDPOINT_FOR = {
    "s3": "s3",
    "cloudwatch": "monitoring",
    "ecs": "ecs",
    "secretsmanager": "secretsmanager",
    "logs": "logs",
    "application-autoscaling": "application-autoscaling",
    "sts": "sts",
    "ssm": "ssm",
    "kms": "kms",
    "events": "events",
    "ecr": "ecr.api",
    "efs": "elasticfilesystem",
    "sqs": "sqs",
    "sns": "sns",
    "elbv2": "elasticloadbalancing",
}

# What the services must declare at least (so this test can fail on a missing declaration, not only on a gap).
MINIMUM = {"s3", "cloudwatch", "ecs", "secretsmanager"}


def declared_apis() -> dict[str, dict[str, frozenset[str]]]:
    """module name -> AWS_APIS, for every module under services/ that defines one."""
    found: dict[str, dict[str, frozenset[str]]] = {}
    for path in sorted((REPO / "services").rglob("*.py")):
        if "AWS_APIS" not in path.read_text() or path.name == "aws.py":  # aws.py defines the type only
            continue
        if not re.search(r"^AWS_APIS\b", path.read_text(), re.MULTILINE):
            continue
        name = ".".join(path.relative_to(REPO / "services").with_suffix("").parts)
        found[name] = dict(importlib.import_module(name).AWS_APIS)
    return found


def network_endpoints() -> set[str]:
    default = tfdocs.variable_default(INFRA / "modules" / "network", "interface_endpoints")
    assert default, "network module lost its interface_endpoints default"
    return set(re.findall(r'"([a-z0-9.-]+)"', default)) | {"s3"}  # s3: gateway endpoint


def test_every_declared_api_has_a_vpc_endpoint() -> None:
    apis = declared_apis()
    endpoints = network_endpoints()
    missing = []
    for module, services in apis.items():
        for service, ops in services.items():
            assert ops, f"{module}: AWS_APIS[{service!r}] lists no operations"
            endpoint = ENDPOINT_FOR.get(service)
            if endpoint is None:
                missing.append(f"{module}: {service} (add it to ENDPOINT_FOR here and to the network module)")
            elif endpoint not in endpoints:
                missing.append(f"{module}: {service} -> {endpoint}")
    assert not missing, missing


def test_services_declare_the_expected_apis() -> None:
    apis = declared_apis()
    services = {s for mod in apis.values() for s in mod}
    assert services >= MINIMUM, f"missing declarations: {MINIMUM - services}"
    dagsync = {s for m, v in apis.items() if m.startswith("dagsync.") for s in v}
    scaler = {s for m, v in apis.items() if m.startswith("scaler.") for s in v}
    assert "s3" in dagsync
    # the DB secret → URL module shared by the scaler and the healthcheck
    assert apis["platform_common.secrets"] == {"secretsmanager": frozenset({"GetSecretValue"})}
    for user in ("scaler/runner.py", "healthcheck/probes.py"):
        assert "from platform_common.secrets import" in (REPO / "services" / user).read_text(), user
    assert {"cloudwatch", "ecs"} <= scaler
    scaler_ops = {op for m, v in apis.items() if m.startswith("scaler.") for op in v.get("ecs", ())}
    assert {"UpdateService", "UpdateTaskProtection"} <= scaler_ops


def test_issue_endpoints_present() -> None:
    assert network_endpoints() >= {
        "s3", "ecr.api", "ecr.dkr", "logs", "events", "sts", "secretsmanager", "ssm", "elasticfilesystem", "kms",
        "monitoring", "ecs",
    }  # fmt: skip
