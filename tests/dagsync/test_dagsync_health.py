"""`dagsync check`: the lean path (env only, no pydantic) answers exactly as the full CLI, or hands over to it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dagsync import cli, launch
from dagsync.health import DEFAULT_MAX_AGE, lean_check
from dagsync.state import Paths, write_json
from platform_common.sidecar_status import SidecarStatus

NOW = time.time()


def _state(tmp_path: Path, shape: str) -> Path:
    """A DEST and its state dir as the sidecar leaves them, in one of the shapes the check tells apart."""
    dest = tmp_path / "dags"
    paths = Paths.for_dest(dest)
    paths.ensure()
    (paths.versions / "v1").mkdir()
    if shape != "not-published":
        dest.symlink_to(paths.versions / "v1")
    ok = SidecarStatus("side-1", last_success=NOW - 20, last_attempt=NOW - 20, version="v1", commit="c1")
    failing = SidecarStatus(
        "side-2", last_attempt=NOW - 5, last_error="s3: NoSuchBucket", consecutive_failures=3
    )
    if shape == "no-status":
        return dest
    if shape == "unreadable":
        paths.status_file.write_text('{"sidecar_id": "x", "last_success": "yesterday"}')
        return dest
    status = SidecarStatus("side-2", last_attempt=NOW - 5, last_error="s3: boom") if shape == "never" else ok
    if shape == "stale":
        status = SidecarStatus("side-1", last_success=NOW - 900, last_attempt=NOW - 900, version="v1")
    write_json(paths.status_file, status.to_json())
    write_json(paths.sidecars / "side-1.json", ok.to_json())
    write_json(paths.sidecars / "side-2.json", failing.to_json())
    return dest


def _check_via(
    main, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
):
    """``main(["check"])`` with exactly ``env`` as its DAGSYNC_* variables: (exit code, stdout, stderr)."""
    with monkeypatch.context() as m:
        for k in [k for k in os.environ if k.upper().startswith("DAGSYNC_")]:
            m.delenv(k)
        for k, v in env.items():
            m.setenv(k, v)
        with pytest.raises(SystemExit) as exc:
            main(["check"])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def _full(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]):
    """The full CLI (pydantic settings) on ``env``."""
    return _check_via(cli.main, monkeypatch, capsys, env)


def _same_seconds(text: str) -> str:
    return re.sub(r"\d+s ago", "Ns ago", text)


SHAPES = ["ok", "no-status", "unreadable", "never", "stale", "not-published"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"DAGSYNC_MAX_AGE": "60"},
        {"DAGSYNC_MAX_AGE": "5.5"},
        {"DAGSYNC_SIDECAR_ID": "side-1"},
        {"DAGSYNC_SIDECAR_ID": "side-2", "DAGSYNC_LOG_LEVEL": "warning"},
        {"DAGSYNC_SIDECAR_ID": "side-3"},
        {"dagsync_max_age": "1000"},  # pydantic-settings reads env names case-insensitively
        {"DAGSYNC_SOURCE": "s3://dags/dev/", "DAGSYNC_INTERVAL": "3"},  # the sidecar's own settings
    ],
    ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()) or "defaults",
)
def test_lean_check_answers_as_the_full_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    shape: str,
    extra: dict[str, str],
) -> None:
    env = {"DAGSYNC_DEST": str(_state(tmp_path, shape)), **extra}
    lean = lean_check(env)
    assert lean is not None, "the lean path must answer for plain env values"
    code, out, err = _full(monkeypatch, capsys, env)
    assert lean.code == code
    shown = (lean.line + "\n", "") if code == 0 else ("", f"dagsync: {lean.line}\n")
    assert (_same_seconds(shown[0]), _same_seconds(shown[1])) == (_same_seconds(out), _same_seconds(err))


def test_lean_check_decides_each_shape(tmp_path: Path) -> None:
    """The verdicts themselves, so the equality above cannot pass with both paths wrong."""
    want = {
        "ok": (0, "ok: last successful sync 20s ago, version v1, commit c1"),
        "no-status": (1, "no successful sync into"),
        "unreadable": (1, "is unreadable: last_success is not a number"),
        "never": (1, "last error: s3: NoSuchBucket (sidecar side-2)"),  # the newest error of all sidecars
        "stale": (1, "was 900s ago (max 300s)"),
        "not-published": (1, "does not point at a published version"),
    }
    for shape, (code, needle) in want.items():
        root = tmp_path / shape
        root.mkdir()
        verdict = lean_check({"DAGSYNC_DEST": str(_state(root, shape))}, now=NOW)
        assert verdict is not None and verdict.code == code and needle in verdict.line, (shape, verdict)
    assert DEFAULT_MAX_AGE == 300.0


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DAGSYNC_DEST": ""},
        {"DAGSYNC_STATE_DIR": ""},
        {"DAGSYNC_MAX_AGE": "abc"},
        {"DAGSYNC_MAX_AGE": "0"},
        {"DAGSYNC_MAX_AGE": "1e3"},
        {"DAGSYNC_MAX_AGE": " 60"},
        {"DAGSYNC_SIDECAR_ID": ".hidden"},
        {"DAGSYNC_SIDECAR_ID": "a/b"},
        {"DAGSYNC_LOG_LEVEL": "loud"},
        {"DAGSYNC_MAX_AGE": "60", "dagsync_max_age": "70"},
    ],
    ids=lambda e: ",".join(f"{k}={v!r}" for k, v in e.items()) or "no-dest",
)
def test_values_to_validate_go_to_the_full_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    if env and "DAGSYNC_DEST" not in env:  # {} stays without a DEST
        env = {"DAGSYNC_DEST": str(_state(tmp_path, "ok")), **env}
    assert lean_check(env) is None
    code, out, err = _full(monkeypatch, capsys, env)
    # the launcher hands these to the full CLI: the same result through `dagsync check` (the age may have moved
    # on by a second between the two calls)
    code2, out2, err2 = _check_via(launch.main, monkeypatch, capsys, env)
    assert (code2, _same_seconds(out2), _same_seconds(err2)) == (code, _same_seconds(out), _same_seconds(err))


def test_flags_go_to_the_full_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = _state(tmp_path, "stale")
    with pytest.raises(SystemExit) as exc:
        launch.main(["check", "--dest", str(dest), "--max-age", "1000"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("ok:")


def _console_script(
    probe: str, args: list[str], dagsync_env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``probe`` (which ends by calling ``dagsync.launch.main()``) as its own process, with ``args`` and exactly
    ``dagsync_env`` as its DAGSYNC_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DAGSYNC_")}
    return subprocess.run(
        [sys.executable, "-c", probe, *args],
        env={**env, **dagsync_env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_console_script_checks_without_pydantic_or_asyncio(tmp_path: Path) -> None:
    """`dagsync check` as ECS runs it: the answer, and what the process imported to give it."""
    dest = _state(tmp_path, "ok")
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(m for m in ('pydantic', 'pydantic_settings', 'asyncio', 'botocore')"
        " if m in sys.modules), file=sys.stderr))\n"
        "from dagsync.launch import main\n"
        "main()\n"
    )
    for extra, imported in (
        ({}, "[]"),
        ({"DAGSYNC_MAX_AGE": "x"}, "['asyncio', 'pydantic', 'pydantic_settings']"),
    ):
        r = _console_script(probe, ["check"], {"DAGSYNC_DEST": str(dest), **extra})
        assert r.stderr.strip().splitlines()[-1] == imported, r.stderr
        assert r.returncode == (0 if not extra else 2), r.stderr
    assert json.loads(Paths.for_dest(dest).status_file.read_text())["version"] == "v1"


@pytest.mark.parametrize("command", ["sync", "publish"])
def test_the_console_script_collects_no_garbage_until_its_imports_are_frozen(
    s3, bucket, tmp_path: Path, command: str
) -> None:
    """launch.main turns the collector off; the command turns it back on once its imports and S3 client exist,
    with what they made frozen (never walked again), before any S3 work (services/dagsync/cli.py)."""
    from tests.support.dagsync import put

    put(s3, bucket, "dags/a.py", b"A")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.py").write_bytes(b"A")
    probe = (
        "import gc, sys\n"
        "from dagsync import cli\n"
        "collect = cli.collect_from_here\n"
        "def traced():\n"
        "    before = gc.isenabled()\n"
        "    collect()\n"
        "    print('collector', before, gc.isenabled(), gc.get_freeze_count() > 10000, file=sys.stderr)\n"
        "cli.collect_from_here = traced\n"
        "from dagsync.launch import main\n"
        "main()\n"
    )
    if command == "sync":
        env = {"DAGSYNC_SOURCE": f"s3://{bucket}/dags/", "DAGSYNC_DEST": str(tmp_path / "dags")}
    else:
        env = {"DAGSYNC_SOURCE": str(tmp_path / "repo"), "DAGSYNC_DEST": f"s3://{bucket}/dags/"}
    r = _console_script(probe, [command], {**env, "DAGSYNC_METRICS_PORT": "0"})
    assert r.returncode == 0, r.stderr
    assert "collector False True True" in r.stderr.splitlines(), r.stderr


def test_the_console_script_exits_with_its_objects_frozen(tmp_path: Path) -> None:
    """At exit every object is frozen before the interpreter's final collections (services/dagsync/launch.py), on the
    lean path and through the full CLI; the exit code is the command's."""
    dest = _state(tmp_path, "ok")
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, file=sys.stderr))\n"  # runs after launch's
        "from dagsync.launch import main\n"
        "main()\n"
    )
    for args, code in ((["check"], 0), (["check", "--max-age", "300"], 0), (["check", "--max-age", "x"], 2)):
        r = _console_script(probe, args, {"DAGSYNC_DEST": str(dest)})
        assert r.stderr.strip().splitlines()[-1] == "frozen True", (args, r.stderr)
        assert r.returncode == code, (args, r.stderr)
