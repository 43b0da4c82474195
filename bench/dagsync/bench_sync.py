"""Benchmark: dagsync vs `aws s3 sync` (awscli v1) vs `rclone sync`, against one moto server, in ONE run.

Not a test: it prints figures. Usage: `make bench-dagsync` (or `.venv/bin/python bench/dagsync/bench_sync.py`).

`--latency-ms 25` (issue 13): every tool talks to a latency proxy in front of moto (`latencyproxy.py`: 25 ms per
request as S3 would add, repeated object GETs/HEADs served from memory so moto's own CPU does not set the floor),
and the run adds Airflow's own S3 DAG bundle code path (`S3Hook.sync_to_local_dir` from the amazon provider, run
by `.venv-airflow/bin/python`), a same-size-edit phase for every tool, and the CPU of a quiet cycle inside a
running `dagsync run` (the process's CPU over 200 quiet cycles, 20 with a LIST, taken from `/proc`, so the status files, the log
line and the loop count too; with and without the manifest probe), and two references of the
same machine and run (`minimal_client.py`): a minimal client (a botocore-signed aiohttp GET, a SHA-256 and a file
write per object, nothing else) and the file system alone (the same files written, no network). Each run records the tool's CPU seconds (user + system rusage of the child) next to its
wall time. The bucket holds a `_manifest.json` and its bundle `_dagsync/bundle-*.tar.gz` (as `dagsync publish`
writes them) in this mode; other tools copy them as plain files.

dagsync runs three times: per S3 transport (`--transport presigned`, the default, and the fallback `botocore`), both
with the bundle (the default: a cold sync is the manifest and one bundle GET), and presigned once more with
`DAGSYNC_BUNDLE=false` (a GET per object, as with a prefix published without a bundle).
Data sets: 2000 objects of 2 KB spread over 20 prefixes, and 10 000 objects (same shape). For each tool: a cold
sync into an empty directory, then a no-change run. Requests are counted from what the server received: the moto
server's own request log (one line per request), classified by S3 operation. No proxy sits in the timed path, so
every tool talks to moto directly. Peak RSS is the max RSS of the tool's process tree (getrusage(RUSAGE_CHILDREN)
in a fresh wrapper process per run).

dagsync's phases and the two references run `--repeat` times (3 by default; a cold repetition starts from an empty
destination and state dir) and the run of median CPU is kept, its range printed beside it; the other tools run once
(their runs take 15-150 s, and they are only the 0.25x baseline). The per-object target is a difference of two
runs, so single runs on this noisy machine could decide it either way. **CPU per object** is the cold sync's CPU
beyond the same tool's no-change run (Python start-up, imports, the S3 client, the LIST, the manifest: a cost per
process, which issue 13 states apart); the whole process per object is printed next to it. docs/adr/0001-dag-sync.md
(Consequences) gives the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from latencyproxy import LatencyProxy, object_paths  # noqa: E402

from devtools.aws_proxy import classify  # noqa: E402
from devtools.servers import start_moto  # noqa: E402

VENV_BIN = Path(sys.executable).parent
# dagsync as its image installs it (only the dagsync extra: no httpx, FastAPI, psycopg... to import or map);
# `make bench-venv` builds it. Without it the bench falls back to the dev venv and says so.
DAGSYNC_IMAGE_LIKE = REPO / ".venv-bench" / "dagsync" / "bin" / "dagsync"
DAGSYNC_BIN = DAGSYNC_IMAGE_LIKE if DAGSYNC_IMAGE_LIKE.exists() else VENV_BIN / "dagsync"
# (tool name, transport, extra env): the transports with the bundle (the default), and presigned per object
DAGSYNC_VARIANTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("dagsync (botocore)", "botocore", {}),
    ("dagsync (presigned)", "presigned", {}),
    ("dagsync (presigned, per object)", "presigned", {"DAGSYNC_BUNDLE": "false"}),
)
MINIMAL_CLIENT = Path(__file__).resolve().parent / "minimal_client.py"
MINIMAL_CLIENT_TOOL = "minimal client (aiohttp GET + SHA-256 + write)"
FILES_ONLY_TOOL = "file system only (create + write 2 KB, no network)"
REFERENCE_TOOLS = (MINIMAL_CLIENT_TOOL, FILES_ONLY_TOOL)
AWS_BIN = REPO / ".venv-bench" / "bin" / "aws"
AIRFLOW_PY = REPO / ".venv-airflow" / "bin" / "python"
WRAP = (
    "import resource, subprocess, sys, json;"
    "r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], 'wb'));"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(json.dumps({'rc': r.returncode, 'maxrss_kb': u.ru_maxrss, 'cpu_s': u.ru_utime + u.ru_stime}))"
)
# Airflow's S3 DAG bundle code path: S3Hook.sync_to_local_dir (amazon provider); endpoint from AWS_ENDPOINT_URL.
S3HOOK = (
    "import sys; from pathlib import Path;"
    "from airflow.providers.amazon.aws.hooks.s3 import S3Hook;"
    "S3Hook(aws_conn_id=None).sync_to_local_dir(bucket_name=sys.argv[1], s3_prefix=sys.argv[2], local_dir=Path(sys.argv[3]))"
)
EDIT_KEY = "dags/p03/dag_00003.py"  # the same-size edit


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
    cpu: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def body_of(i: int) -> bytes:
    return b"x" * 2040 + f"{i:08d}".encode()


def key_of(i: int) -> str:
    return f"dags/p{i % 20:02d}/dag_{i:05d}.py"


def populate(s3, bucket: str, n: int, manifest: bool = False) -> None:
    s3.create_bucket(Bucket=bucket)

    def put(i: int) -> None:
        s3.put_object(Bucket=bucket, Key=key_of(i), Body=body_of(i))

    with ThreadPoolExecutor(16) as pool:
        for done, _ in enumerate(pool.map(put, range(n)), 1):
            if done % 1000 == 0:
                print(f"  populated {done}/{n} objects in {bucket}", flush=True)
    if manifest:  # what `dagsync publish` writes last: the bundle, then the manifest that names it
        from dagsync.bundle import bundle_key, write_bundle
        from dagsync.planner import BundleRef, ManifestFile, render_manifest

        files = {
            key_of(i)[5:]: ManifestFile(hashlib.sha256(body_of(i)).hexdigest(), len(body_of(i)))
            for i in range(n)
        }
        with tempfile.TemporaryDirectory() as root, tempfile.TemporaryFile() as f:
            for i in range(n):
                path = Path(root) / key_of(i)[5:]
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(body_of(i))
            write_bundle(Path(root), files, f)
            ref = BundleRef(bundle_key(files), f.tell())
            f.seek(0)
            s3.put_object(Bucket=bucket, Key="dags/" + ref.key, Body=f.read())
        print(f"  bundle {ref.key}: {ref.size} bytes", flush=True)
        s3.put_object(Bucket=bucket, Key="dags/_manifest.json", Body=render_manifest("bench", files, ref))


def bundle_of(s3, bucket: str) -> list[str]:
    out = s3.list_objects_v2(Bucket=bucket, Prefix="dags/_dagsync/").get("Contents", ())
    return [o["Key"] for o in out]


class ProxyCounts:
    """Counts the requests the latency proxy received since the last call (same interface as ServerLog)."""

    def __init__(self, proxy: LatencyProxy) -> None:
        self.proxy = proxy

    def take(self) -> dict[str, int]:
        time.sleep(0.1)
        return self.proxy.take_ops()


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
        tool,
        dataset,
        phase,
        wall,
        server.take(),
        info["maxrss_kb"] / 1024,
        info["rc"],
        info["rc"] == 0,
        cpu=float(info.get("cpu_s", 0.0)),
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
        f"  {tool:<34} {dataset:<4} {phase:<9} {wall:7.2f}s cpu={run.cpu:6.2f}s req={run.total_requests:<6} rss={run.rss_mb:6.1f} MB rc={run.rc} {run.note[:50]}",
        flush=True,
    )
    return run


def empty(directory: Path) -> Callable[[], None]:
    """A reset for a repeated cold run: ``directory`` (a tool's destination, or dagsync's DEST parent, which holds
    its state directory too) removed and made again, empty."""

    def reset() -> None:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)

    return reset


def measure_median(
    repeat: int,
    tool: str,
    dataset: str,
    phase: str,
    cmd: list[str],
    env: dict[str, str],
    server: ServerLog | ProxyCounts,
    work: Path,
    reset: Callable[[], None],
) -> Run:
    """``measure`` ``repeat`` times; the run of median CPU, with the range in ``extra``. A cold phase starts each
    repetition after the first from ``reset()`` (an empty destination); a no-change phase repeats as it is.
    On this noisy 2-core machine one run's CPU varies by +-25-50%, and the per-object target is a difference of two
    runs (cold minus no-change), so single runs could decide it either way."""
    got: list[Run] = []
    for i in range(repeat):
        if i and phase == "cold":
            reset()
        got.append(measure(tool, dataset, phase, cmd, env, server, work))
    if not all(r.ok for r in got):
        return next(r for r in got if not r.ok)
    ordered = sorted(got, key=lambda r: r.cpu)
    median = ordered[len(ordered) // 2]
    median.extra.update(cpu_min=ordered[0].cpu, cpu_max=ordered[-1].cpu, repeats=len(got))
    return median


def file_system_of(path: Path) -> str:
    """The type of the file system ``path`` is on (the longest mount point in /proc/mounts that holds it)."""
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        _dev, mount, fstype, *_ = line.split()
        if (str(path) + "/").startswith(mount.rstrip("/") + "/") and len(mount) >= len(best):
            best, kind = mount, fstype
    return f"{kind} mounted at {best}"


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def tree_equal(a: Path, b: Path) -> bool:
    def files(root: Path) -> dict[str, bytes]:
        out = {}
        for dirpath, _dirs, names in os.walk(root):
            for n in names:
                p = Path(dirpath) / n
                rel = p.relative_to(root).as_posix()
                if rel != "_manifest.json" and not rel.startswith(
                    "_dagsync/"
                ):  # dagsync reads them, others copy
                    out[rel] = p.read_bytes()
        return out

    return files(a) == files(b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes", default="2000,10000", help="comma-separated object counts (default 2000,10000)"
    )
    ap.add_argument("--skip-aws", action="store_true", help="no awscli (when .venv-bench is missing)")
    ap.add_argument(
        "--latency-ms",
        type=float,
        default=0,
        help="put a latency proxy (this many ms per request, repeated GETs from memory) in front of moto",
    )
    ap.add_argument(
        "--s3hook-max",
        type=int,
        default=2000,
        help="latency mode: run S3Hook.sync_to_local_dir cold only up to this many objects (it is sequential)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per phase of dagsync and the references, the median kept (default 3); other tools run once",
    )
    ap.add_argument(
        "--work-dir",
        type=Path,
        help="where the destinations go (default: the system temp dir); file creation costs kernel CPU that "
        "differs by file system and machine state, and every tool pays it (the file-system-only reference shows it)",
    )
    ap.add_argument("--results", type=Path, help="also write the markdown table to this file")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be 1 or more, got {args.repeat}")
    sizes = [int(s) for s in args.sizes.split(",")]
    latency = args.latency_ms / 1000
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
    s3hook = latency > 0 and AIRFLOW_PY.exists()
    if latency > 0 and not s3hook:
        print(
            f"  {AIRFLOW_PY} missing (`make airflow-venv`): S3Hook.sync_to_local_dir is left out", flush=True
        )

    print(
        f"  dagsync: {DAGSYNC_BIN}"
        + (
            ""
            if DAGSYNC_BIN == DAGSYNC_IMAGE_LIKE
            else " (dev venv: `make bench-venv` for the image's install)"
        ),
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="bench-dagsync-", dir=args.work_dir))
    print(f"  work dir (every tool's destination): {work}, {file_system_of(work)}", flush=True)
    moto = start_moto(work / "moto")
    proxy = LatencyProxy(moto.url, latency, classify).start() if latency > 0 else None
    endpoint = proxy.url if proxy else moto.url
    server: ServerLog | ProxyCounts = ProxyCounts(proxy) if proxy else ServerLog(moto.log)
    runs: list[Run] = []
    floors: dict[str, float] = {}
    quiet: dict[tuple[str, str, str], float] = {}  # (tool, dataset, check) -> median cpu_s of a quiet cycle
    edits: dict[tuple[str, str], str] = {}  # (tool, dataset) -> same-size edit outcome
    try:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DAGSYNC_", "RCLONE_"))}
        base_env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=endpoint,
        )
        kw = {
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "config": Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        }
        s3 = boto3.client("s3", endpoint_url=moto.url, **kw)
        s3_via = boto3.client("s3", endpoint_url=endpoint, **kw)  # writes through the proxy drop its copy
        rclone_env = {
            **base_env,
            "RCLONE_CONFIG_MOTO_TYPE": "s3",
            "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
            "RCLONE_CONFIG_MOTO_ENDPOINT": endpoint,
            "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": "testing",
            "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": "testing",
            "RCLONE_CONFIG_MOTO_REGION": "us-east-1",
            "RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE": "true",
        }
        dagsync_env = {**base_env, "DAGSYNC_METRICS_PORT": "0", "DAGSYNC_SIDECAR_ID": "bench"}
        airflow_env = {
            **base_env,
            "AIRFLOW_HOME": str(work / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        }
        for n in sizes:
            ds = f"{n / 1000:g}k"
            bucket = f"bench-{n}"
            print(f"== {ds}: {n} objects of 2 KB in 20 prefixes; {loadavg()}", flush=True)
            populate(s3, bucket, n, manifest=proxy is not None)
            if proxy:
                held = [key_of(i) for i in range(n)] + ["dags/_manifest.json", *bundle_of(s3, bucket)]
                proxy.warm(object_paths(bucket, held))
                print(
                    f"  latency proxy: {args.latency_ms:g} ms per request, {n} objects held in memory",
                    flush=True,
                )
                # The first GET-heavy run after the warm-up was 2-4x slower in wall and CPU for whichever tool
                # went first (seen 2026-12-01); one unrecorded pass of the minimal client takes that instead.
                warm_keys = work / f"warm-keys-{n}.txt"
                warm_keys.write_text("\n".join(key_of(i) for i in range(n)))
                subprocess.run(
                    [str(DAGSYNC_BIN.parent / "python"), str(MINIMAL_CLIENT), endpoint, bucket, str(warm_keys),
                     str(work / f"warm-{n}")],
                    env=base_env, check=True, capture_output=True,
                )  # fmt: skip
                shutil.rmtree(work / f"warm-{n}", ignore_errors=True)
                print("  warm-up: one unrecorded pass of the minimal client", flush=True)
            else:
                floor = server_floor(moto.port, bucket, n)
                floors[ds] = floor
                print(
                    f"  server floor: {n} unsigned GETs from a minimal 16-thread client: {floor:.2f} s",
                    flush=True,
                )
            tools: list[tuple[str, list[str], dict[str, str], Path]] = []
            for i, (name, transport, extra_env) in enumerate(DAGSYNC_VARIANTS):
                d = work / f"dagsync-{i}-{n}" / "dags"
                d.parent.mkdir()
                tools.append(
                    (
                        name,
                        [
                            str(DAGSYNC_BIN),
                            "sync",
                            "--transport",
                            transport,
                            "--source",
                            f"s3://{bucket}/dags/",
                            "--dest",
                            str(d),
                        ],
                        {**dagsync_env, **extra_env},
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
                            endpoint,
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
            if s3hook:
                d = work / f"s3hook-{n}"
                d.mkdir()
                tools.append(
                    (
                        "S3Hook.sync_to_local_dir",
                        [str(AIRFLOW_PY), "-c", S3HOOK, bucket, "dags/", str(d)],
                        airflow_env,
                        d,
                    )
                )
            for tool, cmd, env, dest in tools:
                if tool.startswith("S3Hook") and n > args.s3hook_max:
                    # sequential, a HEAD + GET per object: start from a copy of another tool's tree (newer mtimes)
                    shutil.copytree(tools[0][3], dest, dirs_exist_ok=True)
                    print(f"  {tool}: cold not run above {args.s3hook_max} objects; tree copied", flush=True)
                    runs.append(measure(tool, ds, "no-change", cmd, env, server, work))
                    continue
                # dagsync is cheap enough to repeat, and its median decides the targets; the others run once.
                # A dagsync cold repetition empties DEST's parent: its state dir is there too.
                dagsync = tool.startswith("dagsync")
                repeat, scratch = (args.repeat, dest.parent) if dagsync else (1, dest)
                for phase in ("cold", "no-change"):
                    runs.append(
                        measure_median(repeat, tool, ds, phase, cmd, env, server, work, empty(scratch))
                    )
            if proxy:  # the references after the tools' runs, as dagsync's cold run follows the warm-up too
                keys_file = work / f"keys-{n}.txt"
                keys_file.write_text("\n".join(key_of(i) for i in range(n)))
                client_cmd = [str(DAGSYNC_BIN.parent / "python"), str(MINIMAL_CLIENT), endpoint, bucket]
                client_dest = work / f"minimal-client-{n}"
                runs.append(
                    measure_median(
                        args.repeat,
                        MINIMAL_CLIENT_TOOL,
                        ds,
                        "cold",
                        [*client_cmd, str(keys_file), str(client_dest)],
                        base_env,
                        server,
                        work,
                        empty(client_dest),
                    )
                )
                files_cmd = [
                    str(DAGSYNC_BIN.parent / "python"),
                    str(MINIMAL_CLIENT),
                    "--files-only",
                    str(keys_file),
                ]
                runs.append(
                    measure_median(
                        args.repeat,
                        FILES_ONLY_TOOL,
                        ds,
                        "cold",
                        [*files_cmd, str(work / f"files-only-{n}")],
                        base_env,
                        server,
                        work,
                        empty(work / f"files-only-{n}"),
                    )
                )
                for (tool, _cmd, _env, dest), (_, transport, _) in zip(
                    tools[:2], DAGSYNC_VARIANTS[:2], strict=True
                ):
                    for check, list_every in (("manifest", "1000000"), ("list", "1")):
                        quiet[(tool, ds, check)] = quiet_cycle_cpu(
                            transport,
                            dest,
                            bucket,
                            list_every,
                            dagsync_env,
                            work / f"{tool}-{ds}-{check}.run.log",
                            cycles=200 if check == "manifest" else 20,  # a LIST cycle waits on moto's LIST
                        )
                        print(
                            f"  {tool} quiet cycle in `dagsync run` ({check}): {quiet[(tool, ds, check)] * 1000:.1f} ms CPU",
                            flush=True,
                        )
                # a same-size edit, written through the proxy; then every tool once more
                old = body_of(3)
                new = old.replace(b"x", b"y", 1)
                assert len(new) == len(old)
                s3_via.put_object(Bucket=bucket, Key=EDIT_KEY, Body=new)
                s3_via.put_object(
                    Bucket=bucket,
                    Key="dags/_manifest.json",
                    Body=edited_manifest(s3_via, bucket, EDIT_KEY[5:], new),
                )
                for tool, cmd, env, dest in tools:
                    r = measure(tool, ds, "edit", cmd, env, server, work)
                    runs.append(r)
                    got = (dest / EDIT_KEY[5:]).read_bytes() if (dest / EDIT_KEY[5:]).exists() else b""
                    edits[(tool, ds)] = "picked up" if got == new else ("MISSED" if got == old else "broken")
                    print(f"  {tool}: same-size edit {edits[(tool, ds)]}", flush=True)
            ref = tools[0][3]
            for tool, _cmd, _env, dest in tools[1:]:
                if not tree_equal(ref, dest):
                    print(f"  WARNING: {tool} produced a different tree than dagsync", flush=True)
    finally:
        if proxy:
            proxy.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)

    table = render(runs, floors, quiet, edits)
    print()
    print(f"finished; {loadavg()}")
    print(table)
    if args.results:
        args.results.write_text(table + "\n")
    return 0


def edited_manifest(s3, bucket: str, rel: str, body: bytes) -> bytes:
    from dagsync.planner import ManifestFile, parse_manifest, render_manifest

    m = parse_manifest(s3.get_object(Bucket=bucket, Key="dags/_manifest.json")["Body"].read())
    files = dict(m.files)
    files[rel] = ManifestFile(hashlib.sha256(body).hexdigest(), len(body))
    return render_manifest("bench-edit", files)


def process_cpu_s(pid: int) -> float:
    """utime + stime of a running process, all its threads (``/proc/<pid>/stat``, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quiet_cycle_cpu(
    transport: str,
    dest: Path,
    bucket: str,
    list_every: str,
    env: dict[str, str],
    log: Path,
    cycles: int = 200,
) -> float:
    """Process CPU per quiet cycle of a running `dagsync run`: everything the process spends between two points
    ``cycles`` cycles apart (the S3 request, the status files, the log line, the loop), divided by the cycles.
    Taken from outside the process, so nothing a cycle costs is left out of its own ``cpu_s``; the first
    cycles (a LIST, and imports) are before the first point."""
    cmd = [
        str(DAGSYNC_BIN),
        "run",
        "--transport",
        transport,
        "--interval",
        "0.05",
        "--list-every",
        list_every,
        "--source",
        f"s3://{bucket}/dags/",
        "--dest",
        str(dest),
    ]
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=f)

    def logged() -> int:
        return log.read_bytes().count(b'"event":"cycle"')

    def wait_for(n: int, deadline: float) -> int:
        while (got := logged()) < n:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"dagsync run logged {got} of {n} cycles; see {log}")
            time.sleep(0.01)
        return got

    try:
        deadline = time.monotonic() + 300
        n0 = wait_for(5, deadline)
        c0 = process_cpu_s(proc.pid)
        n1 = wait_for(n0 + cycles, deadline)
        c1 = process_cpu_s(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return (c1 - c0) / (n1 - n0)


def render(
    runs: list[Run],
    floors: dict[str, float],
    quiet: dict[tuple[str, str, str], float] | None = None,
    edits: dict[tuple[str, str], str] | None = None,
) -> str:
    quiet, edits = quiet or {}, edits or {}
    by = {(r.tool, r.dataset, r.phase): r for r in runs}
    lines = [
        "| data | tool | cold wall | cold CPU | CPU/object | cold req | cold RSS | no-change wall | no-change CPU | no-change req | same-size edit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    datasets = sorted({r.dataset for r in runs}, key=lambda s: float(s[:-1]))
    tools = list(dict.fromkeys(r.tool for r in runs))
    for ds in datasets:
        n_obj = round(float(ds[:-1]) * 1000)
        for tool in tools:
            c, n = by.get((tool, ds, "cold")), by.get((tool, ds, "no-change"))
            if c and tool in REFERENCE_TOOLS:
                lines.append(
                    f"| {ds} | {tool} | {c.wall:.2f} s | {cpu_cell(c)} | {c.cpu / n_obj * 1000:.2f} ms | "
                    f"{c.total_requests} | {c.rss_mb:.0f} MB | - | - | - | - |"
                )
            if not n:
                continue
            e = by.get((tool, ds, "edit"))
            cyc = f" (cycle {n.extra['cycle_s']:.3f} s)" if "cycle_s" in n.extra else ""
            fail = "" if (c is None or c.ok) and n.ok and (e is None or e.ok) else " FAILED"
            edit = edits.get((tool, ds), "-")
            if e is not None:
                edit += f" ({e.wall:.2f} s, {e.cpu:.2f} s CPU, {fmt_ops(e.requests)})"
            if c is not None:
                ccyc = f" (cycle {c.extra['cycle_s']:.2f} s)" if "cycle_s" in c.extra else ""
                cold = (
                    f"{c.wall:.2f} s{ccyc} | {cpu_cell(c)} | {c.cpu / n_obj * 1000:.2f} ms | "
                    f"{c.total_requests} | {c.rss_mb:.0f} MB"
                )
            else:
                cold = "not run | - | - | - | -"
            lines.append(
                f"| {ds} | {tool}{fail} | {cold} | {n.wall:.2f} s{cyc} | {cpu_cell(n)} | "
                f"{n.total_requests} ({fmt_ops(n.requests)}) | {edit} |"
            )
    if quiet:
        lines += [
            "",
            "| data | tool | process CPU per quiet cycle of `dagsync run`: manifest probe | LIST |",
            "|---|---|---|---|",
        ]
        for ds in datasets:
            for tool in tools:
                if (tool, ds, "manifest") in quiet:
                    lines.append(
                        f"| {ds} | {tool} | {quiet[(tool, ds, 'manifest')] * 1000:.1f} ms | "
                        f"{quiet.get((tool, ds, 'list'), float('nan')) * 1000:.1f} ms |"
                    )
    lines += ["", "| target | dagsync transport | measured | met |", "|---|---|---|---|"]
    for ds in datasets:
        for name, _, _ in DAGSYNC_VARIANTS:
            lines += targets(by, ds, name, name[len("dagsync (") : -1], quiet)
    return "\n".join(lines)


def targets(
    by: dict[tuple[str, str, str], Run],
    ds: str,
    tool: str,
    t: str,
    quiet: dict[tuple[str, str, str], float] | None = None,
) -> list[str]:
    lines = []
    quiet = quiet or {}
    n_obj = round(float(ds[:-1]) * 1000)
    d_c, d_n = by.get((tool, ds, "cold")), by.get((tool, ds, "no-change"))
    a_c = by.get(("aws s3 sync", ds, "cold"))
    if d_c and a_c:
        ratio = d_c.wall / a_c.wall
        lines.append(
            f"| {ds} cold wall <= 0.25x aws s3 sync | {t} | {d_c.wall:.2f} s / {a_c.wall:.2f} s = {ratio:.2f}x | {'yes' if ratio <= 0.25 else 'NO'} |"
        )
        if a_c.cpu:
            cr = d_c.cpu / a_c.cpu
            lines.append(
                f"| {ds} cold CPU <= 0.25x aws s3 sync | {t} | {d_c.cpu:.2f} s / {a_c.cpu:.2f} s = {cr:.2f}x | {'yes' if cr <= 0.25 else 'NO'} |"
            )
    if d_c and d_c.cpu and d_n:
        # Per object = what the cold sync spends beyond the same tool's no-change run (Python start-up, imports,
        # the S3 client, the LIST, the manifest): a per-process cost, paid once per sidecar, that issue 13 measures
        # apart ("a quiet dagsync sync process used 1.0 CPU-s"). docs/adr/0001-dag-sync.md (Consequences).
        per = (d_c.cpu - d_n.cpu) / n_obj * 1000
        whole = d_c.cpu / n_obj * 1000
        refs = ""
        for name, reference in (
            ("minimal client", MINIMAL_CLIENT_TOOL),
            ("file system only", FILES_ONLY_TOOL),
        ):
            run = by.get((reference, ds, "cold"))
            if run and run.ok:
                refs += f"; {name} {run.cpu / n_obj * 1000:.2f} ms"
        files_only = by.get((FILES_ONLY_TOOL, ds, "cold"))
        floor = ""
        if files_only and files_only.ok:
            # what a sync that cost nothing itself would spend: this tool's start-up and LIST (its no-change run)
            # plus creating the files on this disk
            floor = f"; floor (no-change run + file system only) {(d_n.cpu + files_only.cpu) / n_obj * 1000:.2f} ms"
        lines.append(
            f"| {ds} cold CPU per object well under 1 ms (< 0.5 ms; cold minus no-change run) | {t} | "
            f"{per:.2f} ms/object ({d_c.cpu:.2f} s - {d_n.cpu:.2f} s{refs}) | {'yes' if per < 0.5 else 'NO'} |"
        )
        lines.append(
            f"| {ds} cold CPU per object < 1 ms, whole process (start-up included) | {t} | "
            f"{whole:.2f} ms/object{floor} | {'yes' if whole < 1.0 else 'NO'} |"
        )
    if (tool, ds, "manifest") in quiet:
        q = quiet[(tool, ds, "manifest")] * 1000
        lines.append(
            f"| {ds} quiet cycle in a running sidecar <= 5 ms CPU (manifest) | {t} | {q:.1f} ms | {'yes' if q <= 5 else 'NO'} |"
        )
    if d_n:
        ok_ops = {"ListObjectsV2", "GetObject"} if "GetObject" in d_n.requests else {"ListObjectsV2"}
        only_list = set(d_n.requests) <= ok_ops
        lines.append(
            f"| {ds} no-change: LIST (+ manifest GET) only | {t} | {fmt_ops(d_n.requests)} | {'yes' if only_list else 'NO'} |"
        )
    if d_c and ds == "10k":
        peak = max(d_c.rss_mb, d_n.rss_mb if d_n else 0)
        lines.append(f"| 10k peak RSS <= 80 MB | {t} | {peak:.0f} MB | {'yes' if peak <= 80 else 'NO'} |")
    return lines


def cpu_cell(run: Run) -> str:
    """CPU seconds; for a repeated run the median and, in brackets, the range."""
    if run.extra.get("repeats", 1) > 1:
        return f"{run.cpu:.2f} s ({run.extra['cpu_min']:.2f}-{run.extra['cpu_max']:.2f})"
    return f"{run.cpu:.2f} s"


def fmt_ops(reqs: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(reqs.items())) or "none"


if __name__ == "__main__":
    sys.exit(main())
