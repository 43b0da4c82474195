"""Every IAM policy the dev plan renders passes parliament (the lint CI runs, .github/actions/iam-policies), and
the lint fails on a broken policy. parliament lives in .venv-tools (requirements/tools.txt, `make tools-venv`)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO

TOOLS_PY = REPO / ".venv-tools" / "bin" / "python"
SCRIPT = REPO / ".github" / "actions" / "iam-policies" / "iam_policies.py"


def lint(
    plan: dict[str, Any], tmp_path: Path, command: str = "parliament"
) -> subprocess.CompletedProcess[str]:
    if not TOOLS_PY.exists():
        pytest.fail(
            ".venv-tools is missing: run `make tools-venv` (parliament is pinned in requirements/tools.txt)"
        )
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return subprocess.run(
        [str(TOOLS_PY), str(SCRIPT), command, str(path)], capture_output=True, text=True, timeout=300
    )


def with_role_policy(plan: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    plan = copy.deepcopy(plan)
    doc = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    plan["resource_changes"].append(
        {"address": "aws_iam_role_policy.bad", "mode": "managed", "type": "aws_iam_role_policy", "name": "bad",
         "change": {"actions": ["create"], "after": {"policy": doc}, "after_unknown": {}}}
    )  # fmt: skip
    return plan


def test_every_rendered_policy_passes_parliament(dev_plan: dict[str, Any], tmp_path: Path) -> None:
    listed = lint(dev_plan, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    kinds = [line.split()[0] for line in listed.stdout.splitlines()]
    # task and execution role policies, bucket, endpoint and key policies: the plan renders dozens
    assert kinds.count("IDENTITY_POLICY") >= 10 and kinds.count("RESOURCE_POLICY") >= 10, listed.stdout
    r = lint(dev_plan, tmp_path)
    assert r.returncode == 0, f"parliament findings in the dev plan's IAM policies:\n{r.stdout}{r.stderr}"
    assert "0 failing findings" in r.stderr


@pytest.mark.parametrize(
    ("statement", "issue"),
    [
        ({"Effect": "Allow", "Action": "s3:GetObject"}, "MALFORMED"),  # no Resource
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket"}, "RESOURCE_MISMATCH"),
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
          "Condition": {"StringEqualz": {"aws:SourceVpc": "vpc-1"}}}, "UNKNOWN_OPERATOR"),
    ],
)  # fmt: skip
def test_the_lint_fails_on_a_broken_policy(
    dev_plan: dict[str, Any], tmp_path: Path, statement: dict[str, Any], issue: str
) -> None:
    r = lint(with_role_policy(dev_plan, statement), tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "aws_iam_role_policy.bad: " in r.stdout and issue in r.stdout, r.stdout


def test_a_plan_without_policies_is_an_error(tmp_path: Path) -> None:
    r = lint({"resource_changes": []}, tmp_path)
    assert r.returncode == 2 and "no IAM policy" in r.stderr
