"""The build context of `docker build .`: .dockerignore keeps venvs, git, local state, caches and infra state out,
never a COPY source of images/*/Dockerfile; base images are pinned by digest like the actions by SHA."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "images").glob("*/Dockerfile"))


def patterns(text: str) -> list[tuple[bool, str]]:
    """(negated, pattern) in file order, as Docker reads .dockerignore (comments and blanks skipped)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        out.append((neg, line[1:].strip().strip("/") if neg else line.strip("/")))
    return out


def _match(pattern: str, path: str) -> bool:
    """Docker's rule: a pattern matches the path or one of its parent directories; `**/` matches any depth."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    variants = {pattern}
    if pattern.startswith("**/"):
        variants.add(pattern[3:])
    for p in prefixes:
        for v in variants:
            if v.startswith("**/"):
                if any(
                    fnmatch.fnmatchcase("/".join(p.split("/")[i:]), v[3:]) for i in range(len(p.split("/")))
                ):
                    return True
            elif fnmatch.fnmatchcase(p, v) and p.count("/") == v.count("/"):
                return True
    return False


def ignored(rules: list[tuple[bool, str]], path: str) -> bool:
    result = False
    for neg, pattern in rules:
        if _match(pattern, path):
            result = not neg
    return result


RULES = patterns((REPO / ".dockerignore").read_text()) if (REPO / ".dockerignore").exists() else []


def copy_sources(dockerfile: Path) -> list[str]:
    """Context paths of every COPY without --from (flags dropped; the last word is the destination)."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        sources += args[:-1]
    return sources


def test_dockerignore_exists() -> None:
    assert (REPO / ".dockerignore").is_file(), "add a .dockerignore at the repo root (docker build . context)"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python", ".venv-airflow/lib/x.py", ".venv-tools/bin/checkov", ".git/HEAD", ".local/pg/PG_VERSION",
        ".mypy_cache/x", ".ruff_cache/x", ".pytest_cache/x", ".hypothesis/examples/x",
        "services/dagsync/__pycache__/cli.cpython-311.pyc", "infra/.terraform-cache/x",
        "infra/envs/dev/.terraform/providers/x", "infra/envs/dev/.infra/plan.json", "infra/bootstrap/terraform.tfstate",
        "infra/bootstrap/terraform.tfstate.backup", "infra/envs/dev/backend.hcl", "infra/envs/dev/terraform.tfvars",
        "infra/envs/dev/emulated_override.tf",
    ],
)  # fmt: skip
def test_heavy_and_secret_paths_are_out_of_the_context(path: str) -> None:
    assert ignored(RULES, path), f"{path} would be sent to the docker daemon"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_copy_source_stays_in_the_context(dockerfile: Path) -> None:
    sources = copy_sources(dockerfile)
    assert sources, f"{dockerfile} has no COPY from the context?"
    for src in sources:
        assert (REPO / src).exists(), f"{dockerfile.name}: COPY {src} does not exist"
        tracked = subprocess.run(["git", "ls-files", "--", src], cwd=REPO, capture_output=True, text=True)
        files = tracked.stdout.split()
        assert files, f"{dockerfile.name}: COPY {src} has no tracked file"
        dropped = [f for f in files if ignored(RULES, f)]
        assert not dropped, f"{dockerfile.parent.name}: .dockerignore drops COPY sources {dropped[:5]}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_image_pinned_by_digest(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    m = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert m, f"{dockerfile}: ARG PYTHON_IMAGE=... missing"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", m.group(1)), m.group(1)
    for frm in re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE):
        assert frm == "${PYTHON_IMAGE}", f"{dockerfile}: FROM {frm} bypasses the digest-pinned ARG"


def test_matcher_is_not_vacuous() -> None:
    rules = patterns("# c\n.venv\n**/__pycache__\ndocs\n!docs/keep.md\n")
    assert (
        ignored(rules, ".venv/x") and ignored(rules, "a/b/__pycache__/c.pyc") and ignored(rules, "docs/a.md")
    )
    assert not ignored(rules, "docs/keep.md") and not ignored(rules, "services/x.py")
    assert not ignored(rules, "src/.venv/x")  # a root pattern does not match deeper
