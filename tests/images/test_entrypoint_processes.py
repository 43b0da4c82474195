"""images/airflow/entrypoint.sh running real Airflow 3.1.8 roles against real Postgres and Redis: migrate, the
health command per role, and Celery's warm shutdown on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools.airflow import entrypoint_cmd, entrypoint_env
from devtools.servers import Server, _pg_bin, free_port

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def env(
    postgres_server: Server, redis_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    # Own database and Redis DB number: other tests share these session servers (and count the `default` queue).
    db = "images_entrypoint"
    subprocess.run(
        [
            _pg_bin("psql"),
            f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres",
            "-c",
            f"CREATE DATABASE {db}",
        ],
        capture_output=True,
        check=False,
    )
    home = tmp_path_factory.mktemp("ep-home")
    e = entrypoint_env(
        home,
        db_port=postgres_server.port,
        db_name=db,
        redis_port=redis_server.port,
        api_port=free_port(),
        jwt_secret="test-secret",
        extra={
            "AIRFLOW_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/7",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW_ROLE_FILE": str(home / "role"),
        },
    )
    r = subprocess.run(entrypoint_cmd("migrate"), env=e, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return e


def health(env: dict[str, str], role: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        entrypoint_cmd("health", role), env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def proc_log(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def start(
    env: dict[str, str], role: str, log: Path, procs: list[subprocess.Popen[bytes]], **extra: str
) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        p = subprocess.Popen(
            entrypoint_cmd(role),
            env={**env, **extra},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    procs.append(p)
    return p


def wait_healthy(
    env: dict[str, str], role: str, proc: subprocess.Popen[bytes], ready: Callable[[], bool], log: Path
) -> None:
    """Wait for a cheap readiness sign first (each health call imports Airflow: seconds of CPU), then the health
    command must pass."""
    deadline = time.monotonic() + 150
    while not ready():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{role} never ready: {log.read_text()[-3000:]}"
        time.sleep(0.5)
    for _ in range(5):  # the job row / the Celery node may lag the readiness sign by a moment
        r = health(env, role)
        if r.returncode == 0:
            return
        time.sleep(2)
    raise AssertionError(f"{role} ready but its health command fails: {r.stderr[-2000:]}")


def scheduler_scenario(env: dict[str, str], tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    assert health(env, "scheduler").returncode != 0  # no scheduler yet
    log = tmp_path / "scheduler.log"
    proc = start(env, "scheduler", log, procs, AIRFLOW_ROLE_FILE=str(tmp_path / "scheduler.role"))
    port = env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"]

    def serving() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_healthy(env, "scheduler", proc, serving, log)
    assert (tmp_path / "scheduler.role").read_text().strip() == "scheduler"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()[-2000:]


def worker_scenario(env: dict[str, str], tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    env = {**env, "AIRFLOW_WORKER_HOST": "ep-test-worker", "AIRFLOW_HEALTH_TIMEOUT": "3"}
    log = tmp_path / "worker.log"
    proc = start(env, "worker", log, procs, AIRFLOW__CELERY__WORKER_CONCURRENCY="1")
    wait_healthy(env, "worker", proc, lambda: "celery@ep-test-worker ready" in log.read_text(), log)
    other = health({**env, "AIRFLOW_WORKER_HOST": "some-other-worker"}, "worker")
    assert other.returncode != 0  # the check pings exactly this worker's node
    proc.send_signal(signal.SIGTERM)  # exec'd: the signal reaches Celery itself
    assert proc.wait(timeout=60) == 0
    text = log.read_text()
    assert "celery@ep-test-worker ready" in text
    assert "Warm shutdown" in text and "Cold shutdown" not in text


def test_health_commands_follow_the_processes_and_workers_shut_down_warm(
    env: dict[str, str], tmp_path: Path, proc_log: list
) -> None:
    # Both scenarios at once: each is mostly waiting on Airflow's start-up.
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(fn, env, tmp_path, proc_log) for fn in (scheduler_scenario, worker_scenario)]
        for f in futures:
            f.result()
