"""Where the infra tree lives: $INFRA_DIR, else ./infra, else next to this package in the repo.

One root module, infra/platform, for every env; an env is infra/envs/<env>/ with its settings.tfvars (variables
`env` and `settings`), the user's backend.hcl and terraform.tfvars, and `infra`'s working files in .infra/."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT_MODULE = "platform"
SETTINGS = "settings.tfvars"


class InfraError(Exception):
    """A problem the user can fix; the message is one line that says what to do next."""


def infra_dir() -> Path:
    env = os.environ.get("INFRA_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd() / "infra", Path(__file__).resolve().parents[2] / "infra"]
    for c in candidates:
        if (c / "envs").is_dir() and (c / "policies").is_dir() and (c / ROOT_MODULE).is_dir():
            return c.resolve()
    raise InfraError("infra/ not found: run from the repo root or set INFRA_DIR to the infra directory")


def root_dir() -> Path:
    """The one root module every env plans (infra/platform)."""
    return infra_dir() / ROOT_MODULE


def known_envs() -> list[str]:
    return sorted(p.name for p in (infra_dir() / "envs").iterdir() if (p / SETTINGS).is_file())


def env_dir(env: str) -> Path:
    d = infra_dir() / "envs" / env
    settings = d / SETTINGS
    if not re.fullmatch(r"[a-z][a-z0-9-]*", env) or not settings.is_file():
        raise InfraError(f"unknown environment {env!r}: choose one of {', '.join(known_envs())}")
    declared = re.search(r'^env\s*=\s*"([^"]*)"', settings.read_text(), re.MULTILINE)
    if not declared or declared.group(1) != env:
        raise InfraError(f'{settings} must set env = "{env}" (the directory name): fix that line')
    return d


def var_files(env: str) -> list[Path]:
    """The env's settings, then the user's terraform.tfvars and *.auto.tfvars next to it (later files win)."""
    d = env_dir(env)
    stray = sorted(p.name for p in root_dir().glob("*.tfvars*") if p.is_file())
    if stray:
        raise InfraError(
            f"{root_dir()} has {', '.join(stray)}, which would apply to every env: move it to infra/envs/{env}/"
        )
    user = [d / "terraform.tfvars", *sorted(d.glob("*.auto.tfvars"))]
    return [d / SETTINGS, *(p for p in user if p.is_file())]


def work_dir(env: str) -> Path:
    """Plans, plan JSON and emulated state of one env (git-ignored)."""
    d = env_dir(env) / ".infra"
    d.mkdir(exist_ok=True)
    return d
