"""`dagsync` as real processes: CLI contract, exit codes, env vars, SIGTERM, kill -9, 3 sidecars, ENOSPC, RO."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagsync.state import Paths
from devtools.servers import free_port, stop_pid
from tests.support.dagsync import put, tree

FAST = {
    "DAGSYNC_MAX_ATTEMPTS": "3",
    "DAGSYNC_READ_TIMEOUT": "2",
    "DAGSYNC_CONNECT_TIMEOUT": "2",
    "DAGSYNC_FSYNC": "false",
    "DAGSYNC_METRICS_PORT": "0",
    "DAGSYNC_BACKOFF_BASE": "0.2",
    "DAGSYNC_BACKOFF_CAP": "1",
}


def env_for(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSYNC_")}
    env.update(FAST)
    env.update(extra)
    return env


def dagsync(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagsync.cli", *args],
        env=env or env_for(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "dagsync.cli", *args], env=env, stdout=f, stderr=subprocess.STDOUT
        )


def check_published(dest: Path) -> str | None:
    """DEST is absent or a symlink to a complete version whose files match its index exactly."""
    if not os.path.lexists(dest):
        return None
    assert dest.is_symlink()
    vdir = Path(os.path.realpath(dest))
    paths = Paths.for_dest(dest)
    assert vdir.parent == Path(os.path.realpath(paths.versions))
    index = json.loads(paths.index_file(vdir.name).read_text())["files"]
    files = tree(vdir)
    assert set(files) == set(index), "published tree differs from its index"
    for rel, data in files.items():
        assert hashlib.sha256(data).hexdigest() == index[rel][2], f"{rel} is partly written"
    assert set(os.listdir(dest.parent)) <= {dest.name, f".dagsync-{dest.name}"}
    return vdir.name


def remote_view(s3, bucket: str, prefix: str = "dags/") -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", ()):
            out[obj["Key"][len(prefix) :]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


class Churn:
    """Random remote puts, same-size overwrites and deletes in a background thread."""

    def __init__(self, s3, bucket: str, seed: int, rate: float = 25.0) -> None:
        self.s3, self.bucket, self.rng, self.rate = s3, bucket, random.Random(seed), rate
        self.stop_ev = threading.Event()
        self.puts = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop_ev.is_set():
            n += 1
            rel = f"d{self.rng.randrange(4)}/f{self.rng.randrange(25)}.py"
            if self.rng.random() < 0.2:
                self.s3.delete_object(Bucket=self.bucket, Key="dags/" + rel)
            else:
                put(self.s3, self.bucket, "dags/" + rel, f"{n:08d}".encode())  # same size every time
                self.puts += 1
            time.sleep(1 / self.rate)

    def __enter__(self) -> Churn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_ev.set()
        self.thread.join(10)


# ---- CLI contract ---------------------------------------------------------------------------------------
def test_sync_with_env_vars_and_exit_codes(s3, bucket, tmp_path) -> None:
    put(s3, bucket, "dags/a.py", b"A")
    dest = tmp_path / "dags"
    r = dagsync("sync", env=env_for(DAGSYNC_SOURCE=f"s3://{bucket}/dags/", DAGSYNC_DEST=str(dest)))
    assert r.returncode == 0, r.stderr
    assert tree(dest) == {"a.py": b"A"}
    line = json.loads(r.stderr.strip().splitlines()[-1])  # one JSON log line per cycle
    assert line["event"] == "cycle" and line["outcome"] == "published" and line["downloaded"] == 1
    # a flag beats the env var
    r = dagsync(
        "sync",
        "--source",
        f"s3://{bucket}/nope/",
        env=env_for(DAGSYNC_SOURCE="s3://zzz-missing/x/", DAGSYNC_DEST=str(tmp_path / "e")),
    )
    assert r.returncode == 0 and tree(tmp_path / "e") == {}
    for transport in ("botocore", "presigned"):
        r = dagsync(
            "sync",
            "--source",
            "s3://no-such-bucket-here/dags/",
            "--dest",
            str(dest),
            env=env_for(DAGSYNC_TRANSPORT=transport),
        )
        assert r.returncode == 1
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("dagsync: sync failed: s3:") and "NoSuchBucket" in last, last
        assert tree(dest) == {"a.py": b"A"}
    # the opt-in transport by env var; a flag beats it
    put(s3, bucket, "dags/b.py", b"B")
    r = dagsync(
        "sync",
        "--source",
        f"s3://{bucket}/dags/",
        "--dest",
        str(dest),
        env=env_for(DAGSYNC_TRANSPORT="presigned"),
    )
    assert r.returncode == 0 and tree(dest) == {"a.py": b"A", "b.py": b"B"}, r.stderr


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["sync"], {}, "is required"),
        (["sync", "--source", "http://x/y", "--dest", "d"], {}, "must look like s3://"),
        (["sync", "--source", "s3://ab/x", "--dest", "d"], {}, "not a valid S3 bucket"),
        (["sync", "--source", "s3://bucket/x"], {}, "dest is required"),
        (["sync", "--concurrency", "lots"], {}, "invalid int value"),
        (["run", "--source", "s3://bucket/x", "--dest", "d", "--interval", "-1"], {}, "DAGSYNC_INTERVAL"),
        (
            ["run", "--source", "s3://bucket/x", "--dest", "d"],
            {"DAGSYNC_INTERVAL": "soon"},
            "DAGSYNC_INTERVAL",
        ),
        (
            ["sync", "--source", "s3://bucket/x", "--dest", "d"],
            {"DAGSYNC_LOG_LEVEL": "LOUD"},
            "DAGSYNC_LOG_LEVEL",
        ),
        (
            ["sync", "--source", "s3://bucket/x", "--dest", "d"],
            {"DAGSYNC_TRANSPORT": "carrier-pigeon"},
            "DAGSYNC_TRANSPORT",
        ),
        (["sync", "--transport", "raw"], {}, "invalid choice"),
        (["check"], {}, "dest is required"),
        (
            ["publish", "--source", "/nonexistent-dir", "--dest", "s3://bucket/x/"],
            {},
            "not a local directory",
        ),
        (["frobnicate"], {}, "invalid choice"),
        ([], {}, "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, env, needle) -> None:
    r = dagsync(*args, env=env_for(**env))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert lines[0].startswith("dagsync")


def test_check_exit_codes(s3, bucket, tmp_path) -> None:
    dest = tmp_path / "dags"
    r = dagsync("check", "--dest", str(dest), "--max-age", "60")
    assert r.returncode == 1 and "no successful sync" in r.stdout + r.stderr
    put(s3, bucket, "dags/a.py", b"A")
    env = env_for(DAGSYNC_SOURCE=f"s3://{bucket}/dags/", DAGSYNC_DEST=str(dest))
    assert dagsync("sync", "--sidecar-id", "side-1", env=env).returncode == 0
    r = dagsync("check", "--max-age", "60", env=env)
    assert r.returncode == 0 and r.stdout.startswith("ok:")
    status = json.loads(Paths.for_dest(dest).status_file.read_text())
    for key in (
        "sidecar_id",
        "source",
        "dest",
        "last_success",
        "last_attempt",
        "version",
        "commit",
        "last_error",
        "consecutive_failures",
    ):
        assert key in status
    assert status["sidecar_id"] == "side-1" and status["last_error"] is None
    time.sleep(1.2)
    # a sidecar that now fails: its error shows in the reason once DEST is stale
    bad = env_for(DAGSYNC_SOURCE="s3://no-such-bucket-here/dags/", DAGSYNC_DEST=str(dest))
    assert dagsync("sync", "--sidecar-id", "side-2", env=bad).returncode == 1
    r = dagsync("check", "--max-age", "1", env=env)
    assert r.returncode == 1
    assert "ago" in r.stderr and "NoSuchBucket" in r.stderr and "side-2" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # per-sidecar health
    assert dagsync("check", "--max-age", "60", "--sidecar-id", "side-1", env=env).returncode == 0
    assert dagsync("check", "--max-age", "60", "--sidecar-id", "side-2", env=env).returncode == 1


# ---- run loop ---------------------------------------------------------------------------------------------
def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_metrics_logs_and_sigterm(s3, bucket, tmp_path) -> None:
    put(s3, bucket, "dags/a.py", b"A")
    put(s3, bucket, "dags/../bad.py", b"B")
    dest = tmp_path / "dags"
    port = free_port()
    log = tmp_path / "run.log"
    proc = spawn(
        "run",
        "--source",
        f"s3://{bucket}/dags/",
        "--dest",
        str(dest),
        "--interval",
        "0.3",
        env=env_for(DAGSYNC_METRICS_PORT=str(port)),
        log=log,
    )
    try:
        _wait(lambda: tree(dest) == {"a.py": b"A"}, 30, "first publish")
        put(s3, bucket, "dags/a.py", b"Z")
        _wait(lambda: tree(dest) == {"a.py": b"Z"}, 30, "second publish")

        def scrape() -> str:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

        _wait(lambda: 'dagsync_cycles_total{result="unchanged"}' in scrape(), 30, "a quiet cycle")
        body = scrape()
        version = Path(os.readlink(dest)).name
        for needle in (
            "dagsync_cycle_duration_seconds_count",
            "dagsync_objects_listed 2.0",
            "dagsync_objects_downloaded_total 2.0",
            "dagsync_bytes_downloaded_total 2.0",
            'dagsync_unsafe_keys{reason="dot_segment"} 1.0',
            "dagsync_last_success_timestamp_seconds",
            f'dagsync_published_info{{commit="",version="{version}"}} 1.0',
            'dagsync_cycles_total{result="published"} 2.0',
            'dagsync_cycles_total{result="unchanged"}',
        ):
            assert needle in body, needle
    finally:
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        took = time.monotonic() - t0
    assert rc == 0 and took < 10
    cycles = [json.loads(line) for line in log.read_text().splitlines() if '"event":"cycle"' in line]
    assert len(cycles) >= 3 and all(c["ok"] for c in cycles)
    assert cycles[0]["unsafe_sample"] == [["../bad.py", "dot_segment"]]


def test_sigterm_mid_cycle_never_half_publishes(s3, bucket, proxy, tmp_path) -> None:
    for i in range(3):
        put(s3, bucket, f"dags/f{i}.py", b"old")
    dest = tmp_path / "dags"
    env = env_for(DAGSYNC_SOURCE=f"s3://{bucket}/dags/", DAGSYNC_DEST=str(dest), DAGSYNC_READ_TIMEOUT="30")
    assert dagsync("sync", env=env).returncode == 0
    good = os.readlink(dest)
    for i in range(3):
        put(s3, bucket, f"dags/f{i}.py", b"new")
    proxy.add("GetObject", "stall", times=None, stall_s=60, key_contains="f2.py")
    log = tmp_path / "run.log"
    proc = spawn("run", "--interval", "0.3", env=env, log=log)
    try:
        _wait(lambda: proxy.faults_injected, 30, "the stalled GET")
    finally:
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        took = time.monotonic() - t0
    assert rc == 0 and took < 10, (rc, took)
    assert os.readlink(dest) == good and tree(dest) == {f"f{i}.py": b"old" for i in range(3)}
    assert not [n for n in os.listdir(Paths.for_dest(dest).versions) if n.startswith(".")]
    proxy.clear()


def test_kill_9_at_random_points_then_restart(s3, bucket, tmp_path) -> None:
    rng = random.Random(1234)
    for i in range(40):
        put(s3, bucket, f"dags/d{i % 4}/f{i}.py", f"{i:08d}".encode())
    dest = tmp_path / "vol" / "dags"  # logs stay out of the volume
    dest.parent.mkdir()
    env = env_for(DAGSYNC_SOURCE=f"s3://{bucket}/dags/", DAGSYNC_DEST=str(dest), DAGSYNC_FSYNC="true")
    seen: set[str] = set()
    with Churn(s3, bucket, seed=7):
        # at least 6 kills; more (up to 20) while fewer than 2 versions were seen: on a loaded machine start-up
        # alone can outlast a short round
        for round_ in range(20):
            if round_ >= 6 and len(seen) >= 2:
                break
            log = tmp_path / "run.log"
            cycles = log.read_text().count('"event":"cycle"') if log.exists() else 0
            proc = spawn("run", "--interval", "0.1", "--sidecar-id", f"k{round_}", env=env, log=log)
            if round_ >= 6:  # extra rounds: past this process's first cycle, then a random point
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and log.read_text().count('"event":"cycle"') <= cycles:
                    time.sleep(0.1)
            time.sleep(rng.uniform(0.8, 2.5))
            proc.kill()
            proc.wait(10)
            v = check_published(dest)
            if v:
                seen.add(v)
    assert len(seen) >= 2  # it did publish between kills
    r = dagsync("sync", env=env)
    assert r.returncode == 0, r.stderr
    check_published(dest)
    assert tree(dest) == remote_view(s3, bucket)


def test_three_sidecars_on_one_dir_under_churn(s3, bucket, proxy, tmp_path) -> None:
    for i in range(30):
        put(s3, bucket, f"dags/d{i % 4}/f{i}.py", f"{i:08d}".encode())
    dest = tmp_path / "vol" / "dags"  # logs stay out of the volume
    dest.parent.mkdir()
    env = env_for(DAGSYNC_SOURCE=f"s3://{bucket}/dags/", DAGSYNC_DEST=str(dest))
    proxy.reset_counts()
    procs = [
        spawn("run", "--interval", "0.2", "--sidecar-id", f"s{i}", env=env, log=tmp_path / f"s{i}.log")
        for i in range(3)
    ]
    violations: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # what Airflow would see, sampled continuously
        while not stop.is_set():
            try:
                check_published(dest)
            except FileNotFoundError:
                pass  # an old version collected between readlink and walk is fine only past grace (not here)
            except AssertionError as exc:
                violations.append(str(exc))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with Churn(s3, bucket, seed=11, rate=15) as churn:
            time.sleep(6)
        puts = 30 + churn.puts
        want = remote_view(s3, bucket)

        def converged() -> bool:
            if tree(dest) != want:
                return False
            files = [Paths.for_dest(dest).sidecars / f"s{i}.json" for i in range(3)]
            if not all(f.exists() for f in files):  # a sidecar still in its first cycle (slow start-up)
                return False
            docs = [json.loads(f.read_text()) for f in files]
            return all(d["last_error"] is None and d["version"] == Path(os.readlink(dest)).name for d in docs)

        _wait(converged, 30, "all sidecars to converge")
    finally:
        stop.set()
        watcher.join(5)
        for p in procs:
            stop_pid(p.pid, signal.SIGTERM, timeout=12)
    assert not violations, violations[:3]
    gets = proxy.statuses[("GetObject", 200)]
    assert gets <= puts, f"{gets} GETs for {puts} object versions: the fleet downloaded something twice"
    outcomes = [
        json.loads(line)["outcome"]
        for i in range(3)
        for line in (tmp_path / f"s{i}.log").read_text().splitlines()
        if '"event":"cycle"' in line
    ]
    assert "adopted" in outcomes or outcomes.count("published") < len(outcomes)


# ---- disk full, read-only -----------------------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (we run as root; mount(2) is the real ENOSPC/EROFS source)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    assert r.returncode == 0, f"cannot mount a tmpfs (need root / CAP_SYS_ADMIN): {r.stderr}"
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_fails_cleanly_and_keeps_last_good(s3, bucket, tmpfs) -> None:
    put(s3, bucket, "dags/a.py", b"A" * 1000)
    dest = tmpfs / "dags"
    env = env_for(DAGSYNC_SOURCE=f"s3://{bucket}/dags/", DAGSYNC_DEST=str(dest), DAGSYNC_SIDECAR_ID="full")
    assert dagsync("sync", env=env).returncode == 0
    good = os.readlink(dest)
    put(s3, bucket, "dags/big.bin", os.urandom(3 << 20))
    put(s3, bucket, "dags/a.py", b"B" * 1000)
    r = dagsync("sync", env=env)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("dagsync: sync failed: disk_full: no space left")
    line = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")][-1]
    assert line["error_kind"] == "disk_full"
    assert os.readlink(dest) == good and tree(dest) == {"a.py": b"A" * 1000}
    status = json.loads((Paths.for_dest(dest).sidecars / "full.json").read_text())
    assert status["last_error"].startswith("disk_full") and status["consecutive_failures"] == 1
    assert not [n for n in os.listdir(Paths.for_dest(dest).versions) if n.startswith(".")]  # space given back
    s3.delete_object(Bucket=bucket, Key="dags/big.bin")
    assert dagsync("sync", env=env).returncode == 0
    assert tree(dest) == {"a.py": b"B" * 1000}


def test_disk_full_shows_in_metrics(s3, bucket, tmpfs) -> None:
    import asyncio

    from prometheus_client import generate_latest

    from dagsync.metrics import Metrics
    from dagsync.sync import Syncer, s3_client
    from tests.support.dagsync import settings_for

    put(s3, bucket, "dags/big.bin", os.urandom(2 << 20))
    st = settings_for(bucket, tmpfs / "dags")
    m = Metrics()

    async def go() -> None:
        async with s3_client(st) as c, Syncer(st, c, m) as syncer:
            res = await syncer.cycle()
            assert not res.ok and res.error_kind == "disk_full"

    asyncio.run(go())
    text = generate_latest(m.registry).decode()
    assert 'dagsync_errors_total{kind="disk_full"} 1.0' in text
    assert "dagsync_consecutive_failures 1.0" in text


def test_read_only_dest(s3, bucket, tmpfs, tmp_path) -> None:
    put(s3, bucket, "dags/a.py", b"A")
    dest = tmpfs / "dags"
    env = env_for(DAGSYNC_SOURCE=f"s3://{bucket}/dags/", DAGSYNC_DEST=str(dest), DAGSYNC_SIDECAR_ID="ro")
    assert dagsync("sync", env=env).returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    put(s3, bucket, "dags/a.py", b"B")
    r = dagsync("sync", env=env)
    assert r.returncode == 1 and "read_only" in r.stderr.strip().splitlines()[-1]
    line = [json.loads(x) for x in r.stderr.splitlines() if '"event":"cycle"' in x][-1]
    assert line["error_kind"] == "read_only"
    assert tree(dest) == {"a.py": b"A"}
    # state on a writable disk, DEST's directory read-only: the status file carries the error
    state = tmp_path / "state"
    env2 = {**env, "DAGSYNC_STATE_DIR": str(state), "DAGSYNC_DEST": str(tmpfs / "other")}
    r = dagsync("sync", env=env2)
    assert r.returncode == 1
    status = json.loads((state / "sidecars" / "ro.json").read_text())
    assert status["last_error"].startswith("read_only") and status["last_success"] is None
    assert not os.path.lexists(tmpfs / "other")


# ---- publish ------------------------------------------------------------------------------------------------
def test_publish_uploads_changes_manifest_last_then_deletes(s3, bucket, proxy, tmp_path) -> None:
    local = tmp_path / "repo"
    (local / "dags" / "sub").mkdir(parents=True)
    (local / "dags" / "a.py").write_bytes(b"A")
    (local / "dags" / "sub" / "b.py").write_bytes(b"B")
    (local / "dags" / "__pycache__").mkdir()
    (local / "dags" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    git = ["git", "-C", str(local), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = env_for(DAGSYNC_SOURCE=str(local / "dags"), DAGSYNC_DEST=f"s3://{bucket}/dags/")
    proxy.reset_counts()
    r = dagsync("publish", env=env)
    assert r.returncode == 0, r.stderr
    puts = [p for op, p in proxy.log if op == "PutObject"]
    assert len(puts) == 4 and puts[-1].endswith("/_manifest.json")  # the files, the bundle, the manifest
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="dags/_manifest.json")["Body"].read())
    assert manifest["commit"] == head and manifest["version"] == 1
    assert manifest["files"] == {
        "a.py": {"sha256": hashlib.sha256(b"A").hexdigest(), "size": 1},
        "sub/b.py": {"sha256": hashlib.sha256(b"B").hexdigest(), "size": 1},
    }
    first_bundle = manifest["bundle"]["key"]
    assert first_bundle.startswith("_dagsync/bundle-") and puts[-2].endswith("/dags/" + first_bundle)
    bundle_obj = s3.get_object(Bucket=bucket, Key="dags/" + first_bundle)["Body"].read()
    assert manifest["bundle"]["size"] == len(bundle_obj)
    with tarfile.open(fileobj=io.BytesIO(bundle_obj), mode="r:gz") as tar:
        assert {m.name: tar.extractfile(m).read() for m in tar} == {"a.py": b"A", "sub/b.py": b"B"}
    head_a = s3.head_object(Bucket=bucket, Key="dags/a.py", ChecksumMode="ENABLED")
    assert head_a["ChecksumSHA256"]  # stored with an S3 SHA-256 checksum

    proxy.reset_counts()
    assert dagsync("publish", env=env).returncode == 0  # nothing changed: nothing written
    assert "PutObject" not in proxy.snapshot() and "DeleteObjects" not in proxy.snapshot()

    (local / "dags" / "sub" / "b.py").unlink()
    (local / "dags" / "a.py").write_bytes(b"Z")  # same size
    proxy.reset_counts()
    assert dagsync("publish", "--commit", "c2", env=env).returncode == 0
    writes = [(op, p) for op, p in proxy.log if op in ("PutObject", "DeleteObjects")]
    assert [op for op, _ in writes] == ["PutObject", "PutObject", "PutObject", "DeleteObjects"]
    assert writes[0][1].endswith("/a.py") and writes[2][1].endswith("/_manifest.json")
    second_bundle = json.loads(s3.get_object(Bucket=bucket, Key="dags/_manifest.json")["Body"].read())[
        "bundle"
    ]
    assert writes[1][1].endswith("/dags/" + second_bundle["key"]) and second_bundle["key"] != first_bundle
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["dags/" + second_bundle["key"], "dags/_manifest.json", "dags/a.py"]
    # and a sidecar publishes exactly that commit
    dest = tmp_path / "out"
    r = dagsync("sync", env=env_for(DAGSYNC_SOURCE=f"s3://{bucket}/dags/", DAGSYNC_DEST=str(dest)))
    assert r.returncode == 0 and tree(dest) == {"a.py": b"Z"}
    assert json.loads(r.stderr.strip().splitlines()[-1])["commit"] == "c2"


def test_publish_watch_republishes_on_change(s3, bucket, tmp_path) -> None:
    local = tmp_path / "dags"
    local.mkdir()
    (local / "a.py").write_bytes(b"one")
    env = env_for(DAGSYNC_SOURCE=str(local), DAGSYNC_DEST=f"s3://{bucket}/dags/", DAGSYNC_COMMIT="dev")
    proc = spawn("publish", "--watch", env=env, log=tmp_path / "watch.log")

    def manifest_files() -> dict:
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key="dags/_manifest.json")["Body"].read())["files"]
        except s3.exceptions.NoSuchKey:
            return {}

    try:
        _wait(lambda: "a.py" in manifest_files(), 30, "initial publish")
        (local / "b.py").write_bytes(b"two")
        _wait(lambda: "b.py" in manifest_files(), 30, "republish after a change")
        (local / "a.py").unlink()
        _wait(lambda: "a.py" not in manifest_files(), 30, "republish after a delete")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
    assert rc == 0
    assert s3.get_object(Bucket=bucket, Key="dags/b.py")["Body"].read() == b"two"
