"""Fixtures for the infra tests: the tofu/terraform binary with the repo's CLI config, a private copy of infra/,
and one emulated plan of envs/dev against a dedicated, patched moto server (devtools.servers.start_moto)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.servers import Server, start_moto

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
INFRA_BIN = str(Path(sys.executable).parent / "infra")
PLUGIN_CACHE = INFRA / ".terraform-cache"


def tf_binary() -> str:
    for name in ("tofu", "terraform"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("neither tofu nor terraform on PATH (the machine image ships terraform in /usr/local/bin)")


def tf_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Env for tofu/terraform and `infra` here: the offline provider mirror is opt-in (INFRA_TF_MIRROR=1 makes
    `infra` use infra/tf-cli.hcl; TF_CLI_CONFIG_FILE is for the tests' direct tofu/terraform calls)."""
    PLUGIN_CACHE.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_"))}
    env.update(
        {
            "INFRA_TF_MIRROR": "1",
            "TF_CLI_CONFIG_FILE": str(INFRA / "tf-cli.hcl"),
            "TF_PLUGIN_CACHE_DIR": str(PLUGIN_CACHE),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
    )
    env.update(extra or {})
    return env


def copy_infra(dest: Path) -> Path:
    """A private copy of infra/ (no .terraform, no state) so tests never touch the developer's working dirs."""
    ignore = shutil.ignore_patterns(
        ".terraform", ".infra", ".terraform-cache", "emulated_override.tf", "*.tfstate*"
    )
    shutil.copytree(INFRA, dest, ignore=ignore)
    return dest


def import_certificate(endpoint: str) -> str:
    """A self-signed certificate imported into the emulator's ACM (the ALB's HTTPS listener needs one)."""
    import boto3
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airflow.dev.internal")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    acm = boto3.client(
        "acm",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    out = acm.import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )
    return str(out["CertificateArn"])


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
