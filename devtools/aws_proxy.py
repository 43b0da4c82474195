"""A small HTTP proxy in front of the moto server: records every AWS request by operation and injects faults.

Operations are named from the request: ``X-Amz-Target`` (JSON protocols), ``/operation/<Op>`` (RPC v2 CBOR),
``Action=`` (query protocol), else the S3 REST operation (``classify``).

Faults, two ways:
- ``add(op, kind, times)`` rules, for the next N matching requests or always: ``500`` InternalError, ``503``
  SlowDown, ``403`` AccessDenied, ``malformed`` (400 MalformedXML) as S3 XML; ``reset`` (TCP RST, no response);
  ``stall`` (hold the request without answering, then drop it); ``flip`` (forward, then flip the answer's last
  byte, headers unchanged: a body that no longer matches its checksum);
- ``fail[op] = "throttle" | "500"``: every request of ``op`` fails, in the protocol the client spoke.

Used by the tests (tests/support/aws.py) and by bench/dagsync/bench_sync.py ("read from what the server received").
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def classify(method: str, target: str) -> str:
    """S3 operation name from a path-style request."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    segs = [s for s in parts.path.split("/") if s]
    has_key = len(segs) > 1 or (len(segs) == 1 and parts.path.endswith("/") and parts.path.count("/") > 2)
    if method == "GET":
        if "list-type" in query:
            return "ListObjectsV2"
        return "GetObject" if has_key else ("ListObjects" if segs else "ListBuckets")
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "PUT":
        return "PutObject" if has_key else "CreateBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    return f"{method} {parts.path}"


def operation_of(method: str, target: str, headers: Any, body: bytes) -> str:
    """The AWS operation of one request, whatever the protocol."""
    amz_target = headers.get("X-Amz-Target")
    if amz_target:
        return str(amz_target).rsplit(".", 1)[-1]
    if "/operation/" in target:
        return target.rsplit("/operation/", 1)[-1].split("?")[0]
    if method == "POST" and not urlsplit(target).query.startswith("delete"):
        action = parse_qs(body.decode(errors="replace")).get("Action") or parse_qs(
            urlsplit(target).query
        ).get("Action")
        if action:
            return action[0]
    return classify(method, target)


def _cbor_text(s: str) -> bytes:
    b = s.encode()
    return (bytes([0x60 + len(b)]) if len(b) < 24 else bytes([0x78, len(b)])) + b


THROTTLING_CBOR = (
    bytes([0xA2])
    + _cbor_text("__type")
    + _cbor_text("Throttling")
    + _cbor_text("message")
    + (_cbor_text("Rate exceeded"))
)


@dataclass
class Rule:
    op: str | None  # None = any operation
    kind: str  # "500" | "503" | "403" | "malformed" | "reset" | "stall" | "flip"
    times: int | None  # None = always
    stall_s: float = 3.0
    key_contains: str | None = None


_XML = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "403": (403, "AccessDenied", "Access Denied"),
    "malformed": (400, "MalformedXML", "The XML you provided was not well-formed."),
}


class AwsProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        up = urlsplit(upstream)
        self.up_host, self.up_port = up.hostname or "127.0.0.1", up.port or 80
        self.counts: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str]] = []  # (operation, path) in arrival order
        self.headers: list[dict[str, str]] = []  # request headers (lower-case names), parallel to ``log``
        # the client's address (its port tells connections apart), parallel to ``log``
        self.peers: list[tuple[str, int]] = []
        self.statuses: Counter[tuple[str, int]] = Counter()  # (operation, HTTP status) of forwarded requests
        self.calls: list[tuple[float, str, bytes]] = []  # (time, operation, body) of first attempts only
        self.attempts: list[str] = []  # every attempt's operation, retries included
        self.invocations: set[str] = set()
        self.fail: dict[str, str] = {}  # operation -> "throttle" | "500"
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that hang up (killed sidecars, timeouts) are expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="aws-proxy", daemon=True)
        self._local = threading.local()

    def start(self) -> AwsProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- control ----------------------------------------------------------------------------------------
    def add(
        self,
        op: str | None,
        kind: str,
        times: int | None = 1,
        stall_s: float = 3.0,
        key_contains: str | None = None,
    ) -> None:
        with self._lock:
            self.rules.append(Rule(op, kind, times, stall_s, key_contains))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.faults_injected.clear()
            self.log.clear()
            self.headers.clear()
            self.peers.clear()
            self.statuses.clear()

    def ops(self) -> list[str]:
        """Operations as the client issued them (botocore's retries of one call count once)."""
        with self._lock:
            return [op for _, op, _ in self.calls]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    # ---- serving ----------------------------------------------------------------------------------------
    def requests_for(self, op: str, key_contains: str) -> list[tuple[str, dict[str, str]]]:
        """(path, headers) of every ``op`` request whose path contains ``key_contains``, in arrival order."""
        with self._lock:
            return [
                (t, h)
                for (o, t), h in zip(self.log, self.headers, strict=True)
                if o == op and key_contains in t
            ]

    def connections_for(self, op: str | None = None) -> set[tuple[str, int]]:
        """The client connections (address, port) that carried ``op`` requests (any, for None) since the last
        reset."""
        with self._lock:
            return {p for (o, _), p in zip(self.log, self.peers, strict=True) if op in (None, o)}

    def _pick_fault(
        self, op: str, target: str, headers: dict[str, str], peer: tuple[str, int]
    ) -> Rule | None:
        with self._lock:
            self.counts[op] += 1
            self.log.append((op, target))
            self.headers.append(headers)
            self.peers.append(peer)
            for rule in self.rules:
                if rule.op not in (None, op):
                    continue
                if rule.key_contains and rule.key_contains not in target:
                    continue
                if rule.times is not None:
                    if rule.times <= 0:
                        continue
                    rule.times -= 1
                self.faults_injected[f"{op}:{rule.kind}"] += 1
                return rule
        return None

    def _upstream(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.up_host, self.up_port, timeout=60)
            self._local.conn = conn
        return conn

    def _read_body(self, h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = h.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += h.rfile.read(size)
                h.rfile.readline()
        n = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(n) if n else b""

    def _record_call(self, op: str, h: BaseHTTPRequestHandler, body: bytes) -> str | None:
        # botocore sends one amz-sdk-invocation-id per call, the same on each of its retries
        invocation = h.headers.get("amz-sdk-invocation-id") or f"anon-{time.monotonic_ns()}"
        with self._lock:
            self.attempts.append(op)
            if invocation not in self.invocations:
                self.invocations.add(invocation)
                self.calls.append((time.time(), op, body))
            return self.fail.get(op)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        body = self._read_body(h)
        op = operation_of(h.command, h.path, h.headers, body)
        mode = self._record_call(op, h, body)
        if mode is not None:
            self._fail_in_protocol(h, mode)
            return
        rule = self._pick_fault(
            op,
            h.path,
            {k.lower(): v for k, v in h.headers.items()},
            (str(h.client_address[0]), int(h.client_address[1])),
        )
        flip = rule is not None and rule.kind == "flip"
        if rule is not None and not flip:
            self._inject(h, rule)
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            headers["Content-Length"] = str(len(body))
        for attempt in range(2):
            conn = self._upstream()
            try:
                conn.request(h.command, h.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if flip and data:
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    h.close_connection = True
                    return
        with self._lock:
            self.statuses[(op, resp.status)] += 1
        h.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
        h.wfile.flush()

    def _reply(self, h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str]) -> None:
        h.send_response_only(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
        h.wfile.flush()

    def _fail_in_protocol(self, h: BaseHTTPRequestHandler, mode: str) -> None:
        if mode == "500":
            body = b'{"__type": "ServerException", "message": "injected"}'
            self._reply(h, 500, body, {"Content-Type": "application/x-amz-json-1.1"})
        elif h.headers.get("X-Amz-Target"):
            body = b'{"__type": "Throttling", "message": "Rate exceeded"}'
            self._reply(h, 400, body, {"Content-Type": "application/x-amz-json-1.0"})
        elif "/operation/" in h.path:
            headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
            self._reply(h, 400, THROTTLING_CBOR, headers)
        else:
            xml = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                b"<Message>Rate exceeded</Message></Error></ErrorResponse>"
            )
            self._reply(h, 400, xml, {"Content-Type": "text/xml"})

    def _inject(self, h: BaseHTTPRequestHandler, rule: Rule) -> None:
        if rule.kind in _XML:
            status, code, msg = _XML[rule.kind]
            data = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{msg}</Message>'
                f"<RequestId>fault</RequestId></Error>"
            ).encode()
            h.send_response_only(status)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
            h.wfile.flush()
            return
        if rule.kind == "stall":
            time.sleep(rule.stall_s)
        # reset (and the end of a stall): drop the connection with a TCP RST.
        h.close_connection = True
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
        except OSError:
            pass
