"""A private copy of infra/ and what an emulated plan of it needs: shared by the infra tests, the e2e stack,
`make iam-docs` (infra/scripts/render_iam_docs.py) and the benchmarks, which never import tests."""

from __future__ import annotations

import datetime
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
INFRA_BIN = str(Path(sys.executable).parent / "infra")
PLUGIN_CACHE = INFRA / ".terraform-cache"

# Never copied: working dirs, state and plans, and the user's own backend and variables (infra/.gitignore), so a
# copy plans exactly what the repo holds.
COPY_IGNORE = (
    ".terraform", ".infra", ".terraform-cache", "emulated_override.tf", "*.tfstate*", "*.tfplan",
    "backend.hcl", "terraform.tfvars", "*.auto.tfvars",
)  # fmt: skip


def copy_infra(dest: Path) -> Path:
    """A private copy of infra/ (no .terraform, no state, no user settings) that never touches the working dirs."""
    shutil.copytree(INFRA, dest, ignore=shutil.ignore_patterns(*COPY_IGNORE))
    return dest


def tf_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Env for tofu/terraform and `infra` on this project's machines: the offline provider mirror (INFRA_TF_MIRROR=1
    for `infra`, TF_CLI_CONFIG_FILE for direct tofu calls), no AWS_*/TF_VAR_* of the caller."""
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
        aws_secret_access_key="test",  # noqa: S106 (the emulator's dummy key)
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
