"""Scaler fixtures: a migrated Airflow 3.1.8 metadata DB (once per session), rows, ECS workers on moto, a proxy."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devtools.airflow import airflow_env, db_migrate
from devtools.servers import Server
from tests.support.aws import AwsProxy
from tests.support.scaler import AirflowRows


@pytest.fixture(scope="session")
def airflow_db_url(postgres_server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Own database on the shared server, migrated once per session with `airflow db migrate` (Airflow 3.1.8)."""
    name = "scaler_airflow"
    subprocess.run(
        ["psql", postgres_server.url.rsplit("/", 1)[0] + "/postgres", "-Atc", f"CREATE DATABASE {name}"],
        capture_output=True,
        check=False,
    )
    url = postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    db_migrate(airflow_env(tmp_path_factory.mktemp("airflow-home"), url))
    return url


@pytest.fixture
def rows(airflow_db_url: str) -> Iterator[AirflowRows]:
    r = AirflowRows(airflow_db_url)
    r.clear()
    yield r
    r.clear()
    r.close()


@pytest.fixture
def redis_url(redis_server: Server) -> Iterator[str]:
    """The shared Redis, DB 9, emptied before and after."""
    url = redis_server.url.rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def queue() -> str:
    return f"q{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace() -> str:
    return f"Test/Scaler/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def aws_proxy(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsProxy]:
    """Route this test's AWS calls through a recording proxy in front of moto."""
    proxy = AwsProxy(aws_env).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def scaler_bin() -> str:
    path = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "scaler"
    assert path.exists(), "run `make venv` first"
    return str(path)
