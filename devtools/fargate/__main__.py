"""CLI of the local Fargate runner.

    python -m devtools.fargate run --config FILE        run until SIGTERM/SIGINT (then stop every task)
    python -m devtools.fargate status --state-dir DIR   services, tasks, containers, health, last stop reasons
                                                        (--json: the raw status file)

Config file format: devtools/fargate/config.py. Exit codes: 0 ok, 1 runtime error, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from devtools.fargate.config import ConfigError, RunnerConfig


def run(config: Path) -> int:
    try:
        cfg = RunnerConfig.load(config)
    except ConfigError as exc:
        print(f"error: bad config {config}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s fargate %(levelname)s %(message)s", stream=sys.stderr
    )
    from devtools.fargate.runner import Runner

    try:
        runner = Runner(cfg)
    except OSError as exc:
        hint = (
            f"a front's listen address is in use: change `fronts` in {config} or stop what listens there"
            if exc.errno == errno.EADDRINUSE
            else f"check that {cfg.state_dir} is writable"
        )
        print(f"error: cannot start the runner: {exc}; {hint}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        runner.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("fargate").info(
        "local Fargate runner: cluster %s at %s, state %s, credentials endpoint port %d",
        cfg.cluster,
        cfg.endpoint_url,
        cfg.state_dir,
        runner.endpoints.port,
    )
    runner.run()
    return 0


def status(state_dir: Path, as_json: bool) -> int:
    path = state_dir / "status.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        print(
            f"no runner status in {state_dir}: start it with `python -m devtools.fargate run --config FILE`"
        )
        return 1
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    age = time.time() - float(data.get("t", 0))
    print(f"cluster {data.get('cluster')}  runner pid {data.get('pid')}  status written {age:.0f}s ago")
    print(f"\n{'service':<40} {'desired':>7} {'running':>7} {'fails':>5}  task definition")
    for name, s in sorted(data.get("services", {}).items()):
        print(
            f"{name:<40} {s['desired']!s:>7} {s['running']!s:>7} {s['launch_failures']!s:>5}  {s['task_definition']}"
        )
        for reason in s.get("last_failures", [])[-1:]:
            print(f"    last failure: {reason}")
    print(f"\n{'task':<34} {'service/family':<36} {'status':<9} {'health':<9} hostname")
    for t in data.get("tasks", []):
        print(
            f"{t['task_id']:<34} {(t['service'] or t['task_definition']):<36} {t['status']:<9} {t['health']:<9} {t['hostname']}"
        )
        for c in t["containers"]:
            health = c["health"] or "-"
            extra = f" ({c['health_detail']})" if c.get("health_detail") else ""
            print(
                f"    {c['name']:<28} {c['phase']:<8} pid {c['pid'] or '-'!s:<8} health {health}{extra}  log {c['log']}"
            )
    stopped = data.get("stopped", [])
    if stopped:
        print("\nlast stopped tasks:")
        for r in stopped[-10:]:
            when = time.strftime("%H:%M:%S", time.localtime(r["stopped_at"]))
            print(f"  {when} {r['task_id']} ({r['service'] or r['task_definition']}): {r['reason']}")
    for name, f in data.get("fronts", {}).items():
        print(f"front {name} on {f['listen']} -> {', '.join(f['backends']) or 'no live task'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.fargate", description="local Fargate runner")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the task definitions of the cluster's services (and RunTask'd tasks)")
    r.add_argument("--config", type=Path, required=True)
    s = sub.add_parser("status", help="what the runner runs, and why tasks stopped")
    s.add_argument("--state-dir", type=Path, required=True)
    s.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "run":
        return run(args.config)
    return status(args.state_dir, args.json)


if __name__ == "__main__":
    sys.exit(main())
