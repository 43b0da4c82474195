"""Per-user files stay out of git, and the example backend configs use a state key the bootstrap CI roles may
read and lock (infra/bootstrap/github.tf: `envs/*`, lock file `envs/*/terraform.tfstate.tflock`)."""

from __future__ import annotations

import fnmatch
import re
import subprocess

import pytest

from .conftest import INFRA, REPO


@pytest.mark.parametrize(
    "path",
    ["infra/envs/dev/backend.hcl", "infra/envs/prod/terraform.tfvars", "infra/bootstrap/terraform.tfvars",
     "infra/envs/dev/x.auto.tfvars"],
)  # fmt: skip
def test_user_files_are_git_ignored(path: str) -> None:
    r = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
    assert r.returncode == 0, f"{path} is not git-ignored (infra/.gitignore)"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_example_backend_is_inside_the_bootstrap_policy(env: str) -> None:
    example = (INFRA / "envs" / env / "backend.hcl.example").read_text()
    r = subprocess.run(["git", "check-ignore", "-q", f"infra/envs/{env}/backend.hcl.example"], cwd=REPO)
    assert r.returncode == 1, "the example itself must stay committed"
    values = dict(re.findall(r'^(\w+)\s*=\s*"?([^"\n]+)"?$', example, re.MULTILINE))
    key = values["key"]
    github = (INFRA / "bootstrap" / "github.tf").read_text()
    read = re.findall(r'"\$\{local\.state_arn\}/([^"]+)"', github)
    assert read, "state_access policy not found in infra/bootstrap/github.tf"
    assert any(fnmatch.fnmatchcase(key, pat) for pat in read), (key, read)
    assert any(fnmatch.fnmatchcase(f"{key}.tflock", pat) for pat in read if pat.endswith(".tflock"))
    assert f"envs/{env}/" in key  # the deploy role of <env> writes only envs/<env>/*
    outputs = (INFRA / "bootstrap" / "outputs.tf").read_text()
    assert 'key          = \\"envs/${env}/terraform.tfstate\\"' in outputs
    assert key == f"envs/{env}/terraform.tfstate"
    assert values["bucket"].endswith("-airflow-tfstate-123456789012") and values["use_lockfile"] == "true"
