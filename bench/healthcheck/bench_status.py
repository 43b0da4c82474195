"""Load test on GET /status of one `healthcheck serve` process (one uvicorn worker).

Scenarios:
  cached      probes healthy (real Redis, dagsync files, a scaler stand-in); answered from the cache
  hung        plus a dependency that accepts and never answers (probe timeout 2 s, cache TTL 1 s), so every
              refresh waits the full timeout while requests keep coming
  hung-nogr   the same with stale_grace=0 (callers wait for each refresh): why the cache serves stale rounds

Load generator: wrk (Debian) when present, else an async httpx client. Prints a Markdown table.
Usage: .venv/bin/python bench/healthcheck/bench_status.py [--duration 10] [--connections 32] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from devtools.servers import LOOPBACK, free_port, start_redis, stop_pid, wait_for_port  # noqa: E402

HEALTHCHECK = str(Path(sys.executable).parent / "healthcheck")


def decision_server() -> ThreadingHTTPServer:
    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"desired": 2, "current": 2, "queued": 3, "running": 5, "decided_at": time.time()}
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer((LOOPBACK, 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def hung_server() -> socket.socket:
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    sock.listen(1024)
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=loop, daemon=True).start()
    return sock


def start_app(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [HEALTHCHECK, "serve", "--host", LOOPBACK, "--port", str(port), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    wait_for_port(port, 60, proc, log)
    url = f"http://{LOOPBACK}:{port}"
    httpx.get(f"{url}/status", timeout=30).raise_for_status()  # warm: first round done
    return proc, url


def parse_ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(text)
    value, unit = float(m[1]), m[2]
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(url: str, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s", f"{url}/status"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        "p50": parse_ms(lat["50"]),
        "p99": parse_ms(lat["99"]),
        "requests": float(re.search(r"(\d+) requests in", out)[1]),  # type: ignore[index]
        "errors": float(errors[1]) if errors else 0.0,
        "note": sock_err[1] if sock_err else "",
    }


def run_httpx(url: str, duration: int, connections: int) -> dict[str, float]:
    async def main() -> dict[str, float]:
        lats: list[float] = []
        errors = 0
        stop = time.monotonic() + duration
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:

            async def worker() -> None:
                nonlocal errors
                while time.monotonic() < stop:
                    t0 = time.perf_counter()
                    r = await client.get(f"{url}/status")
                    lats.append((time.perf_counter() - t0) * 1000)
                    errors += r.status_code != 200

            t0 = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(connections)))
            took = time.monotonic() - t0
        lats.sort()
        return {"rps": len(lats) / took, "p50": lats[len(lats) // 2], "p99": lats[int(len(lats) * 0.99)],
                "requests": float(len(lats)), "errors": float(errors), "note": "httpx client"}  # fmt: skip

    return asyncio.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = ap.parse_args()
    tool = "wrk" if shutil.which("wrk") else "httpx"
    load = run_wrk if tool == "wrk" else run_httpx

    tmp = Path(tempfile.mkdtemp(prefix="bench-hc-"))
    redis = start_redis(tmp / "redis")
    scaler = decision_server()
    hung = hung_server()
    state = tmp / "dagsync" / "sidecars"
    state.mkdir(parents=True)
    (state / "bench.json").write_text(json.dumps({"sidecar_id": "bench", "last_success": time.time(), "last_attempt": time.time(),
                                                  "consecutive_failures": 0, "version": "v1"}))  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCHECK_")}
    base |= {
        "HEALTHCHECK_REDIS_URL": redis.url,
        "HEALTHCHECK_POSTGRES_ENABLED": "false",
        "HEALTHCHECK_AIRFLOW_ENABLED": "false",
        "HEALTHCHECK_SCALER_URL": f"http://{LOOPBACK}:{scaler.server_address[1]}",
        "HEALTHCHECK_DAGSYNC_ENABLED": "true",
        "HEALTHCHECK_DAGSYNC_STATE_DIRS": str(tmp / "dagsync"),
    }
    hung_env = {
        "HEALTHCHECK_AIRFLOW_ENABLED": "true",
        "HEALTHCHECK_AIRFLOW_URL": f"http://{LOOPBACK}:{hung.getsockname()[1]}",
        "HEALTHCHECK_AIRFLOW_TIMEOUT": "2",
        "HEALTHCHECK_CACHE_TTL": "1",
    }
    scenarios = [
        ("cached", "healthy probes, TTL 5 s", {}),
        ("hung", "one probe hangs (timeout 2 s), TTL 1 s, stale grace 10 s", hung_env),
        (
            "hung-nogr",
            "one probe hangs (timeout 2 s), TTL 1 s, stale grace 0",
            hung_env | {"HEALTHCHECK_STALE_GRACE": "0"},
        ),
    ]
    rows = []
    try:
        for name, desc, extra in scenarios:
            print(
                f"==> {name}: {desc} ({tool}, {args.connections} connections, {args.duration} s)",
                file=sys.stderr,
            )
            proc, url = start_app(base | extra, tmp / f"{name}.log")
            try:
                res = load(url, args.duration, args.connections)
                refreshes = re.search(
                    r"^healthcheck_refreshes_total (\S+)", httpx.get(f"{url}/metrics").text, re.M
                )
            finally:
                stop_pid(proc.pid)
            rows.append((name, desc, res, float(refreshes[1]) if refreshes else float("nan")))
            print(
                f"    {res['rps']:.0f} req/s, p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms",
                file=sys.stderr,
            )
    finally:
        redis.stop()
        scaler.shutdown()
        hung.close()
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        f"Load: {tool}, {args.connections} connections, {args.duration} s per scenario, one uvicorn process, "
        f"{os.cpu_count()} CPUs shared with the load generator (1-min load average at the end: "
        f"{os.getloadavg()[0]:.1f}).",
        "",
        "| scenario | setup | req/s | p50 ms | p99 ms | requests | non-200 | probe rounds |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, desc, r, refreshes in rows:
        lines.append(
            f"| {name} | {desc} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['requests']:.0f} | "
            f"{r['errors']:.0f} | {refreshes:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
