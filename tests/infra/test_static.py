"""Offline checks: fmt, validate (provider from the filesystem mirror), layout, README tables, env settings, checkov."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from infractl import tfdocs

from .conftest import INFRA, REPO, tf_binary, tf_env

MODULES = sorted(p for p in (INFRA / "modules").iterdir() if (p / "main.tf").is_file())
ROOT = INFRA / "platform"  # the one root module; an env is infra/envs/<env>/settings.tfvars
ENVS = ["dev", "prod", "local"]
EXAMPLES = [m / "examples" / "complete" for m in MODULES]


def test_fmt_check() -> None:
    r = subprocess.run(
        [tf_binary(), "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        env=tf_env(),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, f"unformatted HCL:\n{r.stdout}{r.stderr}"


def _validate(d: Path) -> tuple[Path, int, str]:
    env = tf_env()
    init = subprocess.run(
        [tf_binary(), "init", "-backend=false", "-input=false", "-no-color"],
        cwd=d,
        env=env,
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        return d, init.returncode, init.stdout + init.stderr
    r = subprocess.run(
        [tf_binary(), "validate", "-json", "-no-color"], cwd=d, env=env, capture_output=True, text=True
    )
    return d, r.returncode, r.stdout + r.stderr


def test_validate_every_module_example_and_env_offline() -> None:
    """`init -backend=false` + `validate` for each module, its example and the root; providers from the mirror."""
    dirs = [*MODULES, *EXAMPLES, ROOT]
    # One at a time: concurrent inits sharing TF_PLUGIN_CACHE_DIR race on its mkdir ("file exists").
    results = [_validate(d) for d in dirs]
    failed = [(d.relative_to(REPO), out[-1500:]) for d, rc, out in results if rc != 0]
    assert not failed, failed
    for d, _, out in results:
        doc = json.loads(out[out.index("{") :])
        assert doc["valid"] is True, (d, doc)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_layout(module: Path) -> None:
    for f in (
        "main.tf",
        "variables.tf",
        "outputs.tf",
        "versions.tf",
        "README.md",
        "examples/complete/main.tf",
    ):
        assert (module / f).is_file(), f"{module.name}: missing {f}"
    versions = (module / "versions.tf").read_text()
    assert 'source  = "hashicorp/aws"' in versions
    # only the aws provider, and a constraint that admits the mirrored 5.100.0
    assert re.findall(r'source\s*=\s*"([^"]+)"', versions) == ["hashicorp/aws"]
    assert '">= 5.80.0, < 6.0.0"' in versions


@pytest.mark.parametrize("module", [*MODULES, ROOT], ids=lambda p: p.name)
def test_readme_tables_current(module: Path) -> None:
    """Regenerating the Inputs/Outputs tables changes nothing (run `infra docs` after editing variables/outputs)."""
    readme = (module / "README.md").read_text()
    assert tfdocs.updated_readme(readme, tfdocs.render_tables(module)) == readme, (
        f"run `infra docs` ({module.name})"
    )


def test_readme_tables_list_every_variable_and_output() -> None:
    tables = tfdocs.render_tables(INFRA / "modules" / "edge")
    for name in ("certificate_arn", "idle_timeout", "oidc", "alb_dns_name", "api_target_group_arn"):
        assert f"[{name}]" in tables
    assert "| `120` | no |" in tables  # idle_timeout default
    assert re.search(r"\[certificate_arn\].*\| n/a \| yes \|", tables)


def _plan_settings(tmp_path: Path, var_file: Path) -> subprocess.CompletedProcess[str]:
    """Plan the root's variables alone (no provider, seconds): types and validations of env and settings."""
    d = tmp_path / "vars"
    d.mkdir(exist_ok=True)
    (d / "variables.tf").write_text((ROOT / "variables.tf").read_text())
    env = tf_env()
    for args in (
        ["init", "-input=false"],
        ["plan", "-input=false", f"-var-file={var_file}", "-var=certificate_arn=x"],
    ):
        r = subprocess.run([tf_binary(), *args, "-no-color"], cwd=d, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            return r
    return r


@pytest.mark.parametrize("env", ENVS)
def test_env_is_only_its_settings(env: str, tmp_path: Path) -> None:
    """dev, prod and local share infra/platform; an env dir holds settings, a backend example, nothing to plan."""
    d = INFRA / "envs" / env
    assert not list(d.glob("*.tf")), f"{env}: .tf files belong in infra/platform"
    assert f'env = "{env}"' in (d / "settings.tfvars").read_text()
    r = _plan_settings(tmp_path, d / "settings.tfvars")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_env_settings_differ_where_prod_needs_it() -> None:
    dev, prod = ((INFRA / "envs" / e / "settings.tfvars").read_text() for e in ("dev", "prod"))
    assert "db_multi_az              = false" in dev and "db_multi_az              = true" in prod
    assert "db_backup_retention_days = 7" in dev and "db_backup_retention_days = 14" in prod
    assert "db_deletion_protection   = true" in prod
    assert "redis_automatic_failover = true" in prod


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("db_multi_az ", "db_multi_azz "), 'attribute "db_multi_az" is required'),
        (('"scheduler" ', '"schedulr" '), "settings.sizes must name exactly"),
        (("min_workers = 1", "min_workers = 30"), "0 <= min_workers <= max_workers"),
        (
            ("az_count                    = 3", 'az_count                    = "three"'),
            "a number is required",
        ),
    ],
)
def test_a_typo_in_settings_fails_the_plan_with_a_clear_error(
    edit: tuple[str, str], message: str, tmp_path: Path
) -> None:
    text = (INFRA / "envs" / "prod" / "settings.tfvars").read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.tfvars"
    bad.write_text(text.replace(edit[0], edit[1], 1))
    r = _plan_settings(tmp_path, bad)
    assert r.returncode != 0
    assert message in " ".join(r.stderr.split()), r.stderr[-2000:]


def test_no_other_providers_or_tool_specific_features() -> None:
    files = [
        p
        for d in ("modules", "platform")
        for p in (INFRA / d).rglob("*.tf")
        if not {".terraform", ".infra"} & set(p.parts)
    ]
    text = "\n".join(p.read_text() for p in files)
    assert "hashicorp/random" not in text and 'provider "random"' not in text
    # tofu-only (state encryption) or version-specific blocks
    for feature in ("encryption", "removed", "import", "check", "moved", "ephemeral"):
        assert not re.search(rf"(?m)^\s*{feature}\s*\{{", text), f"`{feature} {{}}` is not portable"
    assert "manage_master_user_password   = true" in text


CHECKOV = REPO / ".venv-tools" / "bin" / "checkov"


def test_checkov_zero_failures_and_every_skip_justified() -> None:
    if not CHECKOV.exists():
        pytest.fail(".venv-tools missing: run `make tools-venv` (make test depends on it)")
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "LOG_LEVEL": "ERROR",
        "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
    }
    r = subprocess.run(
        [str(CHECKOV), "-d", str(INFRA), "--framework", "terraform", "--skip-download", "--quiet", "--compact",
         "-o", "json", "--skip-path", r"\.terraform", "--skip-path", r"\.infra"],  # working dirs, emulated copies
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = r.stdout[r.stdout.index("{") if r.stdout.lstrip().startswith("{") else r.stdout.index("[") :]
    reports = json.loads(out)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        (c["check_id"], c["resource"], c["file_path"])
        for rep in reports
        for c in rep.get("results", {}).get("failed_checks", [])
    ]
    passed = sum(rep.get("summary", {}).get("passed", 0) for rep in reports)
    assert passed > 100, r.stderr[-2000:]
    assert not failed, failed
    skips = [
        line.strip()
        for p in INFRA.rglob("*.tf")
        if not {".terraform", ".infra"} & set(p.parts)
        for line in p.read_text().splitlines()
        if "checkov:skip" in line
    ]
    assert skips, "expected inline justified skips"
    for s in skips:
        assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+: \S.{15,}", s), f"skip without a reason: {s}"
