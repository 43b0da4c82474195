"""Restore drill (docs/runbooks/rds-restore.md) against the emulator: apply envs/dev, restore the metadata DB to
a point in time, swap the names, point the state at the restored instance, converge, and the following
`infra plan` is clean. Without the state step the plan would rename the old instance back (checked too).
The same apply checks EFS One Zone (as dev will set it) and its TLS + IAM file-system policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.servers import LOOPBACK, Server, _spawn, free_port

from .conftest import INFRA_BIN, REPO, copy_infra, import_certificate, tf_binary, tf_env

# emulated applies take minutes (apply, then a converge apply and two plans): bounded well above that
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

DB = "acme-airflow-dev-db"
DB_ADDR = "module.data.aws_db_instance.this"


def start_moto_with_rds_ids(state_dir: Path) -> Server:
    """devtools' patched moto server, plus unique DB resource ids (tests/infra/_moto_rds_restore.py), over HTTP."""
    port = free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import _moto_rds_restore; _moto_rds_restore.apply(); "
        "from devtools.moto_launcher import main; sys.argv = ['moto'] + sys.argv[2:]; main()"
    )
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", code, str(Path(__file__).parent), "-H", LOOPBACK, "-p", str(port)]
    proc, log = _spawn("moto", cmd, state_dir, port, 60, env=env)
    return Server("moto", proc.pid, port, f"http://{LOOPBACK}:{port}", state_dir, log, proc)


@dataclass
class Drill:
    moto: Server
    env_dir: Path
    env: dict[str, str]

    def client(self, name: str) -> Any:
        return boto3.client(name, endpoint_url=self.moto.url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip

    def tf(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """tofu as `infra --emulated` runs it for dev: its private root copy, data dir and settings."""
        root = self.env_dir / ".infra" / "emulated" / "platform"
        env = {**self.env, "TF_DATA_DIR": str(root.parent / ".terraform")}
        if args[0] in ("plan", "import"):
            args = (args[0], f"-var-file={self.env_dir / 'settings.tfvars'}", *args[1:])
        return subprocess.run([tf_binary(), *args], cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    def infra_plan(self, gate_may_deny: bool = False) -> dict[str, Any]:
        """`infra --emulated plan dev`; exit 3 (planned, the gate denied) is accepted where the question is only
        whether anything changes: the gate's verdict on the dev plan is tests/infra/test_policies.py's."""
        r = subprocess.run([INFRA_BIN, "--emulated", "--yes", "plan", "dev"], cwd=REPO, env=self.env,
                           capture_output=True, text=True, timeout=900)  # fmt: skip
        assert r.returncode == 0 or (gate_may_deny and r.returncode == 3), r.stderr[-4000:]
        return dict(json.loads((self.env_dir / ".infra" / "plan.json").read_text()))


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    # terraform's errors are on stderr; stdout's tail is resource progress (a failure once showed only that)
    assert r.returncode == 0, "\n".join([r.stderr[-4000:], "--- stdout tail ---", r.stdout[-800:]])
    return r


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    base = tmp_path_factory.mktemp("restore-drill")
    moto = start_moto_with_rds_ids(base / "moto")
    try:
        infra = copy_infra(base / "infra")
        env_dir = infra / "envs" / "dev"
        assert "efs_one_zone               = true" in (env_dir / "settings.tfvars").read_text()  # dev's EFS
        env = tf_env({"INFRA_DIR": str(infra), "AWS_ENDPOINT_URL": moto.url, "AWS_REGION": "us-east-1",
                      "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                      "TF_VAR_certificate_arn": import_certificate(moto.url), "INFRA_TF_PARALLELISM": "30"})  # fmt: skip
        d = Drill(moto, env_dir, env)
        d.infra_plan()  # init + the emulated override + plan (the gate passes)
        ok(
            d.tf(
                "apply",
                "-input=false",
                "-no-color",
                "-parallelism=30",
                str(env_dir / ".infra" / "plan.tfplan"),
                timeout=1200,
            )
        )
        yield d
    finally:
        moto.stop()


def test_efs_one_zone_with_tls_and_iam_policy(drill: Drill) -> None:
    efs = drill.client("efs")
    fs = next(
        f for f in efs.describe_file_systems()["FileSystems"] if f["CreationToken"] == "acme-airflow-dev-efs"
    )
    subnet = drill.client("ec2").describe_subnets(SubnetIds=[
        m["SubnetId"] for m in efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
    ])["Subnets"]  # fmt: skip
    assert len(subnet) == 1 and fs["AvailabilityZoneName"] == subnet[0]["AvailabilityZone"]
    policy = json.loads(efs.describe_file_system_policy(FileSystemId=fs["FileSystemId"])["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    tls = by_sid["DenyWithoutTls"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    iam = by_sid["IamPrincipalsOfTheAccountThroughMountTargets"]
    assert iam["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert sorted(iam["Action"]) == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert iam["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}
    assert not any(
        s["Effect"] == "Allow" and s["Principal"] in ("*", {"AWS": "*"}) for s in policy["Statement"]
    )


def test_restore_drill_leaves_a_clean_plan(drill: Drill) -> None:
    rds = drill.client("rds")
    src = rds.describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]
    # runbook step 3: point-in-time restore to $DB-restored with the source's settings
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier=DB, TargetDBInstanceIdentifier=f"{DB}-restored", UseLatestRestorableTime=True,
        DBSubnetGroupName=src["DBSubnetGroup"]["DBSubnetGroupName"],
        VpcSecurityGroupIds=[g["VpcSecurityGroupId"] for g in src["VpcSecurityGroups"]],
        DBParameterGroupName=src["DBParameterGroups"][0]["DBParameterGroupName"], PubliclyAccessible=False,
        CopyTagsToSnapshot=True,
    )  # fmt: skip
    restored = rds.describe_db_instances(DBInstanceIdentifier=f"{DB}-restored")["DBInstances"][0]
    assert restored["DbiResourceId"] != src["DbiResourceId"]
    # step 4: swap names
    rds.modify_db_instance(
        DBInstanceIdentifier=DB, NewDBInstanceIdentifier=f"{DB}-old", ApplyImmediately=True
    )
    rds.modify_db_instance(
        DBInstanceIdentifier=f"{DB}-restored", NewDBInstanceIdentifier=DB, ApplyImmediately=True
    )

    # step 4b: the restored instance gets its own RDS-managed master secret (restores take that flag for Oracle only)
    rds.modify_db_instance(DBInstanceIdentifier=DB, ManageMasterUserPassword=True,
                           MasterUserSecretKmsKeyId=src["KmsKeyId"], ApplyImmediately=True)  # fmt: skip
    secret = rds.describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]["MasterUserSecret"][
        "SecretArn"
    ]

    # the trap of the old runbook: the state still follows the old instance and a plan would rename it back
    trap = drill.tf("plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=trap.tfplan")
    assert trap.returncode == 2, trap.stderr[-3000:]
    shown = json.loads(ok(drill.tf("show", "-json", "trap.tfplan")).stdout)
    db_change = next(rc for rc in shown["resource_changes"] if rc["address"] == DB_ADDR)["change"]
    assert db_change["before"]["identifier"] == f"{DB}-old" and db_change["after"]["identifier"] == DB

    # step 5: point the state at the restored instance
    ok(drill.tf("state", "rm", DB_ADDR))
    ok(drill.tf("import", "-input=false", "-no-color", DB_ADDR, DB))
    state = json.loads(ok(drill.tf("show", "-json")).stdout)
    mod = next(m for m in state["values"]["root_module"]["child_modules"] if m["address"] == "module.data")
    db = next(r for r in mod["resources"] if r["address"] == DB_ADDR)
    assert db["values"]["resource_id"] == restored["DbiResourceId"]
    assert db["values"]["master_user_secret"][0]["secret_arn"] == secret

    # step 6: converge (in place, never a replacement of the DB), then `infra plan` shows no changes
    ok(drill.tf("plan", "-input=false", "-no-color", "-out=converge.tfplan"))
    shown = json.loads(ok(drill.tf("show", "-json", "converge.tfplan")).stdout)
    db_change = next(rc for rc in shown["resource_changes"] if rc["address"] == DB_ADDR)["change"]
    db_actions = db_change["actions"]
    assert db_actions in (["update"], ["no-op"]), db_actions
    # new task definition revisions (the restored instance's master secret ARN) are the only replacements
    replaced = {rc["type"] for rc in shown["resource_changes"] if "delete" in rc["change"]["actions"]}
    assert replaced <= {"aws_ecs_task_definition"}, replaced
    ok(drill.tf("apply", "-input=false", "-no-color", "converge.tfplan"))
    plan = drill.infra_plan(gate_may_deny=True)
    changed = [(rc["address"], rc["change"]["actions"]) for rc in plan["resource_changes"]
               if rc["change"]["actions"] not in (["no-op"], ["read"])]  # fmt: skip
    diffs = {rc["address"]: {k: (rc["change"]["before"].get(k), v) for k, v in (rc["change"]["after"] or {}).items()
                             if (rc["change"]["before"] or {}).get(k) != v}
             for rc in plan["resource_changes"] if rc["change"]["actions"] == ["update"]}  # fmt: skip
    assert changed == [], (changed, diffs)
    # the old instance is outside the stack, kept until the runbook's clean-up
    assert (
        rds.describe_db_instances(DBInstanceIdentifier=f"{DB}-old")["DBInstances"][0]["DbiResourceId"]
        == (src["DbiResourceId"])
    )
