"""Session fixtures: real moto server, Redis and Postgres on free loopback ports, each stopped by PID."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from devtools.servers import Server, start_moto, start_postgres, start_redis

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the standard AWS env vars at the moto server for this test (and its child processes)."""
    for key, value in {
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return moto_server.url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default "ci"): "ci" is reproducible (derandomized) and
# never fails on timing (the machine is shared); "dev" explores new random examples on each run.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=100)


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
