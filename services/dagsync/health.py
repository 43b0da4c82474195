"""``dagsync check``, the container health check ECS runs every 30 s: pure of pydantic and asyncio.

``verdict`` is the decision (the status file, the clock and the published version in; an exit code and a line
out), shared by the full CLI (cli.py) and ``lean_check``. ``lean_check`` reads its four settings from ``DAGSYNC_*``
env vars the way pydantic-settings does, and answers only when every value is one it reads exactly as
config.Settings would; for anything else (flags, a value to validate or coerce) it returns None and the caller
runs the full CLI, which gives the usual one-line errors. Why: importing pydantic costs ~0.25 CPU-s, five times the
rest of the check, and the probe runs in every Airflow task all day (docs/adr/0001-dag-sync.md, "Health check").
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from platform_common.exitcodes import FAILED, OK
from platform_common.sidecar_status import SidecarStatus

from .state import DestError, Paths, published_version, read_json

DEFAULT_MAX_AGE = 300.0  # seconds; config.Settings.max_age
_PLAIN_NUMBER = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")  # parsed by float() exactly as by pydantic


def sidecar_id_problem(value: str) -> str | None:
    """Why ``value`` cannot name a status file (config.Settings validates ``sidecar_id`` with it), or None."""
    if not value or "/" in value or value.startswith(".") or len(value) > 200:
        return "must be a non-empty file name (no '/', not starting with '.')"
    return None


@dataclass(frozen=True)
class Verdict:
    code: int  # platform_common.exitcodes: OK or FAILED
    line: str  # stdout when OK, else the failure (cli.py prints it as "dagsync: <line>" on stderr)


def report(v: Verdict) -> int:
    """Print a verdict as the CLI does (the OK line on stdout, a failure as one "dagsync: ..." line on stderr)."""
    if v.code == OK:
        print(v.line, flush=True)
    else:
        print(f"dagsync: {v.line}", file=sys.stderr, flush=True)
    return v.code


def verdict(paths: Paths, sidecar_id: str | None, max_age: float, now: float) -> Verdict:
    src = paths.sidecars / f"{sidecar_id}.json" if sidecar_id else paths.status_file
    doc = read_json(src)
    if doc is None:
        return Verdict(
            FAILED, f"check failed: no successful sync into {paths.dest} yet (no status file {src})"
        )
    try:
        status = SidecarStatus.from_json(doc)
    except ValueError as exc:
        return Verdict(FAILED, f"check failed: status file {src} is unreadable: {exc}")
    if status.last_success is None:
        return Verdict(
            FAILED,
            f"check failed: no successful sync into {paths.dest} yet; last error: {_newest_error(paths)}",
        )
    age = now - status.last_success
    if age > max_age:
        return Verdict(
            FAILED,
            f"check failed: last successful sync into {paths.dest} was {age:.0f}s ago (max {max_age:.0f}s); "
            f"last error: {_newest_error(paths)}",
        )
    try:
        version = published_version(paths)
    except DestError as exc:
        return Verdict(FAILED, f"check failed: {exc}")
    if version is None or not (paths.versions / version).is_dir():
        return Verdict(FAILED, f"check failed: {paths.dest} does not point at a published version")
    return Verdict(OK, f"ok: last successful sync {age:.0f}s ago, version {version}, commit {status.commit}")


def _newest_error(paths: Paths) -> str:
    best: tuple[float, str] | None = None
    if paths.sidecars.is_dir():
        for f in paths.sidecars.glob("*.json"):
            try:
                st = SidecarStatus.from_json(read_json(f))
            except ValueError:
                continue  # a file being replaced, or not a status file
            if st.last_error and st.last_attempt is not None:
                cand = (st.last_attempt, f"{st.last_error} (sidecar {st.sidecar_id})")
                if best is None or cand[0] > best[0]:
                    best = cand
    return best[1] if best else "none recorded"


_CHECK_ENV = (
    "dagsync_dest",
    "dagsync_state_dir",
    "dagsync_sidecar_id",
    "dagsync_max_age",
    "dagsync_log_level",
)
_LOG_LEVELS = ("debug", "info", "warning", "error")


def lean_check(environ: Mapping[str, str], now: float | None = None) -> Verdict | None:
    """The check from env vars alone, or None when config.Settings must read them (see the module docstring)."""
    env: dict[str, str] = {}
    for name, value in environ.items():
        key = name.lower()  # pydantic-settings matches env names case-insensitively
        if key in _CHECK_ENV:
            if key in env:
                return None  # two spellings of one variable: let pydantic-settings pick
            env[key] = value
    dest = env.get("dagsync_dest")
    state_dir = env.get("dagsync_state_dir")
    sidecar_id = env.get("dagsync_sidecar_id")
    raw_max_age = env.get("dagsync_max_age")
    level = env.get("dagsync_log_level")
    if not dest or state_dir == "" or (level is not None and level.lower() not in _LOG_LEVELS):
        return None
    if sidecar_id is not None and sidecar_id_problem(sidecar_id):
        return None
    max_age = DEFAULT_MAX_AGE
    if raw_max_age is not None:
        if not _PLAIN_NUMBER.fullmatch(raw_max_age) or float(raw_max_age) <= 0:
            return None
        max_age = float(raw_max_age)
    return verdict(
        Paths.for_dest(Path(dest), state_dir), sidecar_id, max_age, time.time() if now is None else now
    )
