"""Supervised local processes: one PID file and one log per process under the state dir, stop by PID.

A PID file holds the PID *and* the process start time (from /proc), so a recycled PID is never mistaken for
ours and ``down`` never signals a stranger. See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devtools.servers import run_as


def proc_start_time(pid: int) -> int | None:
    """Kernel start time (clock ticks since boot) of a live, non-zombie ``pid``; None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may contain spaces
    if fields[0] in ("Z", "X"):  # zombie / dead: exited, only waiting to be reaped
        return None
    return int(fields[19])


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


@dataclass(frozen=True)
class ProcInfo:
    name: str
    pid: int
    start_time: int
    log: str
    started_at: float
    meta: Mapping[str, object]

    def alive(self) -> bool:
        reap(self.pid)
        return proc_start_time(self.pid) == self.start_time


class Supervisor:
    """PID files in ``<state>/run/<name>.pid`` (JSON), logs in ``<state>/logs/<name>.log``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.run_dir = state_dir / "run"
        self.log_dir = state_dir / "logs"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def info(self, name: str) -> ProcInfo | None:
        try:
            data = json.loads(self.pid_file(name).read_text())
            return ProcInfo(
                name,
                int(data["pid"]),
                int(data["start_time"]),
                str(data["log"]),
                float(data["started_at"]),
                data.get("meta", {}),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def running(self, name: str) -> ProcInfo | None:
        info = self.info(name)
        return info if info is not None and info.alive() else None

    def names(self, prefix: str = "") -> list[str]:
        if not self.run_dir.exists():
            return []
        return sorted(p.stem for p in self.run_dir.glob(f"{prefix}*.pid"))

    def spawn(
        self,
        name: str,
        cmd: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: Path | None = None,
        user: str | None = None,
        meta: Mapping[str, object] | None = None,
    ) -> tuple[ProcInfo, subprocess.Popen[bytes]]:
        """Start ``cmd`` in its own session (it outlives the caller), log to its log file, write its PID file."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file(name)
        with open(log, "ab") as out:
            out.write(
                f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}: {' '.join(cmd)}\n".encode()
            )
            out.flush()
            extra = run_as(user)
            proc = subprocess.Popen(  # type: ignore[call-overload]
                list(cmd),
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **extra,
            )
        start = None
        for _ in range(100):  # /proc/<pid>/stat appears with the fork
            start = proc_start_time(proc.pid)
            if start is not None:
                break
            time.sleep(0.01)
        info = ProcInfo(name, proc.pid, start or 0, str(log), time.time(), dict(meta or {}))
        tmp = self.pid_file(name).with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "pid": info.pid,
                    "start_time": info.start_time,
                    "log": info.log,
                    "started_at": info.started_at,
                    "cmd": list(cmd),
                    "meta": info.meta,
                }
            )
        )
        tmp.replace(self.pid_file(name))
        return info, proc

    def send(self, name: str, sig: int) -> bool:
        info = self.running(name)
        if info is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, sig)
        return True

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0, group: bool = True) -> bool:
        """Signal the process (and its process group), wait up to ``timeout``, then SIGKILL. True if it ran."""
        info = self.running(name)
        if info is None:
            self.pid_file(name).unlink(missing_ok=True)
            return False
        _kill(info.pid, sig, group=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and info.alive():
            time.sleep(0.1)
        if info.alive():
            _kill(info.pid, signal.SIGKILL, group)
            while info.alive():
                time.sleep(0.05)
        if group:  # leftovers of the process group (e.g. the scheduler's health-port child)
            _kill(info.pid, signal.SIGKILL, group=True)
        self.pid_file(name).unlink(missing_ok=True)
        return True


def _kill(pid: int, sig: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)  # start_new_session: the pgid is the leader's pid
        else:
            os.kill(pid, sig)
