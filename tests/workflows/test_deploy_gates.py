"""Deploy gates that hold (deploy.yml, validate.yml, .github/actions): main waits for validate of the same commit,
docs- and DAG-only pushes rebuild nothing, prod refuses to apply without required reviewers, Access Analyzer and
parliament run over the plan's IAM policies. actionlint only runs in GitHub Actions, so its ground is covered here
too: job and step references, `needs.*.outputs`, composite action inputs, and every github-script parses as JS."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .test_dockerignore import copy_sources
from .test_workflows import ACTIONS, GITHUB, REPO, WORKFLOWS, load, needs, steps_of, wf

IMAGE_TAG_ACTION = GITHUB / "actions" / "image-tag" / "action.yml"


def _run_text(job: dict[str, Any]) -> str:
    return "\n".join(
        str(s.get("run", "")) + str((s.get("with") or {}).get("script", "")) for s in job["steps"]
    )


# ------------------------------------------------------------------ main waits for validate of the same commit
def test_every_main_job_needs_the_validate_gate() -> None:
    jobs = wf("deploy.yml")["jobs"]
    gate = jobs["gate"]
    assert gate["permissions"] == {"contents": "read", "actions": "read"}
    assert "pull_request" in gate["if"] and "refs/heads/main" in gate["if"]
    for jid in ("images", "apply-dev", "apply-prod"):
        assert "gate" in needs(jobs[jid]), f"{jid} must wait for the gate job"
    wait = next(s for s in gate["steps"] if "github-script" in str(s.get("uses")))
    script = wait["with"]["script"]
    assert wait["env"]["HEAD_SHA"] == "${{ github.sha }}"
    assert "workflow_id: 'validate.yml'" in script and "head_sha: sha" in script
    assert "conclusion === 'success'" in script and "core.setFailed" in script
    assert int(wait["env"]["WAIT_MINUTES"]) < gate["timeout-minutes"]  # fails with a message, not a timeout


def test_validate_keeps_one_run_per_main_commit() -> None:
    conc = wf("validate.yml")["concurrency"]
    assert "github.sha" in conc["group"]  # not github.ref: a newer main push must not cancel the older gate
    assert conc["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


# ------------------------------------------------------------------ path filters
def _gh_glob(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern syntax: `**` any characters, `*` any but `/`."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def push_triggers(changed: list[str]) -> bool:
    """Does a push to main with these changed files start deploy.yml? (paths-ignore: run unless all are ignored)"""
    ignore = [_gh_glob(p) for p in wf("deploy.yml")["on"]["push"]["paths-ignore"]]
    return any(not any(g.match(f) for g in ignore) for f in changed)


@pytest.mark.parametrize(
    ("changed", "runs"),
    [
        (["docs/runbooks/rds-restore.md", "docs/adr/0006-secrets-and-sso.md"], False),
        (["dags/quick.py", "dags/long.py"], False),
        (["README.md", "infra/README.md", "bench/dagsync/RESULTS.md"], False),
        (["services/dagsync/sync.py"], True),
        (["infra/modules/edge/main.tf", "docs/x.md"], True),
        (["images/airflow/Dockerfile"], True),
    ],
)
def test_docs_and_dag_only_pushes_do_not_deploy(changed: list[str], runs: bool) -> None:
    assert push_triggers(changed) is runs


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin", "HOME": str(repo)}  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


def _commit(repo: Path, path: str) -> str:
    f = repo / path
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(f"{f.read_text() if f.exists() else ''}x\n")
    _git(repo, "add", path)
    _git(repo, "commit", "-q", "-m", path)
    return _git(repo, "rev-parse", "HEAD").strip()


def image_tag(repo: Path) -> subprocess.CompletedProcess[str]:
    step = load(IMAGE_TAG_ACTION)["runs"]["steps"][0]
    out = repo / "gh_output"
    out.write_text("")
    return subprocess.run(
        ["bash", "-c", step["run"]], cwd=repo, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(out)}
    )  # fmt: skip


def test_image_tag_moves_only_with_the_image_inputs(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    base = _commit(repo, "services/dagsync/sync.py")
    for docs_like in (
        "docs/runbooks/x.md",
        "dags/quick.py",
        "infra/platform/main.tf",
        "tests/test_x.py",
        "README.md",
    ):
        _commit(repo, docs_like)
        r = image_tag(repo)
        assert r.returncode == 0, r.stderr
        assert (repo / "gh_output").read_text() == f"tag={base}\n", f"{docs_like} moved the image tag"
    for image_input in (
        "images/airflow/Dockerfile",
        "requirements/lock.txt",
        "pyproject.toml",
        ".dockerignore",
    ):
        sha = _commit(repo, image_input)
        assert image_tag(repo).returncode == 0
        assert (repo / "gh_output").read_text() == f"tag={sha}\n", f"{image_input} did not move the image tag"


def test_image_tag_refuses_a_shallow_checkout(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _git(src, "init", "-q", "-b", "main")
    _commit(src, "services/a.py")
    _commit(src, "docs/a.md")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{src}", str(shallow)], check=True)
    r = image_tag(shallow)
    assert r.returncode == 1 and "fetch-depth: 0" in r.stdout


def test_image_tag_paths_cover_every_dockerfile_copy_source() -> None:
    step = load(IMAGE_TAG_ACTION)["runs"]["steps"][0]["run"]
    paths = re.search(r"git log -1 --format=%H -- (.+)\)", step)
    assert paths, step
    covered = paths.group(1).split()
    for dockerfile in sorted((REPO / "images").glob("*/Dockerfile")):
        for src in copy_sources(dockerfile):
            if src == "README.md":  # package metadata only (see the action's header)
                continue
            assert any(src == c or src.startswith(c.rstrip("/") + "/") for c in covered), (dockerfile, src)


def test_deploy_uses_the_image_tag_and_checks_out_full_history() -> None:
    jobs = wf("deploy.yml")["jobs"]
    gate = jobs["gate"]
    assert gate["outputs"]["image_tag"] == "${{ steps.tag.outputs.tag }}"
    checkout = next(s for s in gate["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    tag = next(s for s in gate["steps"] if s.get("uses") == "./.github/actions/image-tag")
    assert tag["id"] == "tag"
    # the ECR "already pushed" short-circuit is what skips the rebuild for an unchanged tag
    assert "describe-images" in _run_text(jobs["images"]) and '"imageTag=$IMAGE_TAG"' in _run_text(
        jobs["images"]
    )


# ------------------------------------------------------------------ prod needs required reviewers
def test_prod_apply_refuses_without_required_reviewers() -> None:
    job = wf("deploy.yml")["jobs"]["apply-prod"]
    assert job["environment"] == "prod" and job["permissions"]["actions"] == "read"
    first = job["steps"][0]
    assert "github-script" in first["uses"] and first["env"]["ENVIRONMENT"] == "prod"
    script = first["with"]["script"]
    assert "getEnvironment" in script and "required_reviewers" in script and "core.setFailed" in script
    aws = next(i for i, s in enumerate(job["steps"]) if "configure-aws-credentials" in str(s.get("uses")))
    assert aws > 0  # the refusal comes before any AWS credentials exist in the job


def test_reviewer_check_logic_with_node(tmp_path: Path) -> None:
    """Run the prod check's script under node with GitHub API answers of both kinds (node is what it runs on)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to check the github-script code (apt install nodejs)")
    script = wf("deploy.yml")["jobs"]["apply-prod"]["steps"][0]["with"]["script"]
    harness = """
const failed = []; const info = [];
const core = { setFailed: m => failed.push(m), info: m => info.push(m) };
const context = { repo: { owner: 'o', repo: 'r' } };
const answers = JSON.parse(process.argv[2]);
const github = { rest: { repos: { getEnvironment: async (a) => ({ data: answers[a.environment_name] }) } } };
process.env.ENVIRONMENT = 'prod';
(async () => { SCRIPT_BODY })().then(() => console.log(JSON.stringify({ failed, info })));
""".replace("SCRIPT_BODY", script)
    (tmp_path / "h.js").write_text(harness)

    def run(env: dict[str, Any]) -> dict[str, Any]:
        r = subprocess.run(
            [node, str(tmp_path / "h.js"), json.dumps({"prod": env})], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        return dict(json.loads(r.stdout))

    assert run({"protection_rules": []})["failed"]
    assert run({"protection_rules": [{"type": "wait_timer", "wait_timer": 5}]})["failed"]
    assert run({"protection_rules": [{"type": "required_reviewers", "reviewers": []}]})["failed"]
    ok = run(
        {
            "protection_rules": [
                {"type": "required_reviewers", "reviewers": [{"type": "User", "reviewer": {}}]}
            ]
        }
    )
    assert ok["failed"] == [] and "1 required reviewer" in ok["info"][0]


# ------------------------------------------------------------------ IAM policy validation in CI
def test_parliament_and_access_analyzer_run_in_validate() -> None:
    jobs = wf("validate.yml")["jobs"]
    opa = _run_text(jobs["opa"])
    assert "iam_policies.py parliament" in opa and "-c requirements/tools.txt parliament" in opa
    assert opa.index("conftest test") < opa.index("iam_policies.py parliament")
    aa = jobs["access-analyzer"]
    assert (
        "vars.AWS_PLAN_ROLE_ARN != ''" in aa["if"] and "head.repo.full_name == github.repository" in aa["if"]
    )
    assert needs(aa) == []  # alongside the gate: PRs from forks have no role
    login = next(s for s in aa["steps"] if "configure-aws-credentials" in str(s.get("uses")))
    assert login["with"]["role-to-assume"] == "${{ vars.AWS_PLAN_ROLE_ARN }}"
    text = _run_text(aa)
    assert "iam_policies.py access-analyzer" in text and "ci_plan_emulated.sh dev" in text
    assert "parliament==" in (REPO / "requirements" / "tools.txt").read_text()


# ------------------------------------------------------------------ actionlint's ground
EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def lint_references(doc: dict[str, Any]) -> list[str]:
    problems = []
    jobs = doc.get("jobs", {})
    for jid, job in jobs.items():
        for n in needs(job):
            if n not in jobs:
                problems.append(f"{jid}: needs unknown job {n}")
        text = yaml.safe_dump(job)
        for expr in EXPR.findall(text):
            for dep, out in re.findall(r"needs\.([\w-]+)\.outputs\.([\w-]+)", expr):
                if dep not in needs(job):
                    problems.append(f"{jid}: uses needs.{dep} without needing it")
                elif out not in (jobs[dep].get("outputs") or {}):
                    problems.append(f"{jid}: needs.{dep}.outputs.{out} is not an output of {dep}")
        ids = [s.get("id") for s in job.get("steps", [])]
        for i, step in enumerate(job.get("steps", [])):
            for ref in re.findall(r"steps\.([\w-]+)\.outputs", yaml.safe_dump(step)):
                if ref not in ids[:i]:
                    problems.append(
                        f"{jid}: step {step.get('name', i)} reads steps.{ref} before or without it"
                    )
        for out in (job.get("outputs") or {}).values():
            for ref in re.findall(r"steps\.([\w-]+)\.outputs", str(out)):
                if ref not in ids:
                    problems.append(f"{jid}: output reads unknown step {ref}")
        for where, step in steps_of({"jobs": {jid: job}}):
            uses = str(step.get("uses", ""))
            if uses.startswith("./"):
                action = REPO / uses / "action.yml"
                if not action.is_file():
                    problems.append(f"{where}: {uses} has no action.yml")
                    continue
                inputs = load(action).get("inputs") or {}
                given = set(step.get("with") or {})
                problems += [f"{where}: {uses} has no input {k}" for k in given - set(inputs)]
                problems += [
                    f"{where}: {uses} needs input {k}"
                    for k, spec in inputs.items()
                    if spec.get("required") and "default" not in spec and k not in given
                ]
            if "run" in step and "uses" in step:
                problems.append(f"{where}: a step has both run and uses")
    return problems


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_references_resolve(path: Path) -> None:
    assert lint_references(load(path)) == []


def test_reference_lint_catches_mistakes() -> None:
    doc = {
        "jobs": {
            "a": {"outputs": {"x": "${{ steps.nope.outputs.x }}"}, "steps": [{"run": "true", "uses": "x@y"}]},
            "b": {"needs": ["a", "zz"], "env": {"T": "${{ needs.a.outputs.y }}", "U": "${{ needs.c.outputs.x }}"},
                  "steps": [{"uses": "./.github/actions/python-tools", "with": {"bogus": "1"}}]},
        }
    }  # fmt: skip
    found = "\n".join(lint_references(doc))
    for needle in ("needs unknown job zz", "not an output of a", "without needing it", "unknown step nope",
                   "has no input bogus", "both run and uses"):  # fmt: skip
        assert needle in found, (needle, found)


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(REPO)))
def test_github_scripts_parse(path: Path, tmp_path: Path) -> None:
    """`node --check` on every actions/github-script body (it runs inside an async function)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to check the github-script code (apt install nodejs)")
    for where, step in steps_of(load(path)):
        if "github-script" in str(step.get("uses", "")):
            js = tmp_path / "s.js"
            js.write_text(f"(async () => {{\n{step['with']['script']}\n}})();\n")
            r = subprocess.run([node, "--check", str(js)], capture_output=True, text=True)
            assert r.returncode == 0, f"{where}: {r.stderr}"
