"""Small CI helper scripts: backend config writer and conftest installer (offline parts)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TF_STATE")}
    return subprocess.run(
        [str(REPO / "scripts" / script), *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=30,
    )


def test_backend_config_matches_the_bootstrap_output_format(tmp_path: Path) -> None:
    (tmp_path / "envs" / "dev").mkdir(parents=True)
    env = {
        "INFRA_DIR": str(tmp_path),
        "TF_STATE_BUCKET": "acme-airflow-tfstate-123456789012",
        "TF_STATE_KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/abc",
        "AWS_REGION": "eu-west-1",
    }
    proc = run("ci_backend_config.sh", "dev", env=env)
    assert proc.returncode == 0, proc.stderr
    written = (tmp_path / "envs" / "dev" / "backend.hcl").read_text()
    kv = dict(re.findall(r"^(\w+)\s*=\s*(.+)$", written, re.MULTILINE))
    assert kv == {
        "bucket": '"acme-airflow-tfstate-123456789012"',
        "key": '"envs/dev/terraform.tfstate"',
        "region": '"eu-west-1"',
        "encrypt": "true",
        "kms_key_id": '"arn:aws:kms:us-east-1:123456789012:key/abc"',
        "use_lockfile": "true",
    }
    # the same keys, in the same order, as infra/bootstrap's backend_config output
    outputs = (REPO / "infra" / "bootstrap" / "outputs.tf").read_text()
    assert re.findall(r'"(\w+)\s+= ', outputs.split("backend_config")[1])[:5] == list(kv)[:5]


def test_backend_config_needs_the_variables(tmp_path: Path) -> None:
    (tmp_path / "envs" / "dev").mkdir(parents=True)
    proc = run("ci_backend_config.sh", "dev", env={"INFRA_DIR": str(tmp_path)})
    assert proc.returncode != 0 and "TF_STATE_BUCKET" in proc.stderr
    assert not (tmp_path / "envs" / "dev" / "backend.hcl").exists()
    bad = run(
        "ci_backend_config.sh",
        "qa",
        env={"INFRA_DIR": str(tmp_path), "TF_STATE_BUCKET": "b", "TF_STATE_KMS_KEY_ARN": "k"},
    )
    assert bad.returncode == 2 and "no environment qa" in bad.stderr


def test_conftest_pin_is_one_version_with_a_sha256() -> None:
    text = (REPO / "scripts" / "ci_install_conftest.sh").read_text()
    assert re.search(r'CONFTEST_VERSION="\$\{CONFTEST_VERSION:-\d+\.\d+\.\d+\}"', text)
    assert re.search(r"CONFTEST_SHA256=\"\$\{CONFTEST_SHA256:-[0-9a-f]{64}\}\"", text)
    assert "sha256sum -c" in text
