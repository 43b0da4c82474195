"""platform_common.cli (settings model -> flags) and the exit-code scheme (platform_common.exitcodes), through
every service's installed console script."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_common.cli import NONE, OneLineParser, add_flags, given, option_table
from platform_common.exitcodes import FAILED, OK, USAGE
from platform_common.settings import load_settings

BIN = Path(sys.executable).parent


class Demo(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")
    size: int = Field(3, ge=1, description="how many")
    on: bool = Field(True, description="switch")
    mode: Literal["a", "b"] = Field("a", description="which")
    globs: str = Field("", description="comma list")
    renamed: str = Field("x", description="other flag name", json_schema_extra={"flag": "--other"})


def parse(*argv: str) -> Demo:
    p = OneLineParser(prog="demo")
    add_flags(p, Demo, repeatable=("globs",))
    return load_settings(Demo, given(p.parse_args(list(argv)), Demo))


def test_flags_beat_env_and_switches_and_repeats_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_SIZE", "7")
    assert parse().size == 7 and parse("--size", "9").size == 9
    assert parse("--no-on").on is False and parse("--on").on is True and parse("--on", "false").on is False
    assert parse("--globs", "a*", "--globs", "b*").globs == "a*,b*"
    assert parse("--other", "y").renamed == "y" and parse("--mode", "B").mode == "b"


def test_usage_errors_exit_2_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse("--mode", "c")
    assert exc.value.code == USAGE
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_option_table_comes_from_the_model() -> None:
    table = option_table(Demo)
    assert "| `--size` | `DEMO_SIZE` | `3` | how many |" in table
    assert "| `--on` / `--no-on` | `DEMO_ON` | `true` | switch |" in table
    assert "| `--mode` | `DEMO_MODE` | `a` | which (a, b) |" in table
    assert "`--other`" in table and f"| {NONE} |" in table
    help_ = argparse.ArgumentParser()
    add_flags(help_, Demo)
    assert "env DEMO_SIZE; default 3" in help_.format_help()


def run(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSYNC_", "SCALER_", "HEALTHCHECK_"))}
    return subprocess.run(cmd, env={**clean, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("cmd", "env"),
    [
        (["dagsync", "sync", "--concurrency", "0"], {}),
        (["dagsync", "sync", "--no-such-flag"], {}),
        (["dagsync", "sync"], {"DAGSYNC_TRANSPORT": "pigeon"}),
        (["scaler", "decide", "--db-url", "postgresql://u@127.0.0.1:1/db", "--interval", "0"], {}),
        (["scaler", "decide", "--apply", "maybe"], {}),
        (["healthcheck", "status", "--port", "eighty"], {}),
        (["healthcheck", "status"], {"HEALTHCHECK_PORT": "eighty"}),
        (["healthcheck", "status", "--default-role", "fatal"], {}),
        (["healthcheck", "status"], {"HEALTHCHECK_CACHE_TTL": "-1"}),
    ],
)
def test_every_cli_exits_usage_on_bad_flags_or_settings(cmd: list[str], env: dict[str, str]) -> None:
    out = run([str(BIN / cmd[0]), *cmd[1:]], **env)
    assert out.returncode == USAGE, out
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith(cmd[0]), out.stderr


def test_every_cli_exits_failed_when_the_work_fails(tmp_path: Path) -> None:
    dead = "127.0.0.1:1"
    checks = [
        run([str(BIN / "dagsync"), "check", "--dest", str(tmp_path / "dags")]),
        run([str(BIN / "scaler"), "decide", "--redis-url", f"redis://{dead}/0", "--db-url", f"postgresql://u@{dead}/x"]),
        run(
            [str(BIN / "healthcheck"), "status", "--scaler-enabled", "false", "--airflow-enabled", "false",
             "--postgres-enabled", "false", "--redis-url", f"redis://{dead}/0", "--redis-timeout", "1"]
        ),
    ]  # fmt: skip
    assert [c.returncode for c in checks] == [FAILED] * 3, [(c.returncode, c.stderr[-300:]) for c in checks]


def test_healthcheck_status_ok_exits_0() -> None:
    off = ["airflow", "redis", "postgres", "scaler"]
    out = run([str(BIN / "healthcheck"), "status", *(f"--no-{p}-enabled" for p in off)])
    assert out.returncode == OK, out.stderr


def test_readme_option_tables_match_the_settings_models(repo_root: Path) -> None:
    """services/*/README.md option tables are generated (scripts/settings_docs.py); a stale one fails here."""
    out = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "settings_docs.py"), "--check"],
        capture_output=True, text=True, timeout=60, cwd=repo_root,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    readme = (repo_root / "services/scaler/README.md").read_text()
    assert "| `--concurrency` | `SCALER_WORKER_CONCURRENCY` | `16` |" in readme
