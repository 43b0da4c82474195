"""Helpers for the healthcheck tests: env presets (hc_env), JSON and hung HTTP servers, a live app, ECS tasks on moto."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from devtools.servers import LOOPBACK, free_port, stop_pid, wait_for_port

REPO = Path(__file__).resolve().parents[2]
HEALTHCHECK = str(Path(sys.executable).parent / "healthcheck")
ALL_OFF = {
    f"HEALTHCHECK_{p}_ENABLED": "false"
    for p in ("AIRFLOW", "REDIS", "POSTGRES", "DAGSYNC", "SCALER", "ECS", "ALARMS")
}


# Settings with every probe off: a test turns on the one it exercises.
PROBES_OFF: dict[str, Any] = {
    f"{p}_enabled": False for p in ("airflow", "redis", "postgres", "dagsync", "scaler", "ecs", "alarms")
}


def hc_env(**settings: Any) -> dict[str, str]:
    """Environment for a healthcheck process: every probe off, then ``settings`` (field=value)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCHECK_")}
    env.update(ALL_OFF)
    for key, value in settings.items():
        env[f"HEALTHCHECK_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


@dataclass
class LiveApp:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        stop_pid(self.proc.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_app(tmp: Path, env: dict[str, str], name: str = "healthcheck") -> LiveApp:
    """`healthcheck serve` as a real process (one uvicorn worker) on a free loopback port."""
    port = free_port()
    log = tmp / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [HEALTHCHECK, "serve", "--host", LOOPBACK, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    wait_for_port(port, 60, proc, log)
    return LiveApp(f"http://{LOOPBACK}:{port}", proc, log)


class HungServer:
    """Accepts TCP connections and never sends a byte: a dependency that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = self.sock.accept()
                self.accepted.append(conn)  # held open, never answered

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@dataclass
class JsonServer:
    """A small real HTTP server answering GET <path> with a JSON document; counts the requests it served."""

    routes: dict[str, tuple[int, Any]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0

    def start(self) -> JsonServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                if outer.delay:
                    time.sleep(outer.delay)
                code, doc = outer.routes.get(self.path, (404, {"error": "not found"}))
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def get_status(url: str, timeout: float = 30.0) -> dict[str, Any]:
    resp = httpx.get(f"{url}/status", timeout=timeout)
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.25, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def run_service_tasks(cluster: str, service: str, task_definition: str, count: int) -> list[str]:
    """Start ``count`` Fargate tasks in a service's group, as ECS does for it (moto starts none itself, and the
    patched moto counts a service's running tasks: devtools/moto_patches/ecs_service_counts.py). Task ARNs."""
    import boto3

    ec2, ecs = boto3.client("ec2"), boto3.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's awsvpc tasks need it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    resp = ecs.run_task(
        cluster=cluster, taskDefinition=task_definition, count=count, launchType="FARGATE",
        group=f"service:{service}",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": []}},
    )  # fmt: skip
    return [t["taskArn"] for t in resp["tasks"]]
