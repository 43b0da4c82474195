"""The FAB users' secrets in the dev plan (infra/modules/compute/auth.tf, docs/adr/0006-secrets-and-sso.md): the admin
and CI secrets exist, encrypted with the env's key, and only the migration task's execution role may read them.
The applied task definitions (the migrate container's secrets, the api-server's auth manager) are checked on the
local stack: tests/e2e/test_auth.py."""

from __future__ import annotations

import json
from typing import Any

from .test_iam import as_list, role_policies

AUTH_SECRETS = ("acme-airflow-dev-airflow-admin", "acme-airflow-dev-airflow-ci")


def _change(plan: dict[str, Any], address: str) -> dict[str, Any]:
    found = [rc["change"] for rc in plan["resource_changes"] if rc["address"] == address]
    assert found, f"{address} not in the dev plan"
    return dict(found[0])


def test_admin_and_ci_secrets_are_planned_with_the_env_key(dev_plan: dict[str, Any]) -> None:
    for kind, name in zip(("admin", "ci"), AUTH_SECRETS, strict=True):
        change = _change(dev_plan, f'module.compute.aws_secretsmanager_secret.auth["{kind}"]')
        assert change["after"]["name"] == name
        # the env's CMK (modules/security; unknown until applied), never the AWS-managed default key
        assert change["after_unknown"].get("kms_key_id") is True, change["after"].get("kms_key_id")
        _change(dev_plan, f'module.compute.aws_secretsmanager_secret_version.auth["{kind}"]')


def test_only_the_migration_task_reads_the_users_secrets(dev_plan: dict[str, Any]) -> None:
    readers = {}
    for address, doc in role_policies(dev_plan):
        for s in as_list(doc["Statement"]):
            if "secretsmanager:GetSecretValue" not in as_list(s["Action"]):
                continue
            for r in as_list(s["Resource"]):
                for name in AUTH_SECRETS:
                    if f":secret:{name}-" in r:
                        readers.setdefault(name, set()).add(address)
                        assert r.endswith(f":secret:{name}-??????"), r  # exactly that secret, any suffix
    expected = {'module.compute.aws_iam_role_policy.execution["migrate"]'}
    assert readers == dict.fromkeys(AUTH_SECRETS, expected), readers


def test_task_definitions_carry_the_users_secrets_only_in_migrate(dev_plan: dict[str, Any]) -> None:
    """Where the plan knows the container definitions, only the migrate container gets AIRFLOW_ADMIN_*/CI_*; and no
    task definition overrides the image's auth manager (images/airflow/airflow.env: FAB)."""
    for rc in dev_plan["resource_changes"]:
        if rc["type"] != "aws_ecs_task_definition":
            continue
        raw = rc["change"]["after"].get("container_definitions")
        if not isinstance(raw, str):
            continue  # unknown at plan time (secret ARNs): tests/e2e/test_auth.py reads the applied ones
        for c in json.loads(raw):
            names = {e["name"] for e in c.get("environment", [])} | {s["name"] for s in c.get("secrets", [])}
            assert "AIRFLOW__CORE__AUTH_MANAGER" not in names, (rc["address"], c["name"])
            if c["name"] != "migrate":
                assert not {n for n in names if n.startswith(("AIRFLOW_ADMIN_", "AIRFLOW_CI_"))}, c["name"]
