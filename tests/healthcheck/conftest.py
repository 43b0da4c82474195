"""Fixtures for the healthcheck tests; the helpers live in tests/support/healthcheck.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.healthcheck import HungServer, JsonServer, LiveApp, start_app


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``live_app(env)`` starts `healthcheck serve`; every app started is stopped by PID at teardown."""
    apps: list[LiveApp] = []

    def make(env: dict[str, str], name: str = "healthcheck") -> LiveApp:
        app = start_app(tmp_path, env, f"{name}-{len(apps)}")
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.stop()


@pytest.fixture
def hung_server() -> Iterator[HungServer]:
    """A TCP peer that accepts and never answers."""
    server = HungServer()
    yield server
    server.close()


@pytest.fixture
def json_server() -> Iterator[JsonServer]:
    """A small real HTTP server with JSON routes, counting hits."""
    server = JsonServer().start()
    yield server
    server.stop()
