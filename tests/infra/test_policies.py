"""Each Rego rule denies a bad plan and passes the real dev plan (regopy here; the same files run under conftest)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from infractl import gate

from .conftest import INFRA

POLICIES = gate.load_policies(INFRA / "policies")


def denies(plan: dict[str, Any]) -> list[str]:
    return gate.evaluate(plan, POLICIES)


def add(plan: dict[str, Any], rtype: str, after: dict[str, Any], name: str = "bad", module: str | None = None,
        index: Any = None) -> dict[str, Any]:  # fmt: skip
    plan = copy.deepcopy(plan)
    rc: dict[str, Any] = {
        "address": f"{module + '.' if module else ''}{rtype}.{name}",
        "mode": "managed",
        "type": rtype,
        "name": name,
        "change": {"actions": ["create"], "after": after, "after_unknown": {}},
    }
    if module:
        rc["module_address"] = module
    if index is not None:
        rc["index"] = index
    plan["resource_changes"].append(rc)
    return plan


def mutate(plan: dict[str, Any], rtype: str, **changes: Any) -> dict[str, Any]:
    plan = copy.deepcopy(plan)
    hit = False
    for rc in plan["resource_changes"]:
        if rc["type"] == rtype:
            rc["change"]["after"].update(changes)
            for k in changes:
                rc["change"].setdefault("after_unknown", {}).pop(k, None)
            hit = True
    assert hit, rtype
    return plan


def drop(plan: dict[str, Any], rtype: str) -> dict[str, Any]:
    plan = copy.deepcopy(plan)
    plan["resource_changes"] = [rc for rc in plan["resource_changes"] if rc["type"] != rtype]
    return plan


def test_real_dev_plan_passes_every_policy(dev_plan: dict[str, Any]) -> None:
    assert len(dev_plan["resource_changes"]) > 150
    assert denies(dev_plan) == []


def test_policy_packages() -> None:
    assert {p.package for p in POLICIES} >= {
        "terraform.network", "terraform.ingress", "terraform.encryption", "terraform.health", "terraform.backups",
    }  # fmt: skip
    for p in POLICIES:
        assert ("import rego.v1" in p.source and " if " in p.source) or "if {" in p.source


@pytest.mark.parametrize("rtype", ["aws_nat_gateway", "aws_internet_gateway"])
def test_nat_or_igw_denied_without_public_demo(dev_plan: dict[str, Any], rtype: str) -> None:
    bad = add(dev_plan, rtype, {"tags": {}})
    assert any("[network]" in d and rtype in d for d in denies(bad))
    demo = copy.deepcopy(bad)
    demo["variables"]["public_demo"]["value"] = True
    assert denies(demo) == []


def test_open_ingress_denied(dev_plan: dict[str, Any]) -> None:
    for rtype, after in (
        ("aws_vpc_security_group_ingress_rule", {"cidr_ipv4": "0.0.0.0/0", "from_port": 443}),
        ("aws_vpc_security_group_ingress_rule", {"cidr_ipv6": "::/0"}),
        (
            "aws_security_group_rule",
            {"type": "ingress", "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": None},
        ),
        ("aws_security_group", {"ingress": [{"cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"]}]}),
    ):
        found = denies(add(dev_plan, rtype, after))
        assert any("[ingress]" in d for d in found), (rtype, found)
    # egress to anywhere is not an ingress finding
    assert (
        denies(add(dev_plan, "aws_security_group_rule", {"type": "egress", "cidr_blocks": ["0.0.0.0/0"]}))
        == []
    )


@pytest.mark.parametrize(
    ("rtype", "changes", "needle"),
    [
        ("aws_db_instance", {"kms_key_id": None}, "kms_key_id unset"),
        ("aws_db_instance", {"storage_encrypted": False}, "storage_encrypted is false"),
        (
            "aws_elasticache_replication_group",
            {"at_rest_encryption_enabled": "false"},
            "at_rest_encryption_enabled",
        ),
        ("aws_elasticache_replication_group", {"transit_encryption_enabled": False}, "TLS in transit"),
        ("aws_efs_file_system", {"kms_key_id": ""}, "kms_key_id unset"),
        ("aws_sns_topic", {"kms_master_key_id": None}, "kms_master_key_id unset"),
        ("aws_cloudwatch_log_group", {"kms_key_id": None}, "kms_key_id unset"),
        ("aws_secretsmanager_secret", {"kms_key_id": None}, "kms_key_id unset"),
    ],
)
def test_store_without_cmk_denied(
    dev_plan: dict[str, Any], rtype: str, changes: dict[str, Any], needle: str
) -> None:
    found = denies(mutate(dev_plan, rtype, **changes))
    assert any("[encryption]" in d and needle in d for d in found), found


def test_bucket_without_sse_kms_denied(dev_plan: dict[str, Any]) -> None:
    found = denies(drop(dev_plan, "aws_s3_bucket_server_side_encryption_configuration"))
    assert sum("bucket without SSE-KMS" in d for d in found) == 1  # logs; the DAG bucket is in bootstrap
    aes = mutate(
        dev_plan,
        "aws_s3_bucket_server_side_encryption_configuration",
        rule=[
            {
                "apply_server_side_encryption_by_default": [
                    {"sse_algorithm": "AES256", "kms_master_key_id": ""}
                ]
            }
        ],
    )
    assert sum("bucket without SSE-KMS" in d for d in denies(aes)) == 1


def test_health_floors_and_idle_timeout_denied(dev_plan: dict[str, Any]) -> None:
    found = denies(mutate(dev_plan, "aws_lb", idle_timeout=60))
    assert any("[health]" in d and "idle_timeout 60" in d for d in found), found
    hc = [{"interval": 10, "timeout": 2, "unhealthy_threshold": 2, "path": "/"}]
    found = denies(mutate(dev_plan, "aws_lb_target_group", health_check=hc))
    for key in ("interval", "timeout", "unhealthy_threshold"):
        assert any(f"health_check.{key}" in d for d in found), (key, found)
    containers = [
        {"name": "scheduler", "essential": True,
         "healthCheck": {"command": ["CMD", "true"], "startPeriod": 30, "interval": 10, "retries": 2, "timeout": 5}},
        {"name": "nohc", "essential": True},
    ]  # fmt: skip
    found = denies(mutate(dev_plan, "aws_ecs_task_definition", container_definitions=json.dumps(containers)))
    for key in ("startPeriod", "interval", "retries"):
        assert any(f"healthCheck.{key}" in d for d in found), (key, found)
    assert any("nohc has no health check" in d for d in found)


def test_dagsync_sidecar_check_may_run_every_5s_airflow_containers_not(dev_plan: dict[str, Any]) -> None:
    """The sidecar's cheap check gates every Airflow container's start, so its floor is the ECS minimum (5 s); the
    Airflow containers' checks import Airflow and keep the 30 s floor; the sidecar keeps the other floors."""

    def found(name: str, **check: int) -> list[str]:
        hc = {
            "command": ["CMD", "dagsync", "check"],
            "startPeriod": 120,
            "interval": 30,
            "retries": 5,
            **check,
        }
        containers = json.dumps([{"name": name, "essential": name != "dagsync", "healthCheck": hc}])
        return [d for d in denies(mutate(dev_plan, "aws_ecs_task_definition", container_definitions=containers))
                if "healthCheck." in d]  # fmt: skip

    assert found("dagsync", interval=5) == []
    assert any("container dagsync healthCheck.interval 4 < 5" in d for d in found("dagsync", interval=4))
    assert any(
        "container dagsync healthCheck.startPeriod 30 < 120" in d for d in found("dagsync", startPeriod=30)
    )
    assert any(
        "container scheduler healthCheck.interval 10 < 30" in d for d in found("scheduler", interval=10)
    )


def test_one_off_migration_task_needs_no_health_check_but_no_service_may_run_it(
    dev_plan: dict[str, Any],
) -> None:
    """The migration runs to completion (TaskKind = one-off): exempt from the health-check rule, which still holds
    for every other task definition; and no ECS service may run it."""
    containers = json.dumps([{"name": "migrate", "essential": True, "command": ["migrate"]}])
    found = denies(mutate(dev_plan, "aws_ecs_task_definition", container_definitions=containers))
    migrate = 'aws_ecs_task_definition.this["migrate"]'
    assert not any(migrate in d for d in found), found
    assert any('aws_ecs_task_definition.this["scheduler"]' in d and "has no health check" in d for d in found)
    td = "arn:aws:ecs:us-east-1:123456789012:task-definition/acme-airflow-dev-migrate:3"
    found = denies(mutate(dev_plan, "aws_ecs_service", task_definition=td))
    assert any("runs the one-off migration task definition" in d for d in found), found


def test_missing_backups_denied(dev_plan: dict[str, Any]) -> None:
    found = denies(mutate(dev_plan, "aws_db_instance", backup_retention_period=1))
    assert any("[backups]" in d and "backup_retention_period 1 < 7" in d for d in found), found
    prod = mutate(dev_plan, "aws_db_instance", backup_retention_period=7, deletion_protection=False)
    for rc in prod["resource_changes"]:
        if rc["type"] == "aws_db_instance":
            rc["change"]["after"].setdefault("tags_all", {})["Env"] = "prod"
    found = denies(prod)
    assert any("7 < 14" in d for d in found) and any("deletion protection" in d for d in found), found
    assert any(
        "snapshots" in d
        for d in denies(mutate(dev_plan, "aws_elasticache_replication_group", snapshot_retention_limit=0))
    )
    assert any(
        "EFS without an enabled backup policy" in d for d in denies(drop(dev_plan, "aws_efs_backup_policy"))
    )
    disabled = mutate(dev_plan, "aws_efs_backup_policy", backup_policy=[{"status": "DISABLED"}])
    assert any("EFS without" in d for d in denies(disabled))
    assert sum("without versioning" in d for d in denies(drop(dev_plan, "aws_s3_bucket_versioning"))) == 1


def test_deleted_resources_are_not_judged(dev_plan: dict[str, Any]) -> None:
    plan = add(dev_plan, "aws_nat_gateway", {})
    plan["resource_changes"][-1]["change"]["actions"] = ["delete"]
    assert denies(plan) == []


def test_oidc_without_idp_egress_denied(dev_plan: dict[str, Any]) -> None:
    """[sso]: an authenticate-oidc action needs 443 egress from the ALB to the IdP (infra/policies/sso.rego)."""
    oidc = {"default_action": [{"type": "authenticate-oidc", "order": 1}, {"type": "forward", "order": 2}]}
    bad = add(dev_plan, "aws_lb_listener", oidc, name="sso", module="module.edge")
    assert any("[sso]" in d and "module.edge.aws_lb_listener.sso" in d for d in denies(bad)), denies(bad)
    rule = add(
        dev_plan, "aws_lb_listener_rule", {"action": [{"type": "authenticate-oidc"}]}, module="module.edge"
    )
    assert any("[sso]" in d for d in denies(rule))
    to_idp = {"ip_protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_ipv4": "10.200.0.0/24",
              "description": "OIDC: HTTPS to the IdP"}  # fmt: skip
    ok = add(bad, "aws_vpc_security_group_egress_rule", to_idp, name="idp", module="module.edge")
    assert denies(ok) == []
    elsewhere = add(bad, "aws_vpc_security_group_egress_rule", to_idp, name="idp", module="module.network")
    assert any("[sso]" in d for d in denies(elsewhere))  # egress of another module's group does not count
    wrong_port = add(bad, "aws_vpc_security_group_egress_rule", {**to_idp, "from_port": 8443, "to_port": 8443},
                     name="idp", module="module.edge")  # fmt: skip
    assert any("[sso]" in d for d in denies(wrong_port))
    open_egress = add(ok, "aws_vpc_security_group_egress_rule", {**to_idp, "cidr_ipv4": "0.0.0.0/0"}, name="any",
                      module="module.edge")  # fmt: skip
    assert any("OIDC egress to 0.0.0.0/0" in d for d in denies(open_egress))
