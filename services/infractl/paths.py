"""Where the infra tree lives: $INFRA_DIR, else ./infra, else next to this package in the repo."""

from __future__ import annotations

import os
from pathlib import Path


class InfraError(Exception):
    """A problem the user can fix; the message is one line that says what to do next."""


def infra_dir() -> Path:
    env = os.environ.get("INFRA_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd() / "infra", Path(__file__).resolve().parents[2] / "infra"]
    for c in candidates:
        if (c / "envs").is_dir() and (c / "policies").is_dir():
            return c.resolve()
    raise InfraError("infra/ not found: run from the repo root or set INFRA_DIR to the infra directory")


def env_dir(env: str) -> Path:
    d = infra_dir() / "envs" / env
    if not (d / "main.tf").is_file():
        known = sorted(p.name for p in (infra_dir() / "envs").iterdir() if (p / "main.tf").is_file())
        raise InfraError(f"unknown environment {env!r}: choose one of {', '.join(known)}")
    return d


def work_dir(env: str) -> Path:
    """Plans, plan JSON and emulated state of one env (git-ignored)."""
    d = env_dir(env) / ".infra"
    d.mkdir(exist_ok=True)
    return d
