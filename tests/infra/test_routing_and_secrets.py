"""The ALB's routing (machine paths without OIDC, the health aggregator under /platform) and the healthcheck's DB
secret wiring, read from the dev plan against the emulator (docs/adr/0006-secrets-and-sso.md)."""

from __future__ import annotations

from typing import Any

from .test_iam import as_list, role_policies


def _resources(plan: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {rc["address"]: rc["change"]["after"] for rc in plan["resource_changes"] if rc["type"] == rtype}


def _paths(rule: dict[str, Any]) -> list[str]:
    return [v for c in rule["condition"] for pp in c.get("path_pattern", []) for v in pp["values"]]


def test_machine_paths_bypass_oidc_and_the_healthcheck_has_its_prefix(dev_plan: dict[str, Any]) -> None:
    rules = _resources(dev_plan, "aws_lb_listener_rule")
    machine = rules["module.edge.aws_lb_listener_rule.machine"]
    assert {"/auth/token", "/api/v2/*", "/execution/*"} <= set(_paths(machine))
    assert [a["type"] for a in machine["action"]] == ["forward"]  # no authenticate-oidc: Airflow's JWT auth
    status = rules["module.edge.aws_lb_listener_rule.status"]
    assert set(_paths(status)) == {"/status", "/status/*", "/platform", "/platform/*"}
    assert len(_paths(status)) <= 5 and len(_paths(machine)) <= 5  # ALB limit per rule
    # both rules outrank the listener's default action (OIDC + Airflow UI); the machine rule is checked first
    assert machine["priority"] < status["priority"]


def test_oidc_on_puts_sso_only_in_front_of_people_paths() -> None:
    """Static check of the edge module: with OIDC set, the listener default and the healthcheck rule authenticate,
    the machine rule does not."""
    from .conftest import INFRA

    text = (INFRA / "modules" / "edge" / "main.tf").read_text()
    machine = text.split('resource "aws_lb_listener_rule" "machine"', 1)[1].split("\nresource ", 1)[0]
    status = text.split('resource "aws_lb_listener_rule" "status"', 1)[1].split("\nresource ", 1)[0]
    listener = text.split('resource "aws_lb_listener" "https"', 1)[1].split("\nresource ", 1)[0]
    assert "authenticate-oidc" not in machine
    assert "authenticate-oidc" in status and "authenticate-oidc" in listener


def test_healthcheck_and_scaler_read_only_the_db_secret(dev_plan: dict[str, Any]) -> None:
    """IAM of the DB-secret readers (their env is checked on the applied task definitions, test_emulated)."""
    docs = dict(role_policies(dev_plan))
    for svc in ("healthcheck", "scaler"):
        by_sid = {s["Sid"]: s for s in docs[f'module.compute.aws_iam_role_policy.task["{svc}"]']["Statement"]}
        secret = by_sid["DbMasterSecret"]
        assert secret["Action"] == ["secretsmanager:GetSecretValue"]
        assert ":secret:rds!db-" in secret["Resource"]
        assert (
            "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn" in secret["Condition"]["StringEquals"]
        )
        key = by_sid["DbMasterSecretKey"]
        assert key["Action"] == ["kms:Decrypt"]
        assert key["Condition"]["StringLike"] == {"kms:EncryptionContext:SecretARN": secret["Resource"]}
        assert key["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.us-east-1.amazonaws.com"
        others = [s for s in as_list(docs[f'module.compute.aws_iam_role_policy.task["{svc}"]']["Statement"])]
        assert sum("secretsmanager:GetSecretValue" in as_list(s["Action"]) for s in others) == 1
