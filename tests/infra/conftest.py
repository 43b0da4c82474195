"""Fixtures for the infra tests: the tofu/terraform binary with the repo's CLI config, a private copy of infra/,
and one emulated plan of envs/dev against a dedicated, patched moto server (devtools.servers.start_moto)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.infra_copy import INFRA, INFRA_BIN, REPO, copy_infra, import_certificate, tf_env
from devtools.servers import Server, start_moto

__all__ = [
    "INFRA",
    "INFRA_BIN",
    "REPO",
    "Emulated",
    "copy_infra",
    "import_certificate",
    "tf_binary",
    "tf_env",
]


def tf_binary() -> str:
    for name in ("tofu", "terraform"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("neither tofu nor terraform on PATH (the machine image ships terraform in /usr/local/bin)")


@dataclass
class Emulated:
    moto: Server
    infra: Path
    env: dict[str, str]
    plan_json: Path

    def infra_cli(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [INFRA_BIN, "--emulated", "--yes", *args],
            env=self.env,
            cwd=REPO,
            text=True,
            capture_output=True,
            timeout=timeout,
        )
        if check and r.returncode != 0:
            raise AssertionError(
                f"infra {' '.join(args)} exited {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
            )
        return r

    def plan(self) -> dict[str, Any]:
        return json.loads(self.plan_json.read_text())


@pytest.fixture(scope="session")
def emulated_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    """Dedicated moto server + private infra copy + the first `infra --emulated plan dev` (its JSON)."""
    base = tmp_path_factory.mktemp("infra-emulated")
    moto = start_moto(base / "moto", env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    try:
        infra = copy_infra(base / "infra")
        env = tf_env(
            {
                "INFRA_DIR": str(infra),
                "AWS_ENDPOINT_URL": moto.url,
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "TF_VAR_certificate_arn": import_certificate(moto.url),
                "INFRA_TF_PARALLELISM": "30",
            }
        )
        em = Emulated(moto, infra, env, infra / "envs" / "dev" / ".infra" / "plan.json")
        em.infra_cli("plan", "dev")
        yield em
    finally:
        moto.stop()


@pytest.fixture(scope="session")
def dev_plan(emulated_dev: Emulated) -> dict[str, Any]:
    return emulated_dev.plan()
