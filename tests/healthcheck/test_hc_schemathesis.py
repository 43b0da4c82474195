"""schemathesis against the live app's own OpenAPI schema: no 500s, responses conform to the schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from devtools.servers import LOOPBACK, Server, free_port
from tests.support.healthcheck import JsonServer, hc_env

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def test_schemathesis_finds_no_server_error(
    live_app: Any, redis_server: Server, json_server: JsonServer, tmp_path: Path
) -> None:
    json_server.routes["/decision"] = (200, {"desired": 1, "decided_at": 0, "error": "stale"})
    app = live_app(
        hc_env(redis_enabled=True, redis_url=redis_server.url, scaler_enabled=True, scaler_url=json_server.url,
               postgres_enabled=True, postgres_url=f"postgresql://u:pw@{LOOPBACK}:{free_port()}/db", cache_ttl=0.5)
    )  # fmt: skip
    out = subprocess.run(
        [SCHEMATHESIS, "run", f"{app.url}/openapi.json", "--checks", "all", "--max-examples", "40", "--seed", "7",
         "--workers", "1", "--report", "junit", "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "4 selected / 4 total" in out.stdout
    assert "No issues found" in out.stdout
