"""SSO over private routing (modules/edge, infra/policies/sso.rego): with OIDC on, the ALB's security group allows
443 to exactly the IdP's CIDRs and prefix lists, and the gate refuses OIDC without them. Planned for real against
the moto server (the OIDC client secret lives in its Secrets Manager); the gate runs on that plan JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from infractl import gate

from devtools.servers import Server

from .conftest import INFRA, tf_binary, tf_env

POLICIES = gate.load_policies(INFRA / "policies")
ENDPOINTS = ("ec2", "elbv2", "secretsmanager", "sts", "iam")


def root(endpoint: str, oidc: dict[str, Any] | None) -> str:
    eps = "\n".join(f'    {e} = "{endpoint}"' for e in ENDPOINTS)
    return f"""
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  max_retries                 = 1
  endpoints {{
{eps}
  }}
}}

module "edge" {{
  source                  = "./edge"
  name_prefix             = "acme-airflow-dev"
  vpc_id                  = "vpc-0123456789abcdef0"
  subnet_ids              = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  allowed_cidrs           = ["10.40.0.0/16"]
  tasks_security_group_id = "sg-0123456789abcdef0"
  certificate_arn         = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  deletion_protection     = false
  oidc                    = jsondecode({json.dumps(json.dumps(oidc))})
}}
"""


@pytest.fixture(scope="module")
def secret_arn(moto_server: Server) -> str:
    sm = boto3.client("secretsmanager", endpoint_url=moto_server.url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    return str(sm.create_secret(Name="acme-airflow-dev-oidc", SecretString="not-a-real-client-secret")["ARN"])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("edge-oidc")
    shutil.copytree(
        INFRA / "modules" / "edge", d / "edge", ignore=shutil.ignore_patterns(".terraform*", "examples")
    )
    (d / "main.tf").write_text(root("http://127.0.0.1:1", None))
    r = subprocess.run([tf_binary(), "init", "-backend=false", "-input=false", "-no-color"], cwd=d, env=tf_env(),
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return d


def plan(workdir: Path, moto: Server, oidc: dict[str, Any] | None) -> subprocess.CompletedProcess[str]:
    (workdir / "main.tf").write_text(root(moto.url, oidc))
    env = tf_env({"AWS_EC2_METADATA_DISABLED": "true"})
    r = subprocess.run([tf_binary(), "plan", "-input=false", "-no-color", "-out", "p.tfplan"], cwd=workdir,
                       env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    if r.returncode == 0:
        show = subprocess.run([tf_binary(), "show", "-json", "p.tfplan"], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert show.returncode == 0, show.stderr
        (workdir / "plan.json").write_text(show.stdout)
    return r


def oidc(secret_arn: str, **extra: Any) -> dict[str, Any]:
    return {
        "issuer": "https://sso.example.com", "authorization_endpoint": "https://sso.example.com/authorize",
        "token_endpoint": "https://sso.example.com/token", "user_info_endpoint": "https://sso.example.com/userinfo",
        "client_id": "airflow", "client_secret_arn": secret_arn, **extra,
    }  # fmt: skip


def egress(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        rc["change"]["after"]
        for rc in doc["resource_changes"]
        if rc["type"] == "aws_vpc_security_group_egress_rule"
    ]


def test_oidc_egress_is_exactly_the_idp(workdir: Path, moto_server: Server, secret_arn: str) -> None:
    r = plan(workdir, moto_server, oidc(secret_arn, idp_egress_cidrs=["10.200.0.0/24", "fd00:1::/64"],
                                        idp_egress_prefix_list_ids=["pl-0a1b2c3d4e5f67890"]))  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((workdir / "plan.json").read_text())
    to_idp = [e for e in egress(doc) if e.get("referenced_security_group_id") is None]
    dests = sorted(e.get("cidr_ipv4") or e.get("cidr_ipv6") or e.get("prefix_list_id") for e in to_idp)
    assert dests == ["10.200.0.0/24", "fd00:1::/64", "pl-0a1b2c3d4e5f67890"]
    assert all((e["ip_protocol"], e["from_port"], e["to_port"]) == ("tcp", 443, 443) for e in to_idp)
    assert gate.evaluate(doc, POLICIES) == []


def test_gate_refuses_oidc_without_a_route_to_the_idp(
    workdir: Path, moto_server: Server, secret_arn: str
) -> None:
    r = plan(workdir, moto_server, oidc(secret_arn))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((workdir / "plan.json").read_text())
    assert [e for e in egress(doc) if e.get("referenced_security_group_id") is None] == []
    denies = [d for d in gate.evaluate(doc, POLICIES) if "[sso]" in d]
    assert any("aws_lb_listener.https" in d and "idp_egress_cidrs" in d for d in denies), denies
    assert any("aws_lb_listener_rule.status" in d for d in denies), denies


def test_without_oidc_no_egress_and_no_deny(workdir: Path, moto_server: Server) -> None:
    r = plan(workdir, moto_server, None)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((workdir / "plan.json").read_text())
    assert [e for e in egress(doc) if e.get("referenced_security_group_id") is None] == []
    assert gate.evaluate(doc, POLICIES) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"idp_egress_cidrs": ["0.0.0.0/0"]}, "never 0.0.0.0/0"),
        ({"idp_egress_prefix_list_ids": ["sg-1"]}, "pl-"),
    ],
)
def test_module_rejects_open_or_malformed_idp_destinations(
    workdir: Path, moto_server: Server, secret_arn: str, extra: dict[str, Any], message: str
) -> None:
    r = plan(workdir, moto_server, oidc(secret_arn, **extra))
    assert r.returncode != 0 and message in " ".join(r.stderr.split()), r.stderr[-2000:]
