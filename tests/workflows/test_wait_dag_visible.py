"""scripts/wait_dag_visible.py against a real HTTP server on a free loopback port.

The server speaks the small part of Airflow 3's REST API the script uses (POST /auth/token, GET
/api/v2/dags/{id}, GET /api/v2/importErrors) and the health aggregator's GET /status. DAGs "land" after a
given number of polls, so the script really has to wait; main() runs in-process, and once as a process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "wait_dag_visible.py"
_spec = importlib.util.spec_from_file_location("wait_dag_visible", SCRIPT)
assert _spec and _spec.loader
wait_dag_visible = importlib.util.module_from_spec(_spec)
sys.modules["wait_dag_visible"] = wait_dag_visible  # dataclasses look their module up
_spec.loader.exec_module(wait_dag_visible)
TOKEN = "jwt-for-tests"


@dataclass
class FakeAirflow:
    """Behaviour knobs for the test server (state shared with the handler threads)."""

    dags_after: dict[str, int] = field(default_factory=dict)  # dag id -> visible from this poll count on
    import_errors: list[dict[str, str]] = field(default_factory=list)
    status_body: dict | None = None
    polls: dict[str, int] = field(default_factory=dict)
    logins: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_handler(state: FakeAirflow) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, code: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/auth/token":
                with state.lock:
                    state.logins += 1
                if body == {"username": "admin", "password": "admin"}:
                    self._send(201, {"access_token": TOKEN})
                else:
                    self._send(401, {"detail": "Invalid credentials"})
                return
            self._send(404, {"detail": "not found"})

        def do_GET(self) -> None:
            if self.path == "/status":
                self._send(200, state.status_body or {"status": "ok", "components": {}})
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"detail": "Not authenticated"})
                return
            if self.path.startswith("/api/v2/importErrors"):
                self._send(
                    200, {"import_errors": state.import_errors, "total_entries": len(state.import_errors)}
                )
                return
            prefix = "/api/v2/dags/"
            if self.path.startswith(prefix):
                dag_id = self.path[len(prefix) :]
                with state.lock:
                    state.polls[dag_id] = state.polls.get(dag_id, 0) + 1
                    n = state.polls[dag_id]
                after = state.dags_after.get(dag_id)
                if after is not None and n >= after:
                    self._send(200, {"dag_id": dag_id, "is_paused": True})
                else:
                    self._send(404, {"detail": f"The Dag with ID: `{dag_id}` was not found"})
                return
            self._send(404, {"detail": "not found"})

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, FakeAirflow]]:
    state = FakeAirflow()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Result:
    returncode: int
    stderr: str


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """The script's main() in-process (a subprocess per case costs seconds on a loaded machine); the CLI as a
    process is covered by test_cli_runs_as_a_process_with_exit_codes."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("AIRFLOW_API")]:
        del os.environ[key]
    os.environ.update(env or {})
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            try:
                rc = wait_dag_visible.main(list(args))
            except SystemExit as exc:  # argparse
                rc = int(exc.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Result(rc, err.getvalue())


LOGIN = {"AIRFLOW_API_USER": "admin", "AIRFLOW_API_PASSWORD": "admin"}


def test_waits_until_every_dag_is_visible(server: tuple[str, FakeAirflow]) -> None:
    url, state = server
    state.dags_after = {"quick": 1, "fanout": 3}  # fanout shows up on the third poll
    proc = run(
        "--airflow-url", url, "--dag-ids", "quick,fanout", "--timeout", "30", "--interval", "0.1", env=LOGIN
    )
    assert proc.returncode == 0, proc.stderr
    assert state.polls["fanout"] == 3
    assert "waiting" in proc.stderr and "missing: fanout" in proc.stderr
    assert "visible after" in proc.stderr
    assert state.logins == 1  # one token per run, not one per poll


def test_bearer_token_from_env_skips_login(server: tuple[str, FakeAirflow]) -> None:
    url, state = server
    state.dags_after = {"quick": 1}
    proc = run(
        "--airflow-url", url, "--dag-ids", "quick", "--interval", "0.1", env={"AIRFLOW_API_TOKEN": TOKEN}
    )
    assert proc.returncode == 0, proc.stderr
    assert state.logins == 0


def test_fails_when_not_visible_before_the_deadline(server: tuple[str, FakeAirflow]) -> None:
    url, state = server
    state.dags_after = {"quick": 1}  # "ghost" never appears
    state.import_errors = [{"filename": "/opt/airflow/dags/ghost.py", "stack_trace": "SyntaxError"}]
    proc = run(
        "--airflow-url", url, "--dag-ids", "quick,ghost", "--timeout", "1", "--interval", "0.2", env=LOGIN
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("not visible within 1s")
    assert "ghost" in last and "import errors in: /opt/airflow/dags/ghost.py" in last
    assert "docs/runbooks/dag-not-appearing.md" in last
    assert state.polls["ghost"] >= 2  # it kept polling until the deadline


def test_bad_credentials_fail_at_once_with_one_line(server: tuple[str, FakeAirflow]) -> None:
    url, state = server
    proc = run(
        "--airflow-url",
        url,
        "--dag-ids",
        "quick",
        "--timeout",
        "30",
        env={"AIRFLOW_API_USER": "admin", "AIRFLOW_API_PASSWORD": "wrong"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: Airflow refused the login for 'admin' (HTTP 401); check AIRFLOW_API_USER/PASSWORD"
    )
    assert state.logins == 1 and "quick" not in state.polls


def test_no_credentials_is_a_clear_error(server: tuple[str, FakeAirflow]) -> None:
    url, _ = server
    proc = run("--airflow-url", url, "--dag-ids", "quick", "--timeout", "30")
    assert proc.returncode == 2
    assert "set AIRFLOW_API_TOKEN" in proc.stderr.strip().splitlines()[-1]


def test_unreachable_server_retries_then_fails(server: tuple[str, FakeAirflow]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run(
        "--airflow-url",
        f"http://127.0.0.1:{port}",
        "--dag-ids",
        "quick",
        "--timeout",
        "0.6",
        "--interval",
        "0.2",
        env={"AIRFLOW_API_TOKEN": TOKEN},
    )
    assert proc.returncode == 1
    assert proc.stderr.count("waiting (") >= 2
    assert "URLError" in proc.stderr.strip().splitlines()[-1]


def test_status_mode_waits_for_the_sync_component(server: tuple[str, FakeAirflow]) -> None:
    url, state = server
    # the shape the real health aggregator answers (measured against the local stack)
    state.status_body = {
        "status": "ok",
        "components": {
            "airflow_dag_processor": {"status": "degraded", "detail": "heartbeat 90 s ago"},
            "dagsync": {
                "status": "ok",
                "detail": "2 sidecars; last sync 1 s ago; version 453b60a0e52b9895f1cc",
            },
        },
    }
    old = run("--status-url", f"{url}/status", "--expect", "bbbb222", "--timeout", "0.5", "--interval", "0.2")
    assert old.returncode == 1 and "waiting for 'bbbb222'" in old.stderr

    new = run(
        "--status-url", f"{url}/status", "--expect", "453b60a0e52b", "--timeout", "5", "--interval", "0.2"
    )
    assert new.returncode == 0, new.stderr  # airflow_dag_processor is not a sync component

    state.status_body["components"]["dagsync"]["status"] = "degraded"
    stale = run("--status-url", f"{url}/status", "--timeout", "0.5", "--interval", "0.2")
    assert stale.returncode == 1 and "missing: dagsync" in stale.stderr

    none = run("--status-url", f"{url}/status", "--component", "gitsync", "--timeout", "5")
    assert none.returncode == 2 and "lists no 'gitsync' component" in none.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--airflow-url", "ftp://x", "--dag-ids", "a"], "is not an http(s) URL"),
        (["--airflow-url", "http://127.0.0.1:9", "--dag-ids", " , "], "--dag-ids is empty"),
        (["--airflow-url", "http://127.0.0.1:9", "--dag-ids", "a", "--timeout", "0"], "must be positive"),
    ],
)
def test_bad_usage_is_one_clear_line(args: list[str], message: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


def test_sso_redirect_is_a_clear_error_not_an_answer() -> None:
    """Behind the ALB's OIDC action the API answers 302 to the IdP; that must fail at once, clearly."""

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "https://idp.example.com/authorize?client_id=x")
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        proc = run(
            "--airflow-url", url, "--dag-ids", "quick", "--timeout", "30", env={"AIRFLOW_API_TOKEN": TOKEN}
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "redirected (HTTP 302) to https://idp.example.com/authorize" in last and "bearer tokens" in last


def test_cli_runs_as_a_process_with_exit_codes(server: tuple[str, FakeAirflow]) -> None:
    url, state = server
    state.dags_after = {"quick": 2}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_API")}
    ok = subprocess.run(
        [sys.executable, str(SCRIPT), "--airflow-url", url, "--dag-ids", "quick", "--interval", "0.1"],
        capture_output=True,
        text=True,
        env={**env, "AIRFLOW_API_TOKEN": TOKEN},
        timeout=60,
    )
    assert ok.returncode == 0 and "visible after" in ok.stderr, ok.stderr
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--airflow-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "--dag-ids is empty" in bad.stderr
