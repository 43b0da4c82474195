"""Least privilege over the plan JSON, and docs/iam/ current with it (`make iam-docs`)."""

from __future__ import annotations

import json
from typing import Any

from infractl import iamdocs

from .conftest import REPO

# Actions AWS defines without a resource type: Resource "*" is the only option (and we add a condition when one exists).
NO_RESOURCE_TYPE = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", "cloudwatch:GetMetricData"}
NEEDS_CONDITION = {"cloudwatch:PutMetricData"}


def role_policies(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for rc in plan["resource_changes"]:
        if rc["type"] in ("aws_iam_role_policy", "aws_iam_policy"):
            raw = rc["change"]["after"].get("policy")
            assert isinstance(raw, str), f"{rc['address']}: policy must be known at plan time"
            out.append((rc["address"], json.loads(raw)))
    return out


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def test_no_wildcard_actions_and_scoped_resources(dev_plan: dict[str, Any]) -> None:
    policies = role_policies(dev_plan)
    assert len(policies) >= 15  # execution + task role per service, flow logs
    for address, doc in policies:
        for s in as_list(doc["Statement"]):
            assert s["Effect"] == "Allow", (address, s)
            assert "NotAction" not in s and "NotResource" not in s, (address, s)
            actions = as_list(s["Action"])
            for a in actions:
                assert a != "*" and not a.endswith(":*"), f"{address}: wildcard action {a}"
            for r in as_list(s["Resource"]):
                if r == "*":
                    assert set(actions) <= NO_RESOURCE_TYPE, f"{address}: Resource * for {actions}"
                    if set(actions) & NEEDS_CONDITION:
                        assert s.get("Condition"), f"{address}: {actions} on * without a condition"
                else:
                    assert r.startswith("arn:aws:"), (address, r)
                    assert r not in ("arn:aws:s3:::*", "arn:aws:kms:*"), (address, r)


def test_no_aws_managed_policy_attachments(dev_plan: dict[str, Any]) -> None:
    types = {rc["type"] for rc in dev_plan["resource_changes"]}
    assert "aws_iam_role_policy_attachment" not in types


def test_roles_are_per_service_and_trust_only_this_account(dev_plan: dict[str, Any]) -> None:
    roles = {
        rc["change"]["after"]["name"]: rc
        for rc in dev_plan["resource_changes"]
        if rc["type"] == "aws_iam_role"
    }
    for svc in ("api-server", "scheduler", "dag-processor", "triggerer", "worker", "scaler", "healthcheck"):
        for kind in ("exec", "task"):
            assert f"acme-airflow-dev-{svc}-{kind}" in roles
    for name, rc in roles.items():
        trust = json.loads(rc["change"]["after"]["assume_role_policy"])
        for s in as_list(trust["Statement"]):
            assert "aws:SourceAccount" in json.dumps(s.get("Condition", {})), name


def test_scaler_can_drive_only_the_worker_service(dev_plan: dict[str, Any]) -> None:
    doc = dict(role_policies(dev_plan))['module.compute.aws_iam_role_policy.task["scaler"]']
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert set(by_sid["WorkerService"]["Action"]) == {"ecs:DescribeServices", "ecs:UpdateService"}
    assert by_sid["WorkerService"]["Resource"].endswith(
        ":service/acme-airflow-dev-cluster/acme-airflow-dev-worker"
    )
    assert set(by_sid["WorkerTaskProtection"]["Action"]) >= {
        "ecs:UpdateTaskProtection",
        "ecs:GetTaskProtection",
    }
    assert by_sid["PublishMetrics"]["Condition"]["StringEquals"]["cloudwatch:namespace"] == "Airflow/Scaler"


def test_iam_docs_current(dev_plan: dict[str, Any]) -> None:
    """docs/iam/ is what `make iam-docs` renders from today's dev plan."""
    files = iamdocs.render("dev", dev_plan)
    for name, content in files.items():
        path = REPO / "docs" / "iam" / name
        assert path.is_file(), f"{path} missing: run `make iam-docs`"
        assert path.read_text() == content, f"{path} stale: run `make iam-docs`"
    data = json.loads(files["dev.json"])
    assert len(data["roles"]) == 16  # 7 services x (task + execution), the migration's execution role, flow logs
    assert "123456789012" not in files["dev.md"]


def _after(plan: dict[str, Any], address: str) -> dict[str, Any]:
    return next(rc["change"]["after"] for rc in plan["resource_changes"] if rc["address"] == address)


def test_sidecars_read_only_their_env_prefix_of_the_org_dag_bucket(dev_plan: dict[str, Any]) -> None:
    """Product contract: sidecars pull s3://<org>-airflow-dags/<env>/ (docs/adr/0009); plugins/<env>/ is not theirs."""
    docs = dict(role_policies(dev_plan))
    for svc in ("api-server", "scheduler", "dag-processor", "triggerer", "worker"):
        by_sid = {s["Sid"]: s for s in docs[f'module.compute.aws_iam_role_policy.task["{svc}"]']["Statement"]}
        assert by_sid["DagBundleObjects"]["Resource"] == ["arn:aws:s3:::acme-airflow-dags/dev/*"]
        assert by_sid["DagBundleList"]["Resource"] == "arn:aws:s3:::acme-airflow-dags"
        assert by_sid["DagBundleList"]["Condition"] == {"StringLike": {"s3:prefix": ["dev/*"]}}
        key = by_sid["DagBundleKey"]
        assert key["Action"] == ["kms:Decrypt"]
        assert key["Condition"]["ForAnyValue:StringEquals"] == {
            "kms:ResourceAliases": ["alias/acme-airflow-dags"]
        }
        assert key["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    # DAGSYNC_SOURCE is checked on the applied task definitions (test_emulated); the plan knows it only as output
    assert dev_plan["planned_values"]["outputs"]["dags_source"]["value"] == "s3://acme-airflow-dags/dev/"
    assert not any("acme-airflow-dev-dags" in json.dumps(d) for d in docs.values())
    assert not any(
        rc["type"] == "aws_s3_bucket" and "dags" in rc["change"]["after"]["bucket"]
        for rc in dev_plan["resource_changes"]
    ), "the DAG bucket is org-wide (infra/bootstrap), not per env"


def test_s3_endpoint_reads_only_the_env_prefix_of_the_dag_bucket(dev_plan: dict[str, Any]) -> None:
    policy = json.loads(_after(dev_plan, "module.network.aws_vpc_endpoint.s3")["policy"])
    stmts = as_list(policy["Statement"])
    dag = [s for s in stmts if "acme-airflow-dags" in json.dumps(s["Resource"])]
    assert {s["Sid"] for s in dag} >= {"ReadPrefixObjects"}
    for s in dag:
        actions = set(as_list(s["Action"]))
        assert not actions & {"s3:PutObject", "s3:DeleteObject"}, s
        if "s3:ListBucket" in actions:
            assert s["Resource"] == "arn:aws:s3:::acme-airflow-dags"
            assert s["Condition"]["StringLike"]["s3:prefix"] == "dev/*"
        else:
            assert s["Resource"] == "arn:aws:s3:::acme-airflow-dags/dev/*"
