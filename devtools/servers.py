"""Start real backing services as plain processes on free loopback ports, and stop them by PID.

Used by the pytest fixtures and by the local stack. Every server gets its own state dir and log file.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}: {tail}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {LOOPBACK}:{port} after {timeout}s (log: {log})")


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal ``pid``, wait for it to go, SIGKILL after ``timeout``."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return
        except ChildProcessError:  # not our child: poll for existence
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@dataclass
class Server:
    name: str
    pid: int
    port: int
    url: str
    state_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    stop_signal: int = signal.SIGTERM

    def stop(self) -> None:
        stop_pid(self.pid, self.stop_signal)
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=5)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return self.proc is None or self.proc.poll() is None


def _spawn(
    name: str, cmd: list[str], state_dir: Path, port: int, timeout: float, **popen: object
) -> tuple[subprocess.Popen[bytes], Path]:
    log = state_dir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **popen,
        )  # type: ignore[call-overload]
    wait_for_port(port, timeout, proc, log)
    return proc, log


def start_moto(state_dir: Path, port: int | None = None, env: dict[str, str] | None = None) -> Server:
    """The moto server (S3, CloudWatch, ECS, ...) spoken to over HTTP, like real AWS."""
    port = port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    repo = str(Path(__file__).resolve().parent.parent)
    penv = {**os.environ, **(env or {})}
    penv["PYTHONPATH"] = os.pathsep.join(p for p in (repo, penv.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "devtools.moto_launcher", "-H", LOOPBACK, "-p", str(port)]
    proc, log = _spawn("moto", cmd, state_dir, port, 60, env=penv)
    return Server("moto", proc.pid, port, f"http://{LOOPBACK}:{port}", state_dir, log, proc)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError(
            "redis-server not found: run `make test` (it installs it with apt-get) or apt-get install redis-server"
        )
    return found


def start_redis(state_dir: Path, port: int | None = None, password: str | None = None) -> Server:
    port = port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(state_dir),
        "--daemonize",
        "no",
    ]
    if password:
        cmd += ["--requirepass", password]
    proc, log = _spawn("redis", cmd, state_dir, port, 20)
    auth = f":{password}@" if password else ""
    return Server("redis", proc.pid, port, f"redis://{auth}{LOOPBACK}:{port}/0", state_dir, log, proc)


def _pg_bin(tool: str) -> str:
    for candidate in (
        shutil.which(tool),
        *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True),
    ):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise RuntimeError(f"{tool} not found: install PostgreSQL 15 (apt-get install postgresql)")


def run_as(user: str | None) -> dict[str, object]:
    """Popen/run kwargs that drop to ``user`` with its own group and no supplementary groups.

    ``user=`` alone keeps root's gid, so root-group permission bits (often ---) would apply instead of "other".
    """
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def initdb_command(data: Path) -> list[str]:
    return [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]


def postgres_command(data: Path, port: int, socket_dir: Path, max_connections: int = 200) -> list[str]:
    """A throwaway server: durability off (fsync, synchronous_commit, full_page_writes), loopback only."""
    cmd = [_pg_bin("postgres"), "-D", str(data), "-p", str(port), "-h", LOOPBACK, "-k", str(socket_dir)]
    for setting in (
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        f"max_connections={max_connections}",
    ):
        cmd += ["-c", setting]
    return cmd


def start_postgres(state_dir: Path | None = None, port: int | None = None, dbname: str = "airflow") -> Server:
    """A throwaway PostgreSQL cluster. Postgres refuses to run as root, so as root it runs as ``postgres``."""
    port = port or free_port()
    # pytest's tmp dirs are 0700 root-owned; the cluster needs a dir its own user can enter.
    state_dir = Path(tempfile.mkdtemp(prefix="pg-", dir=str(state_dir) if state_dir else None))
    os.chmod(state_dir, 0o755)  # noqa: S103 - the postgres user must enter it
    data = state_dir / "data"
    user: str | None = None
    if os.geteuid() == 0:
        user = "postgres"
        pw = pwd.getpwnam(user)
        os.chown(state_dir, pw.pw_uid, pw.pw_gid)
        for parent in state_dir.parents:  # make sure postgres can traverse to it
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
    as_user = run_as(user)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    subprocess.run(
        initdb_command(data),
        check=True,
        capture_output=True,
        env=env,
        cwd=state_dir,
        **as_user,
    )  # type: ignore[call-overload]
    cmd = postgres_command(data, port, state_dir)
    proc, log = _spawn("postgres", cmd, state_dir, port, 60, env=env, cwd=state_dir, **as_user)
    dsn_base = f"postgresql://postgres@{LOOPBACK}:{port}"
    for _ in range(100):  # accepting TCP is not yet accepting queries
        r = subprocess.run(
            [_pg_bin("psql"), f"{dsn_base}/postgres", "-Atc", f"CREATE DATABASE {dbname}"],
            capture_output=True,
            env=env,
        )
        if r.returncode == 0 or b"already exists" in r.stderr:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"postgres on {port} never accepted CREATE DATABASE: {r.stderr.decode()}")
    # SIGINT = "fast" shutdown: disconnect clients, shut down cleanly.
    return Server("postgres", proc.pid, port, f"{dsn_base}/{dbname}", state_dir, log, proc, signal.SIGINT)
