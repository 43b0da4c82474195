"""Benchmark: dagsync vs `aws s3 sync` (awscli v1) vs `rclone sync`, against one moto server, in ONE run.

Not a test: it prints figures. Usage: `make bench-dagsync` (or `.venv/bin/python bench/dagsync/bench_sync.py`).

dagsync runs twice, once per S3 transport (`--transport botocore`, the default, and the opt-in `presigned`).
Data sets: 2000 objects of 2 KB spread over 20 prefixes, and 10 000 objects (same shape). For each tool: a cold
sync into an empty directory, then a no-change run. Requests are counted from what the server received: the moto
server's own request log (one line per request), classified by S3 operation. No proxy sits in the timed path, so
every tool talks to moto directly. Peak RSS is the max RSS of the tool's process tree (getrusage(RUSAGE_CHILDREN)
in a fresh wrapper process per run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "dagsync")]

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from faultproxy import classify  # noqa: E402

from devtools.servers import start_moto  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DAGSYNC_TRANSPORTS = ("botocore", "presigned")
AWS_BIN = REPO / ".venv-bench" / "bin" / "aws"
WRAP = (
    "import resource, subprocess, sys, json;"
    "r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], 'wb'));"
    "print(json.dumps({'rc': r.returncode, 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
)


@dataclass
class Run:
    tool: str
    dataset: str
    phase: str
    wall: float
    requests: dict[str, int]
    rss_mb: float
    rc: int
    ok: bool
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def populate(s3, bucket: str, n: int) -> None:
    s3.create_bucket(Bucket=bucket)
    body = b"x" * 2048

    def put(i: int) -> None:
        s3.put_object(
            Bucket=bucket, Key=f"dags/p{i % 20:02d}/dag_{i:05d}.py", Body=body[:-8] + f"{i:08d}".encode()
        )

    with ThreadPoolExecutor(16) as pool:
        for done, _ in enumerate(pool.map(put, range(n)), 1):
            if done % 1000 == 0:
                print(f"  populated {done}/{n} objects in {bucket}", flush=True)


_LOG_LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})')


class ServerLog:
    """Counts the requests the moto server logged since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = path.stat().st_size

    def take(self) -> dict[str, int]:
        time.sleep(0.5)  # the dev server logs after it answered
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
            self.pos = f.tell()
        counts: dict[str, int] = {}
        for m in _LOG_LINE.finditer(data.decode(errors="replace")):
            op = classify(m.group(1), m.group(2))
            counts[op] = counts.get(op, 0) + 1
        return counts


def server_floor(port: int, bucket: str, n: int, threads: int = 16) -> float:
    """Wall time for N unsigned GETs from a minimal threaded client: what the server itself allows."""
    import http.client
    import threading

    keys = [f"/{bucket}/dags/p{i % 20:02d}/dag_{i:05d}.py" for i in range(n)]

    def worker(part: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for k in part:
            conn.request("GET", k)
            conn.getresponse().read()

    t0 = time.monotonic()
    ths = [threading.Thread(target=worker, args=(keys[i::threads],)) for i in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return time.monotonic() - t0


def measure(
    tool: str, dataset: str, phase: str, cmd: list[str], env: dict[str, str], server: ServerLog, work: Path
) -> Run:
    server.take()
    errlog = work / f"{tool}-{dataset}-{phase}.stderr".replace(" ", "_")
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", WRAP, str(errlog), *cmd], env=env, capture_output=True, text=True
    )
    wall = time.monotonic() - t0
    info = (
        json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {"rc": -1, "maxrss_kb": 0}
    )
    run = Run(
        tool, dataset, phase, wall, server.take(), info["maxrss_kb"] / 1024, info["rc"], info["rc"] == 0
    )
    if tool.startswith("dagsync") and errlog.exists():
        for line in errlog.read_text(errors="replace").splitlines():
            if '"event":"cycle"' in line:
                doc = json.loads(line)
                run.extra["cycle_s"] = doc["duration_s"]
                run.note = doc["outcome"]
    if not run.ok:
        run.note = errlog.read_text(errors="replace")[-300:].replace("\n", " ")
    print(
        f"  {tool:<32} {dataset:<5} {phase:<9} {wall:7.2f}s  req={run.total_requests:<6} rss={run.rss_mb:6.1f} MB  rc={run.rc} {run.note[:60]}",
        flush=True,
    )
    return run


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def tree_equal(a: Path, b: Path) -> bool:
    def files(root: Path) -> dict[str, bytes]:
        out = {}
        for dirpath, _dirs, names in os.walk(root):
            for n in names:
                p = Path(dirpath) / n
                out[p.relative_to(root).as_posix()] = p.read_bytes()
        return out

    return files(a) == files(b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes", default="2000,10000", help="comma-separated object counts (default 2000,10000)"
    )
    ap.add_argument("--skip-aws", action="store_true", help="no awscli (when .venv-bench is missing)")
    ap.add_argument("--results", type=Path, help="also write the markdown table to this file")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not args.skip_aws and not AWS_BIN.exists():
        print(
            f"{AWS_BIN} missing: run `make bench-venv` (awscli==1.46.2 in .venv-bench) or pass --skip-aws",
            file=sys.stderr,
        )
        return 2
    rclone = shutil.which("rclone")
    if not rclone:
        print(
            "rclone missing: apt-get install rclone (scripts/ensure-system-packages.sh does)", file=sys.stderr
        )
        return 2

    work = Path(tempfile.mkdtemp(prefix="bench-dagsync-"))
    moto = start_moto(work / "moto")
    server = ServerLog(moto.log)
    runs: list[Run] = []
    floors: dict[str, float] = {}
    try:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DAGSYNC_", "RCLONE_"))}
        base_env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=moto.url,
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        )
        rclone_env = {
            **base_env,
            "RCLONE_CONFIG_MOTO_TYPE": "s3",
            "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
            "RCLONE_CONFIG_MOTO_ENDPOINT": moto.url,
            "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": "testing",
            "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": "testing",
            "RCLONE_CONFIG_MOTO_REGION": "us-east-1",
            "RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE": "true",
        }
        dagsync_env = {**base_env, "DAGSYNC_METRICS_PORT": "0", "DAGSYNC_SIDECAR_ID": "bench"}
        for n in sizes:
            ds = f"{n // 1000}k"
            bucket = f"bench-{n}"
            print(f"== {ds}: {n} objects of 2 KB in 20 prefixes; {loadavg()}", flush=True)
            populate(s3, bucket, n)
            floor = server_floor(moto.port, bucket, n)
            floors[ds] = floor
            print(
                f"  server floor: {n} unsigned GETs from a minimal 16-thread client: {floor:.2f} s",
                flush=True,
            )
            tools: list[tuple[str, list[str], dict[str, str], Path]] = []
            for transport in DAGSYNC_TRANSPORTS:
                d = work / f"dagsync-{transport}-{n}" / "dags"
                d.parent.mkdir()
                tools.append(
                    (
                        f"dagsync ({transport})",
                        [
                            str(VENV_BIN / "dagsync"),
                            "sync",
                            "--transport",
                            transport,
                            "--source",
                            f"s3://{bucket}/dags/",
                            "--dest",
                            str(d),
                        ],
                        dagsync_env,
                        d,
                    )
                )
            if not args.skip_aws:
                d = work / f"aws-{n}"
                tools.append(
                    (
                        "aws s3 sync",
                        [
                            str(AWS_BIN),
                            "s3",
                            "sync",
                            "--only-show-errors",
                            "--endpoint-url",
                            moto.url,
                            f"s3://{bucket}/dags/",
                            str(d),
                        ],
                        base_env,
                        d,
                    )
                )
            d = work / f"rclone-{n}"
            tools.append(("rclone sync", [rclone, "sync", f"moto:{bucket}/dags", str(d)], rclone_env, d))
            d = work / f"rclone-fast-{n}"
            tools.append(
                (
                    "rclone sync --fast-list --checksum",
                    [rclone, "sync", "--fast-list", "--checksum", f"moto:{bucket}/dags", str(d)],
                    rclone_env,
                    d,
                )
            )
            for tool, cmd, env, _dest in tools:
                for phase in ("cold", "no-change"):
                    runs.append(measure(tool, ds, phase, cmd, env, server, work))
            ref = tools[0][3]
            for tool, _cmd, _env, dest in tools[1:]:
                if not tree_equal(ref, dest):
                    print(f"  WARNING: {tool} produced a different tree than dagsync", flush=True)
    finally:
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)

    table = render(runs, floors)
    print()
    print(f"finished; {loadavg()}")
    print(table)
    if args.results:
        args.results.write_text(table + "\n")
    return 0


def render(runs: list[Run], floors: dict[str, float]) -> str:
    by = {(r.tool, r.dataset, r.phase): r for r in runs}
    lines = [
        "| data | tool | cold wall | cold req | cold RSS | no-change wall | no-change req | no-change RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    datasets = sorted({r.dataset for r in runs}, key=lambda s: int(s[:-1]))
    tools = list(dict.fromkeys(r.tool for r in runs))
    for ds in datasets:
        for tool in tools:
            c, n = by.get((tool, ds, "cold")), by.get((tool, ds, "no-change"))
            if not c or not n:
                continue
            cyc = f" (cycle {n.extra['cycle_s']:.3f} s)" if "cycle_s" in n.extra else ""
            ccyc = f" (cycle {c.extra['cycle_s']:.2f} s)" if "cycle_s" in c.extra else ""
            fail = "" if c.ok and n.ok else " FAILED"
            lines.append(
                f"| {ds} | {tool}{fail} | {c.wall:.2f} s{ccyc} | {c.total_requests} | {c.rss_mb:.0f} MB | "
                f"{n.wall:.2f} s{cyc} | {n.total_requests} ({fmt_ops(n.requests)}) | {n.rss_mb:.0f} MB |"
            )
    lines += ["", "| target | dagsync transport | measured | met |", "|---|---|---|---|"]
    for ds in datasets:
        for t in DAGSYNC_TRANSPORTS:
            lines += targets(by, ds, f"dagsync ({t})", t)
    return "\n".join(lines)


def targets(by: dict[tuple[str, str, str], Run], ds: str, tool: str, t: str) -> list[str]:
    lines = []
    d_c, d_n = by.get((tool, ds, "cold")), by.get((tool, ds, "no-change"))
    a_c = by.get(("aws s3 sync", ds, "cold"))
    if d_c and a_c:
        ratio = d_c.wall / a_c.wall
        lines.append(
            f"| {ds} cold <= 0.25x aws s3 sync | {t} | {d_c.wall:.2f} s / {a_c.wall:.2f} s = {ratio:.2f}x | {'yes' if ratio <= 0.25 else 'NO'} |"
        )
    if d_n:
        only_list = set(d_n.requests) <= {"ListObjectsV2"}
        lines.append(
            f"| {ds} no-change LIST only | {t} | {fmt_ops(d_n.requests)} | {'yes' if only_list else 'NO'} |"
        )
        rc = [by.get((r, ds, "no-change")) for r in ("rclone sync", "rclone sync --fast-list --checksum")]
        best = min((r.wall for r in rc if r and r.ok), default=None)
        if best:
            ratio = d_n.wall / best
            lines.append(
                f"| {ds} no-change <= rclone's best (process wall) | {t} | {d_n.wall:.2f} s / {best:.2f} s = {ratio:.2f}x | {'yes' if ratio <= 1 else 'NO'} |"
            )
            if "cycle_s" in d_n.extra:
                lines.append(
                    f"| {ds} no-change cycle inside `dagsync run` vs rclone's best | {t} | {d_n.extra['cycle_s']:.3f} s / {best:.2f} s | {'yes' if d_n.extra['cycle_s'] <= best else 'NO'} |"
                )
    if d_c and ds == "10k":
        peak = max(d_c.rss_mb, d_n.rss_mb if d_n else 0)
        lines.append(f"| 10k peak RSS <= 80 MB | {t} | {peak:.0f} MB | {'yes' if peak <= 80 else 'NO'} |")
    return lines


def fmt_ops(reqs: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(reqs.items())) or "none"


if __name__ == "__main__":
    sys.exit(main())
