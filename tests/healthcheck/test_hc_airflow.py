"""A real Apache Airflow 3.1.8 api-server and scheduler; killing the scheduler shows in its component."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from devtools.airflow import airflow_bin, airflow_env, db_migrate
from devtools.servers import LOOPBACK, Server, free_port, stop_pid, wait_for_port
from tests.support.healthcheck import get_status, hc_env, wait_until

pytestmark = pytest.mark.airflow


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop one process we started and its children (its own session/process group), by its PID."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    stop_pid(proc.pid, sig, timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers (e.g. a forked child) of this group only


@pytest.fixture
def airflow(tmp_path: Path, postgres_server: Server, redis_server: Server) -> Iterator[dict[str, Any]]:
    dbname = f"hcairflow{os.getpid()}"
    base = postgres_server.url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {dbname}")
        conn.execute(f"CREATE DATABASE {dbname}")
    api_port = free_port()
    env = airflow_env(
        tmp_path / "airflow-home",
        f"{base}/{dbname}",
        broker_url=redis_server.url,
        api_port=api_port,
        extra={
            # Heartbeat every 1 s; a scheduler silent for 10 s is unhealthy (defaults: 5 s and 30 s).
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",  # no fixed :8974 port in tests
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "airflow-logs"),
        },
    )
    db_migrate(env)
    procs = {
        "api": spawn(
            [airflow_bin(), "api-server", "--port", str(api_port), "--host", LOOPBACK],
            env,
            tmp_path / "api.log",
        ),
        "scheduler": spawn([airflow_bin(), "scheduler"], env, tmp_path / "scheduler.log"),
    }
    try:
        wait_for_port(api_port, 180, procs["api"], tmp_path / "api.log")
        yield {"url": f"http://{LOOPBACK}:{api_port}", "procs": procs, "logs": tmp_path}
    finally:
        for proc in procs.values():
            stop_group(proc)


def test_airflow_components_follow_the_real_processes(airflow: dict[str, Any], live_app: Any) -> None:
    app = live_app(
        hc_env(
            airflow_enabled=True, airflow_url=airflow["url"], airflow_timeout=10, cache_ttl=0.5, stale_grace=0
        )
    )

    def components() -> dict[str, Any]:
        comps: dict[str, Any] = get_status(app.url, timeout=60)["components"]
        return comps

    comps = wait_until(
        lambda: (c := components())["airflow_scheduler"]["status"] == "ok" and c,
        180,
        1.0,
        "a healthy scheduler",
    )
    assert comps["airflow_api"]["status"] == "ok"
    assert comps["airflow_metadatabase"]["status"] == "ok"
    assert comps["airflow_scheduler"]["detail"].startswith("healthy, heartbeat ")
    # Not started in this test: shown as down, with the reason.
    assert (
        comps["airflow_triggerer"]["status"] == "down"
        and "never started" in comps["airflow_triggerer"]["detail"]
    )
    assert comps["airflow_dag_processor"]["status"] == "down"
    raw = httpx.get(f"{airflow['url']}/api/v2/monitor/health", timeout=30).json()
    assert raw["scheduler"]["status"] == "healthy"

    stop_group(airflow["procs"]["scheduler"], signal.SIGKILL)  # a crash: no clean shutdown
    comps = wait_until(
        lambda: (c := components())["airflow_scheduler"]["status"] == "down" and c,
        120,
        1.0,
        "the scheduler down",
    )
    assert comps["airflow_scheduler"]["detail"].startswith("unhealthy, heartbeat ")
    assert comps["airflow_api"]["status"] == "ok"
    assert get_status(app.url)["status"] == "down"  # the scheduler is critical by default

    stop_group(airflow["procs"]["api"])
    comps = wait_until(
        lambda: (c := components())["airflow_api"]["status"] == "down" and c, 60, 0.5, "api-server down"
    )
    assert "ConnectError" in comps["airflow_api"]["detail"]
    assert all(comps[f"airflow_{p}"]["status"] == "down" for p in ("metadatabase", "scheduler"))
