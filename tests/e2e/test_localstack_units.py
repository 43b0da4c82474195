"""The local stack's pure parts, its TLS material and its process supervisor, against real processes (fast; no
Airflow). The whole stack (infra apply + the Fargate runner) is tests/e2e/test_acceptance.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.localstack.config import DEFAULT_PORTS, StackConfig, choose_ports
from devtools.localstack.procs import Supervisor, proc_start_time
from tests.e2e.conftest import offhours_schedule


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


def test_config_round_trips_and_derives_the_iac_names(tmp_path: Path) -> None:
    cfg = StackConfig.load_or_create(tmp_path / "s", "auto", tf_vars={"worker_stop_timeout": "15"})
    again = StackConfig.load_or_create(tmp_path / "s", "auto")
    assert again.ports == cfg.ports and again.tf_vars == {"worker_stop_timeout": "15"}
    # the names infra/envs/local builds (<org>-airflow-<env>-<component>), from one prefix
    assert cfg.cluster == "acme-airflow-local-cluster" and cfg.worker_service == "acme-airflow-local-worker"
    assert cfg.dags_bucket == "acme-airflow-dags" and cfg.dags_prefix == "local/"
    with pytest.raises(ValueError, match="unknown setting"):
        StackConfig.load_or_create(tmp_path / "s", "auto", max_workers=3)


def test_runner_config_maps_aws_hosts_to_the_stand_ins(tmp_path: Path) -> None:
    from devtools.localstack import stack, tls

    cfg = StackConfig.load_or_create(tmp_path / "s", "auto")
    stores = {
        "rds": {"address": "db.x.rds.amazonaws.com", "port": 5432},
        "redis": {"address": "r.cache", "port": 6379},
    }
    doc = stack.runner_config(cfg, stores, tls.ensure(tmp_path / "tls"))
    assert doc["hosts"]["db.x.rds.amazonaws.com:5432"] == f"127.0.0.1:{cfg.ports['postgres']}"
    assert doc["hosts"]["r.cache:6379"] == f"127.0.0.1:{cfg.ports['redis']}"
    # the Cloud Map name of the API (docs/adr/0011) -> the runner's front of the api-server service
    assert doc["hosts"]["api-server.acme-airflow-local.internal:8080"] == f"127.0.0.1:{cfg.ports['api']}"
    assert doc["fronts"]["acme-airflow-local-api-server:8080"] == f"127.0.0.1:{cfg.ports['api']}"
    from devtools.fargate.config import RunnerConfig

    RunnerConfig.from_dict(doc)  # the runner accepts what the stack writes


def test_tls_material_verifies_for_localhost(tmp_path: Path) -> None:
    from devtools.localstack import tls

    files = tls.ensure(tmp_path / "tls")
    r = subprocess.run(
        ["openssl", "verify", "-CAfile", str(files.ca), str(files.cert)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", str(files.cert)], capture_output=True, text=True
    )
    assert "IP Address:127.0.0.1" in text.stdout and "DNS:localhost" in text.stdout
    assert files.ca.read_text() in files.bundle.read_text()
    assert oct(files.key.stat().st_mode & 0o777) == "0o600"
    before = files.cert.read_bytes()
    assert tls.ensure(tmp_path / "tls").cert.read_bytes() == before  # made once, reused


def test_provider_mirror_is_opt_in_and_only_where_it_exists(tmp_path: Path, monkeypatch) -> None:
    from devtools.localstack import stack

    cfg = StackConfig.load_or_create(tmp_path / "s", "auto", infra_dir=str(tmp_path / "infra"))
    (tmp_path / "infra").mkdir()
    monkeypatch.delenv("INFRA_TF_MIRROR", raising=False)
    (tmp_path / "infra" / "tf-cli.hcl").write_text(
        f'filesystem_mirror {{\n path = "{tmp_path / "nowhere"}"\n}}\n'
    )
    assert stack.mirror_env(cfg) == {}  # a laptop: the normal registry
    (tmp_path / "nowhere").mkdir()
    assert stack.mirror_env(cfg) == {"INFRA_TF_MIRROR": "1"}  # this project's machines
    monkeypatch.setenv("INFRA_TF_MIRROR", "0")
    assert stack.mirror_env(cfg) == {"INFRA_TF_MIRROR": "0"}  # the user's choice wins


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


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "devtools.localstack", "--state-dir", str(tmp_path / "s")]
    r = subprocess.run([*cli, "up", "nosuchthing"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unrecognized arguments: nosuchthing" in r.stderr
    r = subprocess.run(
        [*cli, "up", "--config", '{"max_workerz": 1}'], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "bad configuration" in r.stderr and "\n" not in r.stderr.strip()
    r = subprocess.run(
        [sys.executable, "-m", "devtools.localstack", "--state-dir", str(tmp_path / "none"), "down"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "no local stack" in r.stdout


def test_only_the_migration_task_migrates() -> None:
    """The deploy path's one-off task (`entrypoint.sh migrate`, run by `infra apply`) is the only code path of the
    product and of `make local` that runs `airflow db migrate` (test fixtures migrate their own databases)."""
    import re

    repo = Path(__file__).resolve().parents[2]
    runs_migrate = re.compile(
        r'^\s*[^#\s].*(\bairflow db migrate\b(?!\)|`)|"db", "migrate"|db_migrate\()', re.MULTILINE
    )
    roots = ["services", "devtools/localstack", "devtools/fargate", "images", "scripts", ".github", "infra"]
    hits = sorted(
        str(path.relative_to(repo))
        for root in roots
        for path in (repo / root).rglob("*")
        if path.is_file()
        and ".terraform" not in path.parts
        and runs_migrate.search(path.read_text(errors="ignore"))
    )
    assert hits == ["images/airflow/entrypoint.sh"], hits
    # once, in the `migrate` role (which then creates the FAB users: images/airflow/platform_users.py)
    assert (repo / "images/airflow/entrypoint.sh").read_text().count('\n      airflow db migrate "$@" ||') == 1
