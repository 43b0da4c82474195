"""CPU of one `dagsync check`, the container health check ECS runs in every Airflow task (every 10 s by default).

Not a test: it prints figures. Usage: `make bench-dagsync-check` (or `.venv/bin/python bench/dagsync/bench_check.py`).
Side by side in one run, each the median of --runs processes (CPU = the child's user + system time, rusage):
- `dagsync check` as ECS runs it (the console script, DAGSYNC_* env only: services/dagsync/health.py lean_check);
- the baseline: the same check through the full CLI (`python -m dagsync.cli check`, pydantic settings), which is
  what every probe cost before the lean path;
- the floor: a Python process that does nothing.
The state checked is a healthy DEST written by dagsync's own state writers (services/dagsync/state.py).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "services")]

from dagsync.state import Paths, write_json  # noqa: E402
from platform_common.sidecar_status import SidecarStatus  # noqa: E402

# dagsync as its image installs it (`make bench-venv`); else the dev venv, and the output says so
IMAGE_LIKE = REPO / ".venv-bench" / "dagsync" / "bin"
BIN = IMAGE_LIKE if (IMAGE_LIKE / "dagsync").exists() else Path(sys.executable).parent
COMPUTE_VARIABLES = REPO / "infra" / "modules" / "compute" / "variables.tf"


def probe_interval_s() -> int:
    """The default of var.dagsync_health_check_interval: the interval the task definitions give the sidecar's check."""
    block = re.search(
        r'variable "dagsync_health_check_interval" \{.*?\n  default += (\d+)',
        COMPUTE_VARIABLES.read_text(),
        re.S,
    )
    if not block:
        raise SystemExit(
            f"no default for dagsync_health_check_interval in {COMPUTE_VARIABLES.relative_to(REPO)}"
        )
    return int(block.group(1))


PROBE_INTERVAL_S = probe_interval_s()
SIDECAR_VCPU = 0.25


def healthy_dest(root: Path) -> Path:
    dest = root / "dags"
    paths = Paths.for_dest(dest)
    paths.ensure()
    (paths.versions / "v1").mkdir()
    dest.symlink_to(paths.versions / "v1")
    now = time.time()
    write_json(
        paths.status_file, SidecarStatus("bench", last_success=now, last_attempt=now, version="v1").to_json()
    )
    return dest


def measure(cmd: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median CPU seconds and wall seconds of ``runs`` processes of ``cmd`` after one warm-up; each must exit 0."""
    cpu, wall = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            sys.exit(f"bench_check: {' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-300:]}")
        if i:  # the warm-up run writes the bytecode caches the image ships with
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            wall.append(elapsed)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="processes per variant (median reported)")
    args = ap.parse_args()
    if args.runs < 1:
        sys.exit("bench_check: --runs must be at least 1")
    print(
        f"dagsync from {BIN}"
        + ("" if BIN == IMAGE_LIKE else " (dev venv: `make bench-venv` for the image's install)")
    )
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        dest = healthy_dest(Path(tmp))
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DAGSYNC_")}
        env["DAGSYNC_DEST"] = str(dest)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # the image has .pyc files (pip compiles them)
        variants = [
            ("dagsync check (console script, env only: the ECS probe)", [str(BIN / "dagsync"), "check"]),
            (
                "baseline: full CLI (python -m dagsync.cli check)",
                [str(BIN / "python"), "-m", "dagsync.cli", "check"],
            ),
            ("floor: python -c pass", [str(BIN / "python"), "-c", "pass"]),
        ]
        rows = []
        for name, cmd in variants:
            print(f"  {name}: {args.runs} runs ...", flush=True)
            rows.append((name, *measure(cmd, env, args.runs)))
    per_day = 86400 / PROBE_INTERVAL_S
    print(
        f"\n| variant | CPU per probe | wall | CPU per day at {PROBE_INTERVAL_S} s | share of a {SIDECAR_VCPU} vCPU sidecar |"
    )
    print("|---|---|---|---|---|")
    for name, cpu, wall in rows:
        share = cpu / PROBE_INTERVAL_S / SIDECAR_VCPU
        print(
            f"| {name} | {cpu * 1000:.0f} ms | {wall * 1000:.0f} ms | {cpu * per_day:.0f} s | {share:.2%} |"
        )
    print(f"\nlean / full CPU: {rows[0][1] / rows[1][1]:.2f}x")


if __name__ == "__main__":
    main()
