"""`infra` CLI: one clear line for a missing binary, bad credentials or a failed gate; the gate refuses an apply."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import pytest

from platform_common.exitcodes import DENIED, FAILED, OK, USAGE

from .conftest import INFRA_BIN, REPO, Emulated, copy_infra, tf_env


def run(args: list[str], env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INFRA_BIN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("infra: error: ")
    assert "Traceback" not in r.stderr
    return lines[0]


def test_missing_binary_is_one_line(tmp_path: Path) -> None:
    env = tf_env({"PATH": str(tmp_path)})  # neither tofu nor terraform
    r = run(["plan", "dev"], env)
    assert r.returncode == USAGE
    assert "neither `tofu` nor `terraform`" in one_line_error(r)


def test_unknown_env_is_one_line() -> None:
    r = run(["plan", "staging"], tf_env())
    assert r.returncode == USAGE
    assert "unknown environment 'staging'" in one_line_error(r)


def test_bad_credentials_are_one_line(tmp_path: Path) -> None:
    env = tf_env(
        {
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    r = run(["plan", "dev"], env)
    assert r.returncode == USAGE
    assert "AWS credentials not usable" in one_line_error(r)


def test_emulated_without_endpoint_is_one_line() -> None:
    r = run(["--emulated", "plan", "dev"], tf_env())
    assert r.returncode == USAGE
    assert "AWS_ENDPOINT_URL" in one_line_error(r)


def test_gate_command_lists_denies_and_fails(dev_plan: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    bad = json.loads(json.dumps(dev_plan))
    bad["resource_changes"].append(
        {"address": "aws_nat_gateway.x", "mode": "managed", "type": "aws_nat_gateway", "name": "x",
         "change": {"actions": ["create"], "after": {}, "after_unknown": {}}}
    )  # fmt: skip
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(bad))
    r = run(["gate", str(path)], tf_env())
    assert r.returncode == DENIED
    assert "policy gate: 1 deny(s):" in r.stderr and "aws_nat_gateway.x" in r.stderr
    path.write_text(json.dumps(dev_plan))
    assert run(["gate", str(path)], tf_env()).returncode == OK


TINY_ROOT = """
variable "env" {
  type = string
}

variable "public_demo" {
  type    = bool
  default = false
}

variable "enable_access_analyzer" {
  type    = bool
  default = true
}

provider "aws" {
  region = "us-east-1"
}

resource "aws_vpc" "this" {
  cidr_block = "10.77.0.0/16"
  tags       = { Name = "acme-airflow-tiny-vpc" }
}
"""


def tiny_infra(tmp_path: Path) -> Path:
    """A private infra copy whose root module is one VPC, with one env `tiny`: the CLI's path in seconds."""
    infra = copy_infra(tmp_path / "infra")
    for p in (infra / "platform").glob("*.tf"):
        p.unlink()
    (infra / "platform" / "main.tf").write_text(TINY_ROOT)
    (infra / "envs" / "tiny").mkdir()
    (infra / "envs" / "tiny" / "settings.tfvars").write_text('env = "tiny"\n')
    return infra


@pytest.mark.timeout(300)
def test_apply_refused_when_gate_denies(emulated_dev: Emulated, tmp_path: Path) -> None:
    """A policy that denies every VPC: apply stops after the plan, lists the deny, creates nothing.

    Runs on a one-resource env in a private infra copy (same CLI path as dev, seconds instead of a full plan)."""
    infra = tiny_infra(tmp_path)
    (infra / "policies" / "zz_no_vpc.rego").write_text(
        "package terraform.zz_no_vpc\n\nimport rego.v1\n\ndeny contains msg if {\n\tsome rc in input.resource_changes\n"
        '\trc.type == "aws_vpc"\n\tmsg := sprintf("%s: test policy", [rc.address])\n}\n'
    )
    env = {**emulated_dev.env, "INFRA_DIR": str(infra)}
    r = run(["--emulated", "--yes", "apply", "tiny"], env)
    assert r.returncode == DENIED, r.stderr[-2000:]
    assert "[zz_no_vpc] aws_vpc.this: test policy" in r.stderr
    assert "refusing to apply tiny" in r.stderr
    ec2 = boto3.client("ec2", endpoint_url=emulated_dev.moto.url, region_name="us-east-1",
                       aws_access_key_id="t", aws_secret_access_key="t")  # fmt: skip
    tagged = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["acme-airflow-tiny-vpc"]}])["Vpcs"]
    assert tagged == []


# ------------------------------------------------------- exit codes: platform_common/exitcodes.py, one scheme
def test_bad_flag_is_usage() -> None:
    r = run(["plan", "dev", "--no-such-flag"], tf_env())
    assert r.returncode == USAGE and "unrecognized arguments" in r.stderr


def test_settings_of_another_env_is_usage(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path / "infra")
    settings = infra / "envs" / "dev" / "settings.tfvars"
    settings.write_text(settings.read_text().replace('env = "dev"', 'env = "prod"'))
    r = run(["plan", "dev"], tf_env({"INFRA_DIR": str(infra)}))
    assert r.returncode == USAGE
    assert 'must set env = "dev"' in one_line_error(r)


def test_tfvars_in_the_root_module_is_usage(tmp_path: Path) -> None:
    """infra/platform is every env's root: a terraform.tfvars there would apply to all of them."""
    infra = copy_infra(tmp_path / "infra")
    (infra / "platform" / "terraform.tfvars").write_text('org = "acme"\n')
    r = run(["plan", "dev"], tf_env({"INFRA_DIR": str(infra)}))
    assert r.returncode == USAGE
    assert "would apply to every env: move it to infra/envs/dev/" in one_line_error(r)


def test_failed_init_is_failed(tmp_path: Path) -> None:
    infra = tiny_infra(tmp_path)
    with (infra / "platform" / "main.tf").open("a") as f:
        f.write('terraform {\n  backend "s3" {}\n}\n')  # partial, as infra/platform/versions.tf
    (infra / "envs" / "tiny" / "backend.hcl").write_text('no_such_backend_argument = "x"\n')
    r = run(["init", "tiny"], tf_env({"INFRA_DIR": str(infra)}))
    assert r.returncode == FAILED, r.stderr[-2000:]
    assert "infra: error: init failed for tiny" in r.stderr


@pytest.mark.timeout(300)
def test_failed_plan_is_failed_and_envs_keep_their_own_data_dirs(tmp_path: Path, aws_env: str) -> None:
    infra = tiny_infra(tmp_path)
    root = infra / "platform" / "main.tf"
    root.write_text(
        root.read_text().replace('"10.77.0.0/16"', "var.cidr") + 'variable "cidr" {\n  type = string\n}\n'
    )
    (infra / "envs" / "tiny" / "settings.tfvars").write_text('env  = "tiny"\ncidr = "not-a-cidr"\n')
    env = tf_env({"INFRA_DIR": str(infra), "AWS_ENDPOINT_URL": aws_env})
    r = run(["--emulated", "plan", "tiny"], env)
    assert r.returncode == FAILED, r.stderr[-2000:]
    assert "infra: error: plan failed for tiny" in r.stderr
    # the emulated run planned a private copy of the root: the override never lands in infra/platform
    assert not (infra / "platform" / "emulated_override.tf").exists()
    assert (infra / "envs" / "tiny" / ".infra" / "emulated" / ".terraform").is_dir()
    (infra / "envs" / "tiny" / "settings.tfvars").write_text('env  = "tiny"\ncidr = "10.77.0.0/16"\n')
    assert run(["--emulated", "plan", "tiny"], env).returncode == OK
