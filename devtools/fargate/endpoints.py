"""Loopback servers the runner gives its tasks, like Fargate's: the container credentials endpoint and the task
metadata endpoint (after awslabs/amazon-ecs-local-container-endpoints), and TCP fronts for services.

- ``GET /v2/credentials/<id>`` with ``Authorization: <token>``: the task role's credentials from the emulator's
  STS AssumeRole (AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn), refreshed 5 minutes before expiry.
  Containers find it through ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` + ``AWS_CONTAINER_AUTHORIZATION_TOKEN``.
- ``GET /v4/<id>`` and ``/v4/<id>/task``: container and task metadata (``ECS_CONTAINER_METADATA_URI_V4``).
- :class:`Front`: a TCP proxy on a fixed address to a service's live tasks (the local ALB / service discovery).
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("fargate")


class TaskEndpoints:
    """Credentials + metadata for the runner's tasks, on 127.0.0.1:<port> (a daemon thread)."""

    def __init__(self, assume_role: Callable[[str, str], Mapping[str, Any]]) -> None:
        self._assume = assume_role  # (role arn, session name) -> STS Credentials
        self._lock = threading.Lock()
        self._creds: dict[str, dict[str, Any]] = {}  # id -> {token, role, session, cached}
        self._meta: dict[
            str, Callable[[], Mapping[str, Any]]
        ] = {}  # id -> () -> {"container":..., "task":...}
        self.requests = 0
        endpoints = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # no request logs (tokens in headers)
                return

            def do_GET(self) -> None:
                endpoints.requests += 1
                status, body = endpoints.handle(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="task-endpoints", daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add_credentials(self, cred_id: str, token: str, role_arn: str, session: str) -> None:
        with self._lock:
            self._creds[cred_id] = {"token": token, "role": role_arn, "session": session[:64], "cached": None}

    def add_metadata(self, meta_id: str, fn: Callable[[], Mapping[str, Any]]) -> None:
        with self._lock:
            self._meta[meta_id] = fn

    def remove(self, *ids: str) -> None:
        with self._lock:
            for i in ids:
                self._creds.pop(i, None)
                self._meta.pop(i, None)

    def handle(self, path: str, auth: str) -> tuple[int, Any]:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if len(parts) == 3 and parts[:2] == ["v2", "credentials"]:
            with self._lock:
                entry = self._creds.get(parts[2])
            if entry is None:
                return 404, {"code": "NotFound", "message": "no such task credentials"}
            if not hmac.compare_digest(auth.encode(), entry["token"].encode()):
                return 401, {"code": "AccessDenied", "message": "wrong or missing Authorization token"}
            try:
                return 200, self._credentials(entry)
            except Exception as exc:  # emulator down, role unknown: the SDK retries
                log.warning("AssumeRole %s failed: %s", entry["role"], exc)
                return 500, {"code": "InternalError", "message": f"AssumeRole failed: {type(exc).__name__}"}
        if len(parts) >= 2 and parts[0] == "v4":
            with self._lock:
                fn = self._meta.get(parts[1])
            if fn is None:
                return 404, {"code": "NotFound"}
            meta = fn()
            if len(parts) == 2:
                return 200, meta["container"]
            if parts[2:] == ["task"]:
                return 200, meta["task"]
        return 404, {"code": "NotFound"}

    def _credentials(self, entry: dict[str, Any]) -> dict[str, Any]:
        cached = entry["cached"]
        now = datetime.now(UTC)
        if cached is None or (cached["_exp"] - now).total_seconds() < 300:
            c = self._assume(entry["role"], entry["session"])
            exp = c["Expiration"]
            if isinstance(exp, str):
                exp = datetime.fromisoformat(exp.replace("Z", "+00:00"))
            cached = {
                "AccessKeyId": c["AccessKeyId"],
                "SecretAccessKey": c["SecretAccessKey"],
                "Token": c["SessionToken"],
                "Expiration": exp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "RoleArn": entry["role"],
                "_exp": exp,
            }
            entry["cached"] = cached
        return {k: v for k, v in cached.items() if not k.startswith("_")}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Front:
    """TCP proxy on ``listen`` to whatever :meth:`set_backends` last gave (round robin)."""

    def __init__(self, name: str, listen: tuple[str, int]) -> None:
        self.name = name
        self.listen = listen
        self._backends: list[tuple[str, int]] = []
        self._rr = itertools.count()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(listen)
        self.sock.listen(128)
        self._closed = False
        threading.Thread(target=self._accept, name=f"front-{name}", daemon=True).start()

    def set_backends(self, backends: list[tuple[str, int]]) -> None:
        self._backends = list(backends)

    @property
    def backends(self) -> list[tuple[str, int]]:
        return list(self._backends)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        backends = self._backends
        if not backends:
            client.close()
            return
        target = backends[next(self._rr) % len(backends)]
        try:
            upstream = socket.create_connection(target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        t.start()
        pump(client, upstream)
        t.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wait_port(port: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False
