"""The local stack's pure parts and its process supervisor, against real processes (fast; no Airflow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.localstack.config import DEFAULT_PORTS, StackConfig, choose_ports
from devtools.localstack.procs import Supervisor, proc_start_time
from devtools.localstack.reconciler import WorkerView, plan
from tests.e2e.conftest import offhours_schedule

workers_st = st.lists(
    st.builds(
        WorkerView,
        task_id=st.uuids().map(str),
        started_at=st.floats(0, 1e6),
        protected=st.booleans(),
        stopping=st.booleans(),
    ),
    max_size=12,
    unique_by=lambda w: w.task_id,
)


@given(st.integers(-2, 15), workers_st)
def test_plan_moves_towards_desired_and_never_stops_protected(
    desired: int, workers: list[WorkerView]
) -> None:
    p = plan(desired, workers)
    active = [w for w in workers if not w.stopping]
    by_id = {w.task_id: w for w in workers}
    assert not (p.start and p.stop)
    assert len(set(p.stop)) == len(p.stop)
    assert all(tid in by_id and not by_id[tid].protected and not by_id[tid].stopping for tid in p.stop)
    after = len(active) + p.start - len(p.stop)
    target = max(0, desired)
    if target >= len(active):
        assert after == target and not p.held
    else:
        unprotected = [w for w in active if not w.protected]
        assert len(p.stop) == min(len(active) - target, len(unprotected))
        assert after == max(target, len(active) - len(unprotected))
        assert len(p.stop) + len(p.held) == len(active) - target  # every surplus worker: stopped or held


@given(workers_st)
def test_plan_stops_the_oldest_unprotected_first(workers: list[WorkerView]) -> None:
    active = [w for w in workers if not w.stopping]
    p = plan(max(0, len(active) - 1), workers)
    candidates = sorted((w for w in active if not w.protected), key=lambda w: (w.started_at, w.task_id))
    assert list(p.stop) == [w.task_id for w in candidates[:1]]


def test_plan_holds_a_protected_only_fleet() -> None:
    old = WorkerView("old", 1.0, protected=True)
    new = WorkerView("new", 2.0, protected=False)
    assert plan(1, [old, new]).stop == ("new",)  # oldest first, but the oldest is busy and protected
    assert plan(0, [old]).stop == () and plan(0, [old]).held == ("old",)
    assert plan(1, [WorkerView("a", 1.0, False), new]).stop == ("a",)


def test_offhours_schedule_never_contains_now() -> None:
    from datetime import UTC, datetime

    from scaler.schedule import parse_schedule  # the scaler's own parser decides

    now = datetime.now(UTC)
    sched = parse_schedule(offhours_schedule(now), "UTC")
    for ahead in range(0, 3600, 60):  # the whole e2e run stays off-hours
        assert sched.active_window(now.timestamp() + ahead) is None
    assert sched.active_window(now.timestamp() + 12 * 3600 + 60) is not None  # but it is a real window


def test_ports_default_auto_and_env_override(monkeypatch) -> None:
    assert choose_ports("default") == DEFAULT_PORTS
    monkeypatch.setenv("LOCAL_API_PORT", "18080")
    assert choose_ports("default")["api"] == 18080
    auto = choose_ports("auto")
    assert set(auto) == set(DEFAULT_PORTS) and len(set(auto.values())) == len(auto)
    monkeypatch.setenv("LOCAL_API_PORT", "eighty")
    try:
        choose_ports("default")
    except ValueError as exc:
        assert "LOCAL_API_PORT" in str(exc)
    else:
        raise AssertionError("a bad port must be refused")


def test_config_round_trips_and_keeps_the_secret_private(tmp_path: Path) -> None:
    cfg = StackConfig.load_or_create(tmp_path / "s", "auto", max_workers=3)
    again = StackConfig.load_or_create(tmp_path / "s", "auto")
    assert again.ports == cfg.ports and again.jwt_secret == cfg.jwt_secret and again.max_workers == 3
    assert oct(cfg.file.stat().st_mode & 0o777) == "0o600"


def sleeper(sup: Supervisor, name: str, extra: str = "") -> int:
    code = f"import signal, time, os\n{extra}\ntime.sleep(600)"
    info, _ = sup.spawn(name, [sys.executable, "-c", code], dict(os.environ))
    return info.pid


def test_supervisor_pid_files_detect_and_stop(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    pid = sleeper(sup, "a")
    info = sup.running("a")
    assert info is not None and info.pid == pid
    data = json.loads(sup.pid_file("a").read_text())
    assert data["pid"] == pid and data["start_time"] == proc_start_time(pid)
    assert sup.log_file("a").exists()
    assert sup.stop("a", timeout=10)
    assert sup.running("a") is None and not sup.pid_file("a").exists()
    assert proc_start_time(pid) is None
    assert sup.stop("a") is False  # already gone: nothing to do


def test_supervisor_ignores_a_recycled_pid(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.run_dir.mkdir(parents=True)
    # A PID file pointing at a live process that is not ours (different start time): never "running", never killed.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        sup.pid_file("x").write_text(
            json.dumps({"pid": stranger.pid, "start_time": 1, "log": "", "started_at": 0, "meta": {}})
        )
        assert sup.running("x") is None
        assert sup.stop("x") is False
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_supervisor_escalates_to_sigkill_and_cleans_the_group(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    child_file = tmp_path / "child.pid"
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(child_file)!r}, 'w').write(str(c.pid))\n"
        "time.sleep(600)\n"
    )
    info, _ = sup.spawn("stubborn", [sys.executable, "-c", code], dict(os.environ))
    deadline = time.monotonic() + 20
    while not child_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(child_file.read_text())
    t0 = time.monotonic()
    assert sup.stop("stubborn", signal.SIGTERM, timeout=1.0)
    assert time.monotonic() - t0 < 10
    assert proc_start_time(info.pid) is None
    deadline = time.monotonic() + 5
    while proc_start_time(child) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc_start_time(child) is None  # the group went with it


@pytest.mark.slow
@pytest.mark.e2e
def test_up_down_cycles_are_idempotent(tmp_path: Path) -> None:
    """`up` twice keeps the same processes; `down` stops all by PID; the next `up` starts fresh ones on the kept
    state (Postgres data survives), via the same CLI as make local."""
    import tempfile

    root = Path(
        tempfile.mkdtemp(prefix="ls-cycles-")
    )  # traversable by the postgres user (not pytest's 0700 tmp)
    os.chmod(root, 0o755)
    state = root / "state"
    cli = [sys.executable, "-m", "devtools.localstack", "--state-dir", str(state)]
    parts = ["postgres", "redis", "moto"]
    try:
        first = subprocess.run(
            [*cli, "up", "--ports", "auto", *parts], capture_output=True, text=True, timeout=180
        )
        assert first.returncode == 0, first.stderr
        sup = Supervisor(state)
        pids = {n: sup.running(n).pid for n in parts}  # type: ignore[union-attr]
        again = subprocess.run([*cli, "up", *parts], capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and again.stdout.count("already running") == 3, again.stdout
        assert {n: sup.running(n).pid for n in parts} == pids  # type: ignore[union-attr]
        status = json.loads(subprocess.run([*cli, "status", "--json"], capture_output=True, text=True).stdout)
        assert {r["name"]: r["state"] for r in status if r["name"] in parts} == dict.fromkeys(
            parts, "running"
        )
        for cycle in range(2):
            down = subprocess.run([*cli, "down"], capture_output=True, text=True, timeout=120)
            assert down.returncode == 0, down.stderr
            assert not sup.names() and all(proc_start_time(p) is None for p in pids.values())
            up = subprocess.run([*cli, "up", *parts], capture_output=True, text=True, timeout=180)
            assert up.returncode == 0, (cycle, up.stderr)
            new = {n: sup.running(n).pid for n in parts}  # type: ignore[union-attr]
            assert set(new.values()).isdisjoint(pids.values())
            pids = new
        assert (state / "postgres" / "data" / "PG_VERSION").exists()
        clean = subprocess.run([*cli, "clean"], capture_output=True, text=True, timeout=120)
        assert clean.returncode == 0 and not state.exists()
        assert all(proc_start_time(p) is None for p in pids.values())
    finally:
        subprocess.run([*cli, "down"], capture_output=True, timeout=120)
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "devtools.localstack", "--state-dir", str(tmp_path / "s")]
    r = subprocess.run(
        [*cli, "up", "--ports", "auto", "nosuchthing"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and "unknown component(s) nosuchthing" in r.stderr
    r = subprocess.run(
        [*cli, "up", "--config", '{"max_workerz": 1}'], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "bad configuration" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "devtools.localstack", "--state-dir", str(tmp_path / "none"), "down"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "no local stack" in r.stdout
