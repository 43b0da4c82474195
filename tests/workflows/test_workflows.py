"""Static checks of .github/ (actionlint can't be installed here): every workflow and composite action is parsed
with PyYAML and checked for the gate order, approval environments, SHA-pinned actions, least-privilege
permissions, concurrency, OIDC-only AWS access and no `${{ }}` inside shell. yamllint runs on .github too.

Every check is a plain function that returns a list of problems, and each is also shown to catch a bad
workflow (the `test_checker_catches_*` tests), so none of them can pass vacuously.
"""

from __future__ import annotations

import copy
import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))

GATE = ["fmt", "tflint", "checkov", "opa", "docker-build"]  # order matters
ALONGSIDE = ["hadolint", "shellcheck", "yamllint", "pytest"]
IMAGES = {"airflow", "dagsync", "services"}  # agreed image dirs: images/<name>/Dockerfile
# The only permissions a job may elevate to, and why (everything else stays at the top-level contents: read).
ALLOWED_ELEVATION = {
    "id-token": "write",  # OIDC token for aws-actions/configure-aws-credentials
    "pull-requests": "write",  # the plan summary comment
    "actions": "read",  # deploy: the validate runs of the commit, the prod environment's protection rules
}
PIN = re.compile(r"^(?P<repo>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"#\s*v?\d+\.\d+\.\d+\b")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path} is not a mapping"
    if True in doc:  # YAML 1.1 reads the bare key `on` as boolean True
        doc["on"] = doc.pop(True)
    return doc


def wf(name: str) -> dict[str, Any]:
    return load(GITHUB / "workflows" / name)


def steps_of(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(job id or 'action', step) for every step of a workflow or a composite action."""
    if "runs" in doc:
        return [("action", s) for s in doc["runs"].get("steps", [])]
    return [(jid, s) for jid, job in doc.get("jobs", {}).items() for s in job.get("steps", [])]


def needs(job: dict[str, Any]) -> list[str]:
    n = job.get("needs", [])
    return [n] if isinstance(n, str) else list(n)


def ancestors(jobs: dict[str, Any], jid: str) -> set[str]:
    seen: set[str] = set()
    todo = needs(jobs[jid])
    while todo:
        j = todo.pop()
        if j not in seen:
            seen.add(j)
            todo.extend(needs(jobs.get(j, {})))
    return seen


# ------------------------------------------------------------------ checkers (return problems)
def check_pins(path_text: str, doc: dict[str, Any]) -> list[str]:
    problems = []
    lines = path_text.splitlines()
    for where, step in steps_of(doc):
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        if uses.startswith("docker://"):
            if "@sha256:" not in uses:
                problems.append(f"{where}: {uses} must be pinned by digest")
            continue
        if not PIN.match(uses):
            problems.append(f"{where}: {uses} is not pinned to a full 40-hex commit SHA")
            continue
        line = next((ln for ln in lines if f"uses: {uses}" in ln), "")
        if not VERSION_COMMENT.search(line):
            problems.append(f"{where}: {uses} needs a `# vX.Y.Z` comment naming the release the SHA is")
    return problems


def check_permissions(doc: dict[str, Any]) -> list[str]:
    problems = []
    if doc.get("permissions") != {"contents": "read"}:
        problems.append(
            f"top-level permissions must be exactly contents: read, not {doc.get('permissions')!r}"
        )
    for jid, job in doc.get("jobs", {}).items():
        perms = job.get("permissions")
        if perms is None:
            continue
        if not isinstance(perms, dict):
            problems.append(f"{jid}: permissions must be a mapping, not {perms!r}")
            continue
        for scope, level in perms.items():
            if level in ("read", "none") and scope == "contents":
                continue
            if ALLOWED_ELEVATION.get(scope) != level:
                problems.append(f"{jid}: {scope}: {level} is not an allowed elevation")
        uses_aws = any("configure-aws-credentials" in str(s.get("uses", "")) for s in job.get("steps", []))
        if perms.get("id-token") == "write" and not uses_aws:
            problems.append(f"{jid}: id-token: write without an OIDC AWS login")
    for jid, job in doc.get("jobs", {}).items():
        uses_aws = any("configure-aws-credentials" in str(s.get("uses", "")) for s in job.get("steps", []))
        if uses_aws and (job.get("permissions") or {}).get("id-token") != "write":
            problems.append(f"{jid}: OIDC login needs id-token: write on the job")
    return problems


def check_oidc_only(text: str, doc: dict[str, Any]) -> list[str]:
    problems = []
    for where, step in steps_of(doc):
        if "configure-aws-credentials" in str(step.get("uses", "")):
            w = step.get("with") or {}
            if "role-to-assume" not in w:
                problems.append(f"{where}: configure-aws-credentials without role-to-assume")
            for key in ("aws-access-key-id", "aws-secret-access-key", "aws-session-token"):
                if key in w:
                    problems.append(f"{where}: long-lived key input {key}")
    if re.search(r"AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|secrets\.AWS_", text):
        problems.append("workflow mentions long-lived AWS keys")
    return problems


def check_no_expressions_in_shell(doc: dict[str, Any]) -> list[str]:
    """`${{ }}` inside run: is a script-injection path; values go through env: instead."""
    return [
        f"{where}: `${{{{ }}}}` inside run: ({step.get('name', step['run'][:40])!r})"
        for where, step in steps_of(doc)
        if "run" in step and "${{" in str(step["run"])
    ]


def check_checkout_creds(doc: dict[str, Any]) -> list[str]:
    return [
        f"{where}: actions/checkout must set persist-credentials: false"
        for where, step in steps_of(doc)
        if str(step.get("uses", "")).startswith("actions/checkout@")
        and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def check_gate(doc: dict[str, Any]) -> list[str]:
    jobs = doc.get("jobs", {})
    problems = [f"gate job {j} missing" for j in GATE if j not in jobs]
    if problems:
        return problems
    for prev, cur in itertools.pairwise(GATE):
        if needs(jobs[cur]) != [prev]:
            problems.append(f"{cur} must need exactly [{prev}], has {needs(jobs[cur])}")
    if needs(jobs[GATE[0]]):
        problems.append(f"{GATE[0]} must start the gate (no needs)")
    for i, j in enumerate(GATE):
        if ancestors(jobs, j) != set(GATE[:i]):
            problems.append(f"{j} runs after {sorted(ancestors(jobs, j))}, expected {GATE[:i]}")
    for j in ALONGSIDE:
        if j not in jobs:
            problems.append(f"parallel job {j} missing")
        elif needs(jobs[j]):
            problems.append(f"{j} must run alongside the gate, not after {needs(jobs[j])}")
    return problems


# ------------------------------------------------------------------ the repo's files
def test_files_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"validate.yml", "deploy.yml", "dag-sync.yml"} <= names
    assert ACTIONS, "the composite action .github/actions/python-tools is missing"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(REPO)))
def test_hygiene(path: Path) -> None:
    text, doc = path.read_text(), load(path)
    problems = check_pins(text, doc) + check_oidc_only(text, doc) + check_no_expressions_in_shell(doc)
    problems += check_checkout_creds(doc)
    if path in WORKFLOWS:
        problems += check_permissions(doc)
        conc = doc.get("concurrency") or {}
        if "group" not in conc or "cancel-in-progress" not in conc:
            problems.append("workflow needs concurrency: {group, cancel-in-progress}")
        for jid, job in doc.get("jobs", {}).items():
            if "timeout-minutes" not in job:
                problems.append(f"{jid}: timeout-minutes missing")
    assert problems == []


def test_validate_gate_order_and_triggers() -> None:
    doc = wf("validate.yml")
    assert {"pull_request", "push"} <= set(doc["on"])
    assert check_gate(doc) == []
    jobs = doc["jobs"]

    def runs(jid: str) -> str:
        return "\n".join(str(s.get("run", "")) + str(s.get("uses", "")) for s in jobs[jid]["steps"])

    assert "fmt -check -recursive" in runs("fmt")
    assert "tflint --init" in runs("tflint") and "tflint --recursive" in runs("tflint")
    assert "checkov --directory infra" in runs("checkov")
    opa = runs("opa")
    assert "ci_plan_emulated.sh" in opa and "conftest test --policy infra/policies" in opa
    emulated = (REPO / "scripts" / "ci_plan_emulated.sh").read_text()
    assert ".venv/bin/infra --emulated" in emulated and 'plan "$env_name"' in emulated
    assert "hadolint" in runs("hadolint") and "shellcheck" in runs("shellcheck")
    assert "yamllint" in runs("yamllint") and "make test" in runs("pytest")


def test_every_image_is_built_and_cached() -> None:
    jobs = wf("validate.yml")["jobs"]
    matrix = set(jobs["docker-build"]["strategy"]["matrix"]["image"])
    on_disk = {p.parent.name for p in (REPO / "images").glob("*/Dockerfile")}
    assert matrix == IMAGES and on_disk <= matrix, f"images on disk {on_disk} vs matrix {matrix}"
    build = next(s for s in jobs["docker-build"]["steps"] if "build-push-action" in str(s.get("uses")))
    assert build["with"]["file"] == "images/${{ matrix.image }}/Dockerfile"
    assert build["with"]["push"] is False
    assert build["with"]["cache-from"].startswith("type=gha") and build["with"]["cache-to"].startswith(
        "type=gha"
    )
    deploy_matrix = set(wf("deploy.yml")["jobs"]["images"]["strategy"]["matrix"]["image"])
    assert deploy_matrix == IMAGES


def test_caching_is_configured() -> None:
    text = "\n".join(p.read_text() for p in WORKFLOWS + ACTIONS)
    assert "cache: pip" in text  # pip via setup-python
    assert "~/.tflint.d/plugins" in text  # tflint plugins
    assert "type=gha" in text  # docker layers


def test_deploy_plan_on_prs_and_gated_applies() -> None:
    doc = wf("deploy.yml")
    jobs = doc["jobs"]
    assert "pull_request" in doc["on"] and doc["on"]["push"]["branches"] == ["main"]
    assert doc["concurrency"]["cancel-in-progress"] is False  # never kill an apply mid-flight
    plan = jobs["plan"]
    assert "pull_request" in plan["if"] and "environment" not in plan
    plan_text = yaml.safe_dump(plan)
    assert "infra plan dev" in plan_text and "conftest test" in plan_text and "plan_summary.py" in plan_text
    assert "ci_backend_config.sh dev" in plan_text
    assert any("upload-artifact" in str(s.get("uses")) for s in plan["steps"])
    assert any("github-script" in str(s.get("uses")) for s in plan["steps"])

    assert jobs["apply-dev"]["environment"] == "dev"
    assert jobs["apply-prod"]["environment"] == "prod"
    assert needs(jobs["apply-dev"]) == ["gate", "images"] and needs(jobs["images"]) == ["gate"]
    assert needs(jobs["apply-prod"]) == ["gate", "apply-dev"]
    assert "pull_request" not in str(jobs["images"].get("if")) or "!=" in str(jobs["images"]["if"])
    for jid in ("apply-dev", "apply-prod"):
        runs = "\n".join(str(s.get("run", "")) for s in jobs[jid]["steps"])
        assert 'infra --yes apply "$DEPLOY_ENV"' in runs
        assert 'ci_backend_config.sh "$DEPLOY_ENV"' in runs
        assert runs.index("conftest test") < runs.index("infra --yes apply")
        assert (
            'ecs_rollout_check.py --cluster "$ORG-airflow-$DEPLOY_ENV-cluster"' in runs
            and "--image-tag" in runs
        )
        assert jobs[jid]["env"]["TF_VAR_image_tag"] == "${{ needs.gate.outputs.image_tag }}"


def test_deploy_images_are_scanned_before_push_with_immutable_sha_tags() -> None:
    job = wf("deploy.yml")["jobs"]["images"]
    steps = job["steps"]
    idx = {
        k: next(i for i, s in enumerate(steps) if k in str(s.get("uses", "")) + str(s.get("run", "")))
        for k in ("amazon-ecr-login", "build-push-action", "trivy-action", "docker push")
    }
    assert idx["amazon-ecr-login"] < idx["build-push-action"] < idx["trivy-action"] < idx["docker push"]
    build = steps[idx["build-push-action"]]["with"]
    assert build["push"] is False and build["load"] is True
    trivy = steps[idx["trivy-action"]]["with"]
    assert trivy["exit-code"] == "1" and "CRITICAL" in trivy["severity"]
    assert job["env"]["IMAGE_TAG"] == "${{ needs.gate.outputs.image_tag }}"
    assert job["env"]["REPOSITORY"] == "${{ vars.ORG }}-airflow-${{ matrix.image }}"


def test_dag_sync_parse_publish_verify() -> None:
    doc = wf("dag-sync.yml")
    assert doc["on"]["push"]["paths"][0] == "dags/**"
    jobs = doc["jobs"]
    parse = yaml.safe_dump(jobs["parse"])
    assert "images/airflow/constraints.txt" in parse and "scripts/check_dagbag.py dags" in parse
    assert needs(jobs["publish"]) == ["parse"]
    publish = "\n".join(str(s.get("run", "")) for s in jobs["publish"]["steps"])
    assert (
        'dagsync publish --source dags --dest "${DAGS_S3_URI:-s3://$ORG-airflow-dags/$DAG_ENV/}"' in publish
    )
    assert set(needs(jobs["verify"])) == {"parse", "publish"}
    verify = "\n".join(str(s.get("run", "")) for s in jobs["verify"]["steps"])
    assert "scripts/wait_dag_visible.py" in verify and "--timeout 60" in verify


def test_yamllint_is_clean_on_github_dir() -> None:
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "yamllint"), "-c", str(REPO / ".yamllint"), "--strict", str(GITHUB)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------ each checker catches a bad workflow
def test_checker_catches_unpinned_and_uncommented_actions() -> None:
    sha = "08c6903cd8c0fde910a37f88322edcfb5dd907a8"
    doc = {"jobs": {"a": {"steps": [{"uses": "actions/checkout@v5"}, {"uses": f"actions/cache@{sha}"}]}}}
    text = f"      - uses: actions/checkout@v5\n      - uses: actions/cache@{sha}\n"
    problems = check_pins(text, doc)
    assert any("not pinned" in p for p in problems) and any("# vX.Y.Z" in p for p in problems)
    assert (
        check_pins(
            f"      - uses: actions/cache@{sha} # v4.3.0\n",
            {"jobs": {"a": {"steps": [{"uses": f"actions/cache@{sha}"}]}}},
        )
        == []
    )


def test_checker_catches_broad_permissions() -> None:
    base = copy.deepcopy(wf("deploy.yml"))
    assert check_permissions(base) == []
    bad = copy.deepcopy(base)
    bad["permissions"] = "write-all"
    assert check_permissions(bad)
    bad = copy.deepcopy(base)
    bad["jobs"]["plan"]["permissions"]["contents"] = "write"
    assert any("contents: write" in p for p in check_permissions(bad))
    bad = copy.deepcopy(base)
    del bad["jobs"]["apply-prod"]["permissions"]["id-token"]
    assert any("id-token: write" in p for p in check_permissions(bad))


def test_checker_catches_a_broken_gate() -> None:
    doc = wf("validate.yml")
    swapped = copy.deepcopy(doc)
    swapped["jobs"]["checkov"]["needs"] = ["fmt"]
    swapped["jobs"]["tflint"]["needs"] = ["checkov"]
    assert check_gate(swapped)
    parallel = copy.deepcopy(doc)
    parallel["jobs"]["opa"]["needs"] = ["fmt"]
    assert check_gate(parallel)
    serial_side = copy.deepcopy(doc)
    serial_side["jobs"]["pytest"]["needs"] = ["docker-build"]
    assert check_gate(serial_side)


def test_checker_catches_keys_and_shell_injection() -> None:
    doc = {
        "jobs": {
            "a": {
                "steps": [
                    {"uses": "aws-actions/configure-aws-credentials@x", "with": {"aws-access-key-id": "x"}},
                    {"run": "echo ${{ github.event.pull_request.title }}"},
                    {"uses": "actions/checkout@x"},
                ]
            }
        }
    }
    assert len(check_oidc_only("secrets.AWS_SECRET", doc)) == 3
    assert check_no_expressions_in_shell(doc)
    assert check_checkout_creds(doc)


def _run_lines() -> list[tuple[str, str]]:
    out = []
    for path in WORKFLOWS:
        for where, step in steps_of(load(path)):
            for line in re.sub(r"\\\n\s*", " ", str(step.get("run", ""))).splitlines():
                out.append((f"{path.name}:{where}", line.strip()))
    for script in ("ci_plan_emulated.sh",):
        text = re.sub(r"\\\n\s*", " ", (REPO / "scripts" / script).read_text())
        out += [(script, ln.strip()) for ln in text.splitlines()]
    return out


def test_project_cli_calls_parse_with_the_real_parsers() -> None:
    """`infra ...` and `dagsync ...` in workflows/scripts are parsed by the CLIs' own argparse parsers."""
    import shlex

    from infractl.cli import build_parser as infra_parser

    from dagsync.cli import _parser as dagsync_parser

    parsers = {"infra": infra_parser(), "dagsync": dagsync_parser()}
    seen = {"infra": 0, "dagsync": 0}
    for where, line in _run_lines():
        m = re.match(r"^(?:\S+=\S+\s+)*(?:\.venv/bin/)?(infra|dagsync)\s+(.*?)(\s*\|\|.*)?$", line)
        if not m:
            continue
        prog, args = m.group(1), shlex.split(m.group(2))
        try:
            parsers[prog].parse_args(args)
        except SystemExit:
            pytest.fail(f"{where}: `{line}` does not parse with the real {prog} CLI")
        seen[prog] += 1
    assert seen["infra"] >= 6 and seen["dagsync"] >= 1, seen


# ------------------------------------------------------------------ names the workflows share with infra/
def _declared_variables() -> set[str]:
    text = "".join(p.read_text() for p in (REPO / "infra" / "platform").glob("*.tf"))
    return set(re.findall(r'^variable "([a-z0-9_]+)"', text, re.MULTILINE))


def test_tf_vars_set_by_workflows_are_declared_by_the_root_module() -> None:
    text = "\n".join(p.read_text() for p in WORKFLOWS)
    used = set(re.findall(r"\bTF_VAR_([a-z0-9_]+)\b", text))
    assert {"image_tag", "org", "region", "certificate_arn"} <= used
    missing = used - _declared_variables()
    assert not missing, f"workflows set TF_VAR_{missing} but infra/platform declares no such variable"
    # env and settings come from infra/envs/<env>/settings.tfvars (`infra` passes it), never from the workflows
    assert not {"env", "settings"} & used


def test_cluster_and_repository_names_match_infra() -> None:
    main_tf = (REPO / "infra" / "platform" / "main.tf").read_text()
    compute = (REPO / "infra" / "modules" / "compute" / "main.tf").read_text()
    assert re.search(r'name_prefix\s*=\s*"\$\{var\.org\}-airflow-\$\{var\.env\}"', main_tf)
    assert re.search(r'cluster_name\s*=\s*"\$\{var\.name_prefix\}-cluster"', compute)
    deploy = (GITHUB / "workflows" / "deploy.yml").read_text()
    assert deploy.count('--cluster "$ORG-airflow-$DEPLOY_ENV-cluster"') == 2
    # images: <org>-airflow-<image> in ECR (bootstrap creates them, the envs reference them, CI pushes them)
    assert '"${var.org}-airflow-${k}"' in main_tf
    assert (
        'name                 = "${var.org}-airflow-${each.key}"'
        in (REPO / "infra" / "bootstrap" / "ecr.tf").read_text()
    )
    assert (
        wf("deploy.yml")["jobs"]["images"]["env"]["REPOSITORY"]
        == "${{ vars.ORG }}-airflow-${{ matrix.image }}"
    )
