"""infra/bootstrap (the state backend): fmt-clean, valid, and its plan against the moto server has what a state
bucket needs: versioning, SSE-KMS with a rotating CMK, no public access, TLS-only, old versions expiring, and
(optionally) a PITR + CMK-encrypted DynamoDB lock table."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.servers import Server, start_moto

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "infra" / "bootstrap"
TF = shutil.which("tofu") or shutil.which("terraform") or "terraform"


def tf(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(REPO / "infra" / "tf-cli.hcl"),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    return subprocess.run(
        [TF, *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bootstrap") / "bootstrap"
    shutil.copytree(BOOTSTRAP, d, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    init = tf(["init", "-backend=false", "-input=false", "-no-color"], d)
    assert init.returncode == 0, init.stderr
    return d


def test_fmt_clean() -> None:
    proc = tf(["fmt", "-check", "-recursive", "-diff", str(BOOTSTRAP)], REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_aws_provider_only() -> None:
    text = "".join(p.read_text() for p in BOOTSTRAP.glob("*.tf"))
    sources = [ln.split("=", 1)[1].strip() for ln in text.splitlines() if ln.strip().startswith("source")]
    assert [s for s in sources if not s.startswith('"./modules/')] == ['"hashicorp/aws"']
    modules = "".join(p.read_text() for p in BOOTSTRAP.glob("modules/*/*.tf"))
    assert re.findall(r'source\s*=\s*"([^"]+)"', modules) == ["hashicorp/aws"] * len(
        list(BOOTSTRAP.glob("modules/*"))
    )
    assert (
        "default     = false"
        in (BOOTSTRAP / "variables.tf").read_text().split("create_dynamodb_lock_table")[1]
    )


def plan(workdir: Path, aws_env: str, *extra: str) -> dict[str, Any]:
    env = {
        "AWS_ENDPOINT_URL": aws_env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    if not any(e.startswith("org=") for e in extra):
        extra = ("-var", "org=acme", *extra)
    proc = tf(["plan", "-input=false", "-no-color", *extra, "-out", "tf.plan"], workdir, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    show = tf(["show", "-json", "tf.plan"], workdir, env)
    assert show.returncode == 0, show.stderr
    root = json.loads(show.stdout)["planned_values"]["root_module"]
    modules = [root, *root.get("child_modules", [])]  # the hardened buckets are one module level down
    return {r["address"]: r.get("values", {}) for m in modules for r in m.get("resources", [])}


OIDC_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:acme-airflow-dev-oidc-AbCdEf"
# The API calls each data source type makes on plan (Terraform AWS provider's data sources; none = no AWS call
# beyond what every plan does). A data source type not listed here fails the test: add it with its calls.
DATA_SOURCE_CALLS: dict[str, list[str]] = {
    "aws_caller_identity": [],  # sts:GetCallerIdentity needs no permission
    "aws_partition": [],
    "aws_region": [],
    "aws_iam_policy_document": [],
    "aws_availability_zones": ["ec2:DescribeAvailabilityZones"],
    "aws_subnet": ["ec2:DescribeSubnets"],
    "aws_vpc": ["ec2:DescribeVpcs"],
    "aws_kms_alias": ["kms:ListAliases", "kms:DescribeKey"],
    "aws_kms_key": ["kms:DescribeKey"],
    "aws_secretsmanager_random_password": ["secretsmanager:GetRandomPassword"],
    "aws_secretsmanager_secret_version": ["secretsmanager:GetSecretValue", "kms:Decrypt"],
    "aws_ecr_repository": ["ecr:DescribeRepositories"],
    "aws_db_snapshot": ["rds:DescribeDBSnapshots"],
}


def _data_source_types() -> set[str]:
    files = [*(REPO / "infra" / "modules").glob("*/*.tf"), *(REPO / "infra" / "platform").glob("*.tf")]
    return {m for f in files for m in re.findall(r'^data "([a-z0-9_]+)"', f.read_text(), re.MULTILINE)}


def _allowed(statements: list[dict[str, Any]], action: str) -> bool:
    for st in statements:
        acts = st.get("Action", [])
        acts = [acts] if isinstance(acts, str) else acts
        if st.get("Effect") == "Allow" and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in acts):
            return True
    return False


def plan_role_covers_what_the_plan_reads(res: dict[str, Any]) -> None:
    """ReadOnlyAccess (moto's copy of the AWS managed policy) plus the role's inline policies cover every call the
    env plans' data sources make, including the OIDC client secret named in plan_secret_arns."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    statements = list(json.loads(aws_managed_policies_data)["ReadOnlyAccess"]["Document"]["Statement"])
    statements += json.loads(res['aws_iam_role_policy.ci["plan/plan-reads"]']["policy"])["Statement"]
    unknown = _data_source_types() - set(DATA_SOURCE_CALLS)
    assert not unknown, f"add the API calls of data sources {sorted(unknown)} to DATA_SOURCE_CALLS"
    missing = {
        (t, a) for t in _data_source_types() for a in DATA_SOURCE_CALLS[t] if not _allowed(statements, a)
    }
    assert not missing, f"the PR plan role cannot make these calls of the env plans: {sorted(missing)}"
    reads = {
        st["Sid"]: st
        for st in json.loads(res['aws_iam_role_policy.ci["plan/plan-reads"]']["policy"])["Statement"]
    }
    assert reads["SecretsThePlanReads"]["Resource"] == OIDC_SECRET  # that one secret, nothing else
    via = reads["TheirKeysThroughSecretsManager"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == "secretsmanager.us-east-1.amazonaws.com"
    # without the inline policy (as before), the OIDC secret and the random passwords are out of reach
    readonly = list(json.loads(aws_managed_policies_data)["ReadOnlyAccess"]["Document"]["Statement"])
    assert not _allowed(readonly, "secretsmanager:GetSecretValue")
    assert not _allowed(readonly, "secretsmanager:GetRandomPassword")


def test_plan_against_moto(workdir: Path, aws_env: str) -> None:
    """One plan (each CLI call loads the ~700 MB provider): state bucket + key + lock table, ECR, CI roles."""
    # create_github_oidc_provider=false: the trust policies then name the account's existing provider, so they
    # are known at plan time and can be checked here
    res = plan(
        workdir,
        aws_env,
        "-var",
        "create_dynamodb_lock_table=true",
        "-var",
        "github_repository=acme/airflow-platform",
        "-var",
        "create_github_oidc_provider=false",
        "-var",
        f"plan_secret_arns={json.dumps([OIDC_SECRET])}",
    )
    plan_role_covers_what_the_plan_reads(res)
    assert (
        res["module.state_bucket.aws_s3_bucket.this"]["bucket"] == "acme-airflow-tfstate-123456789012"
    )  # moto's account id
    assert (
        res["module.state_bucket.aws_s3_bucket_versioning.this"]["versioning_configuration"][0]["status"]
        == "Enabled"
    )
    sse = res["module.state_bucket.aws_s3_bucket_server_side_encryption_configuration.this"]["rule"][0]
    assert sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    assert sse["bucket_key_enabled"] is True
    pab = res["module.state_bucket.aws_s3_bucket_public_access_block.this"]
    assert all(
        pab[k]
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    assert res["module.state_bucket.aws_kms_key.this"]["enable_key_rotation"] is True
    policy = json.loads(res["module.state_bucket.aws_kms_key.this"]["policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["AccountAdministersTheKey"]
    # the bucket policy is known at plan time (built from the name): TLS only, and SSE-KMS only for the state
    state_policy = json.loads(res["module.state_bucket.aws_s3_bucket_policy.this"]["policy"])
    assert [st["Sid"] for st in state_policy["Statement"]] == ["DenyInsecureTransport", "DenyOtherEncryption"]
    assert state_policy["Statement"][1]["Resource"] == "arn:aws:s3:::acme-airflow-tfstate-123456789012/*"
    life = res["module.state_bucket.aws_s3_bucket_lifecycle_configuration.this"]["rule"][0]
    assert life["noncurrent_version_expiration"][0]["noncurrent_days"] == 90
    assert (
        res["module.state_bucket.aws_s3_bucket_ownership_controls.this"]["rule"][0]["object_ownership"]
        == "BucketOwnerEnforced"
    )
    table = res["aws_dynamodb_table.lock[0]"]
    assert table["hash_key"] == "LockID" and table["deletion_protection_enabled"] is True
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["enabled"] is True

    # ECR: one repository per image, immutable tags, scanned, KMS
    for image in ("airflow", "dagsync", "services"):
        repo = res[f'aws_ecr_repository.image["{image}"]']
        assert repo["name"] == f"acme-airflow-{image}" and repo["image_tag_mutability"] == "IMMUTABLE"
        assert repo["image_scanning_configuration"][0]["scan_on_push"] is True
        assert repo["encryption_configuration"][0]["encryption_type"] == "KMS"
    # GitHub OIDC roles: names outside the stacks' own IAM scope, trust scoped to the repo / environment
    roles = {
        v["name"]: json.loads(v["assume_role_policy"])
        for a, v in res.items()
        if a.startswith("aws_iam_role.")
    }
    assert set(roles) == {
        "acme-airflow-gha-plan",
        "acme-airflow-gha-images",
        "acme-airflow-gha-dev-deploy",
        "acme-airflow-gha-prod-deploy",
        "acme-airflow-gha-dev-dag-publish",
        "acme-airflow-gha-prod-dag-publish",
    }

    def subs(role: str) -> list[str]:
        cond = roles[role]["Statement"][0]["Condition"]
        assert cond["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
        assert list(cond) == ["StringEquals", "StringLike"]  # sub pinned to the repo (checkov CKV_AWS_358)
        value = cond["StringLike"]["token.actions.githubusercontent.com:sub"]
        return [value] if isinstance(value, str) else sorted(value)

    provider = roles["acme-airflow-gha-plan"]["Statement"][0]["Principal"]["Federated"]
    assert provider == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    assert subs("acme-airflow-gha-prod-deploy") == ["repo:acme/airflow-platform:environment:prod"]
    assert subs("acme-airflow-gha-dev-dag-publish") == ["repo:acme/airflow-platform:environment:dev"]
    assert subs("acme-airflow-gha-images") == ["repo:acme/airflow-platform:ref:refs/heads/main"]
    assert subs("acme-airflow-gha-plan") == [
        "repo:acme/airflow-platform:pull_request",
        "repo:acme/airflow-platform:ref:refs/heads/main",
    ]
    attached = {
        v["policy_arn"].rsplit("/", 1)[1]
        for a, v in res.items()
        if a.startswith("aws_iam_role_policy_attachment.")
    }
    assert "AdministratorAccess" not in attached and attached == {"ReadOnlyAccess", "PowerUserAccess"}
    # The org-wide DAG bucket: DAGs under <env>/, plugins under plugins/<env>/ (docs/adr/0009)
    assert res["module.dags_bucket.aws_s3_bucket.this"]["bucket"] == "acme-airflow-dags"
    assert (
        res["module.dags_bucket.aws_s3_bucket_versioning.this"]["versioning_configuration"][0]["status"]
        == "Enabled"
    )
    dsse = res["module.dags_bucket.aws_s3_bucket_server_side_encryption_configuration.this"]["rule"][0]
    assert dsse["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    assert all(
        res["module.dags_bucket.aws_s3_bucket_public_access_block.this"][k]
        for k in ("block_public_acls", "block_public_policy")
    )
    assert res["module.dags_bucket.aws_s3_bucket_lifecycle_configuration.this"]["rule"][0][
        "noncurrent_version_expiration"
    ]
    assert res["module.dags_bucket.aws_kms_key.this"]["enable_key_rotation"] is True
    publish = json.loads(res['aws_iam_role_policy.dag_publish["dev"]']["policy"])
    by_sid = {st["Sid"]: st for st in publish["Statement"]}
    assert sorted(by_sid["Objects"]["Resource"]) == [
        "arn:aws:s3:::acme-airflow-dags/dev/*",
        "arn:aws:s3:::acme-airflow-dags/plugins/dev/*",
    ]
    assert by_sid["ListEnvPrefixes"]["Resource"] == "arn:aws:s3:::acme-airflow-dags"
    assert "prod/*" not in json.dumps(publish)
    # the publish -> visible SLI (docs/slo.md), in the dag-sync namespace only
    assert by_sid["PublishToVisibleSli"]["Action"] == "cloudwatch:PutMetricData"
    assert by_sid["PublishToVisibleSli"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "Airflow/DagSync"}
    }
    # the dag-sync verify job's Airflow login: this env's CI account secret only (modules/compute/auth.tf), its key
    # only through Secrets Manager and only for that secret
    ci = by_sid["CiAccountSecret"]
    assert ci["Action"] == "secretsmanager:GetSecretValue"
    assert ci["Resource"] == (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:acme-airflow-dev-airflow-ci-??????"
    )
    ci_key = by_sid["CiAccountSecretKey"]
    assert ci_key["Action"] == "kms:Decrypt"
    assert ci_key["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:SecretARN": ci["Resource"]},
    }
    # The NAT/IGW tripwire's source: a multi-region trail into a KMS-encrypted, TLS-only bucket (trail.tf)
    trail = res["aws_cloudtrail.this[0]"]
    assert trail["name"] == "acme-airflow-trail" and trail["is_multi_region_trail"] is True
    assert trail["include_global_service_events"] is True and trail["enable_log_file_validation"] is True
    assert (
        trail["enable_logging"] is True and trail["s3_bucket_name"] == "acme-airflow-cloudtrail-123456789012"
    )
    assert trail["event_selector"][0]["include_management_events"] is True
    assert trail["event_selector"][0]["read_write_type"] in ("All", "WriteOnly")
    # The trail's bucket is the hardened bucket (modules/hardened-bucket) plus CloudTrail's statements
    tb = "module.trail_bucket[0]"
    tsse = res[f"{tb}.aws_s3_bucket_server_side_encryption_configuration.this"]["rule"][0]
    assert tsse["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    assert res[f"{tb}.aws_kms_key.this"]["enable_key_rotation"] is True
    assert res[f"{tb}.aws_kms_alias.this"]["name"] == "alias/acme-airflow-cloudtrail"
    key_policy = {st["Sid"]: st for st in json.loads(res[f"{tb}.aws_kms_key.this"]["policy"])["Statement"]}
    assert set(key_policy) == {"AccountAdministersTheKey", "CloudTrailEncryptsLogs", "CloudTrailDescribesKey"}
    assert key_policy["AccountAdministersTheKey"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert key_policy["CloudTrailEncryptsLogs"]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    trail_arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/acme-airflow-trail"
    assert key_policy["CloudTrailEncryptsLogs"]["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    assert key_policy["CloudTrailDescribesKey"]["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    bucket_policy = {
        st["Sid"]: st for st in json.loads(res[f"{tb}.aws_s3_bucket_policy.this"]["policy"])["Statement"]
    }
    assert set(bucket_policy) == {"DenyInsecureTransport", "CloudTrailAclCheck", "CloudTrailWrite"}
    tls = bucket_policy["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(tls["Resource"]) == [
        "arn:aws:s3:::acme-airflow-cloudtrail-123456789012",
        "arn:aws:s3:::acme-airflow-cloudtrail-123456789012/*",
    ]
    write = bucket_policy["CloudTrailWrite"]
    assert write["Resource"] == "arn:aws:s3:::acme-airflow-cloudtrail-123456789012/AWSLogs/123456789012/*"
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    assert all(res[f"{tb}.aws_s3_bucket_public_access_block.this"].values())
    tlife = res[f"{tb}.aws_s3_bucket_lifecycle_configuration.this"]["rule"][0]
    assert tlife["expiration"][0]["days"] == 365  # cloudtrail_retention_days
    assert tlife["noncurrent_version_expiration"][0]["noncurrent_days"] == 30
    # the state and DAG buckets keep their current objects
    assert not res["module.state_bucket.aws_s3_bucket_lifecycle_configuration.this"]["rule"][0]["expiration"]
    # One account analyzer per account and region: here, not in the env stacks
    analyzer = res["aws_accessanalyzer_analyzer.account[0]"]
    assert analyzer["type"] == "ACCOUNT" and analyzer["analyzer_name"] == "acme-airflow-account"
    deploy_iam = json.loads(res['aws_iam_role_policy.deploy_iam["prod"]']["policy"])
    scoped = next(st for st in deploy_iam["Statement"] if st["Sid"] == "OwnRolesAndPolicies")["Resource"]
    assert all(":role/acme-airflow-prod-" in r or ":policy/acme-airflow-prod-" in r for r in scoped)


def test_organization_trail_instead_of_ours(workdir: Path, aws_env: str) -> None:
    org_trail = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail"
    res = plan(
        workdir,
        aws_env,
        "-var",
        f"organization_trail_arn={org_trail}",
        "-var",
        "create_access_analyzer=false",
    )
    assert not [
        a
        for a in res
        if a.startswith(("module.trail_bucket", "aws_cloudtrail.", "aws_accessanalyzer"))
        or "trail" in a
    ]
    out = tf(["show", "-json", "tf.plan"], workdir)
    assert json.loads(out.stdout)["planned_values"]["outputs"]["cloudtrail_trail_arn"]["value"] == org_trail


@pytest.mark.parametrize(
    ("org", "message"),
    [
        (
            "acmeacmeacmeacme",
            "acmeacmeacmeacme-airflow-prod-alb (33 > 32)",
        ),  # 16 characters: valid, too long for prod
        ("a-very-long-org-name", "org must be 2-16"),  # the envs' rule (infra/platform/variables.tf)
        ("Acme", "org must be 2-16"),
    ],
)
def test_org_and_the_names_it_builds_are_validated(
    workdir: Path, aws_env: str, org: str, message: str
) -> None:
    env = {"AWS_ENDPOINT_URL": aws_env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1"}  # fmt: skip
    proc = tf(["plan", "-input=false", "-no-color", "-var", f"org={org}"], workdir, env)
    assert proc.returncode != 0
    assert message in " ".join(proc.stderr.split()), proc.stderr[-2000:]


def test_fifteen_character_org_fits_every_name(workdir: Path, aws_env: str) -> None:
    res = plan(workdir, aws_env, "-var", "org=acmeacmeacmeac")  # 15: prod ALB name is exactly 32
    assert res["aws_cloudtrail.this[0]"]["name"] == "acmeacmeacmeac-airflow-trail"


# infra/bootstrap before the hardened-bucket module (state, DAG and trail buckets) and the CI roles' for_each
BEFORE_REFACTOR = "393b75edfa65c2b71fbe63fd065fec033317dd99"
EMULATOR_PROVIDER = """provider "aws" {
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_requesting_account_id  = false
}
"""


@pytest.fixture
def iam_moto(tmp_path: Path) -> Iterator[Server]:
    """A moto server of its own that knows the AWS managed policies (the CI roles attach ReadOnlyAccess etc.)."""
    server = start_moto(tmp_path / "moto", env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_existing_bootstrap_plans_without_destroy_or_replace(tmp_path: Path, iam_moto: Server) -> None:
    """Apply the bootstrap as it was before the refactor to the moto server, then plan today's code against that
    state: the moved blocks (dags.tf, github.tf, trail.tf) turn every old address into its new one, nothing is
    replaced, and the trail's bucket and key policies plan as equivalent."""
    have = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{BEFORE_REFACTOR}^{{commit}}"])
    if have.returncode != 0:
        pytest.skip(f"needs the git history with {BEFORE_REFACTOR} (a shallow clone: fetch-depth 0)")
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BEFORE_REFACTOR, "infra/bootstrap"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    old = old / "infra" / "bootstrap"
    new = tmp_path / "new"
    shutil.copytree(BOOTSTRAP, new, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    env = {"AWS_ENDPOINT_URL": iam_moto.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1"}  # fmt: skip
    tf_vars = [
        "-var",
        "org=acme",
        "-var",
        "github_repository=acme/airflow-platform",
        "-var",
        "create_access_analyzer=false",
    ]  # fmt: skip  (moto has no IAM Access Analyzer)
    for d in (old, new):
        (d / "emulator_override.tf").write_text(EMULATOR_PROVIDER)
        r = tf(["init", "-input=false", "-no-color"], d, env)
        assert r.returncode == 0, r.stderr[-3000:]
    r = tf(["apply", "-input=false", "-no-color", "-auto-approve", *tf_vars], old, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    shutil.copy(old / "terraform.tfstate", new / "terraform.tfstate")

    r = tf(["plan", "-input=false", "-no-color", *tf_vars, "-out", "tf.plan"], new, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    show = tf(["show", "-json", "tf.plan"], new, env)
    changes = json.loads(show.stdout)["resource_changes"]
    replaced = {
        c["address"]: c["change"]["actions"]
        for c in changes
        if {"delete", "create"} & set(c["change"]["actions"])
    }
    assert replaced == {}, f"the refactor destroys or replaces: {replaced}"
    moved = {c["previous_address"]: c["address"] for c in changes if c.get("previous_address")}
    assert moved["aws_s3_bucket.state"] == "module.state_bucket.aws_s3_bucket.this"
    assert moved["aws_kms_key.dags"] == "module.dags_bucket.aws_kms_key.this"
    assert moved["aws_iam_role.plan[0]"] == 'aws_iam_role.ci["plan"]'
    assert moved["aws_s3_bucket_policy.trail[0]"] == "module.trail_bucket[0].aws_s3_bucket_policy.this"
    assert len(moved) == 18 + 6 + 9, sorted(moved)
    updated = {c["address"]: c for c in changes if c["change"]["actions"] == ["update"]}
    # The only intended content change since BEFORE_REFACTOR: the DAG publish roles may read their env's CI
    # account secret (issue 11, dag-sync.yml). Everything else the move touches must plan as equivalent.
    added = {"CiAccountSecret", "CiAccountSecretKey"}
    for address, c in updated.items():
        assert address.startswith("aws_iam_role_policy.dag_publish["), (
            f"in-place update after the move: {address}"
        )
        before = json.loads(c["change"]["before"]["policy"])["Statement"]
        after = json.loads(c["change"]["after"]["policy"])["Statement"]
        assert [st for st in after if st.get("Sid") not in added] == before, address
        assert {st.get("Sid") for st in after} - {st.get("Sid") for st in before} == added, address
