"""The Makefile: `.PHONY` names exactly its targets, `make help` lists every documented one, `make clean` says and
removes every venv, the local stack's state and the caches, `lint` covers scripts, `test-fast` skips slow."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEXT = (REPO / "Makefile").read_text()


def make(*args: str) -> str:
    r = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def targets() -> set[str]:
    return set(re.findall(r"^([a-z0-9][a-z0-9-]*):(?!=)", TEXT, re.MULTILINE))


def test_phony_names_exactly_the_targets() -> None:
    joined = TEXT.replace("\\\n", " ")
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", joined, re.MULTILINE) for name in line.split()}
    assert phony == targets(), (sorted(phony - targets()), sorted(targets() - phony))


def test_help_lists_every_documented_target_including_digits() -> None:
    documented = set(re.findall(r"^([a-z0-9-]+):.*## ", TEXT, re.MULTILINE))
    shown = {line.split()[0] for line in make("help").splitlines() if line.strip()}
    assert "bench-e2e" in shown and shown == documented
    assert targets() - documented == {"system-packages"}  # the one internal step


def test_clean_removes_every_venv_the_local_state_and_caches() -> None:
    dry = make("-n", "clean")
    removed = next(line for line in dry.splitlines() if line.startswith("rm -rf")).split()[2:]
    assert {".venv", ".venv-airflow", ".venv-tools", ".venv-bench", ".local", ".pytest_cache"} <= set(removed)
    assert "devtools.localstack --state-dir .local clean" in dry or "[ -d .local ]" in dry  # stops it first


def test_lint_covers_scripts_and_test_fast_skips_slow() -> None:
    lint = make("-n", "lint")
    assert re.search(r"ruff check .*\bscripts\b.*\binfra/scripts\b", lint)
    assert "not slow" in make("-n", "test-fast")
