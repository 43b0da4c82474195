"""CLI: python -m devtools.localstack {up,down,status,clean,login} [--state-dir DIR] (see stack.py)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from devtools.localstack.config import DEFAULT_STATE_DIR, StackConfig
from devtools.localstack.stack import StackError, clean, down, dump_status, login, status, summary, up


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.localstack", description=__doc__)
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: .local/ in the repo")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="apply infra/envs/local to the emulator and run it (idempotent)")
    u.add_argument("--ports", choices=["default", "auto"], default="default", help="first run only")
    u.add_argument("--config", help="JSON object of StackConfig overrides (first run or later)")
    sub.add_parser("down", help="stop every process by its PID")
    s = sub.add_parser("status", help="PID, port and log of every process")
    s.add_argument("--json", action="store_true")
    sub.add_parser("clean", help="stop everything and remove the state")
    lg = sub.add_parser(
        "login", help="the Airflow login (FAB user) from the emulator's secret, on request only"
    )
    lg.add_argument(
        "--kind", choices=["admin", "ci"], default="admin", help="admin (default) or the CI account"
    )
    args = p.parse_args(argv)
    state = args.state_dir.resolve()
    try:
        if args.cmd == "up":
            overrides = json.loads(args.config) if args.config else {}
            if not isinstance(overrides, dict):
                raise ValueError("--config must be a JSON object")
            cfg = StackConfig.load_or_create(state, args.ports, **overrides)
            up(cfg)
            print(summary(cfg))
            return 0
        if not (state / "stack.json").exists():
            if args.cmd == "clean":
                subprocess.run(["rm", "-rf", str(state)], check=False)
            print(f"no local stack in {state} (nothing to {args.cmd}); start one with `make local`")
            return 0
        cfg = StackConfig.load(state)
        if args.cmd == "down":
            stopped = down(cfg)
            print(f"==> local stack stopped ({len(stopped)} processes); state kept in {state}")
        elif args.cmd == "status":
            print(json.dumps(status(cfg), indent=2) if args.json else dump_status(cfg))
        elif args.cmd == "clean":
            clean(cfg)
        elif args.cmd == "login":
            user, password = login(cfg, args.kind)
            print(f"url       {cfg.api_url}/auth/login/\nusername  {user}\npassword  {password}")
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
