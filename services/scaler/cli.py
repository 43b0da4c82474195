"""``scaler decide`` (one measurement, one JSON decision) and ``scaler run`` (the loop). The flags come from
``ScalerSettings`` (each also a ``SCALER_*`` env var; flags win). See services/scaler/README.md."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from platform_common.cli import OneLineParser, add_flags, given
from platform_common.exitcodes import FAILED, INTERRUPTED, OK, USAGE
from platform_common.log import configure_logging
from platform_common.redact import redact_text
from platform_common.settings import ConfigError

from .config import ScalerSettings, load


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="scaler",
        description="Queue-depth scaler for Airflow Celery workers on ECS. Exit codes: "
        "services/platform_common/exitcodes.py (0 ok, 1 could not measure, 2 bad configuration).",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, help_ in (
        ("decide", "measure once and print the decision as JSON"),
        ("run", "measure, decide, publish, apply in a loop"),
    ):
        sp = sub.add_parser(name, help=help_)
        add_flags(sp, ScalerSettings)
        if name == "run":
            sp.add_argument("--max-cycles", type=int, default=None, help="stop after N cycles (tests)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load(given(args, ScalerSettings))
    except ConfigError as exc:
        print(f"scaler: bad configuration: {redact_text(str(exc))}", file=sys.stderr)
        return USAGE
    try:
        if args.command == "decide":  # stdout is the answer; only warnings (or debug when asked) on stderr
            configure_logging("scaler", "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING")
            return decide(settings)
        configure_logging("scaler", settings.log_level)
        return run(settings, args.max_cycles)
    except KeyboardInterrupt:
        return INTERRUPTED


def decide(settings: ScalerSettings) -> int:
    from .runner import Scaler

    scaler = Scaler(settings.model_copy(update={"cloudwatch": False}))
    try:
        result = scaler.cycle(apply=False, publish=False, stateful=False)
    finally:
        scaler.close()
    doc = result.as_dict(scaler.last["decided_at"] if scaler.last else 0.0)
    print(json.dumps(doc, sort_keys=True))
    if not result.measured:
        print(
            f"scaler: could not measure: {doc.get('error', 'unknown error')}; check that SCALER_REDIS_URL and "
            "SCALER_DB_URL (or SCALER_DB_SECRET_ARN) point at reachable servers",
            file=sys.stderr,
        )
        return FAILED
    return OK


def run(settings: ScalerSettings, max_cycles: int | None) -> int:
    from .runner import Scaler, serve

    scaler = Scaler(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server = (
            serve(scaler, settings.metrics_host, settings.metrics_port) if settings.metrics_port else None
        )
    except OSError as exc:
        scaler.close()
        print(
            f"scaler: cannot listen on {settings.metrics_host}:{settings.metrics_port} ({exc.strerror}); "
            "choose another SCALER_METRICS_PORT (0 = off)",
            file=sys.stderr,
        )
        return USAGE
    try:
        scaler.run(settings.interval, stop, max_cycles)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        scaler.close()
    return OK


if __name__ == "__main__":
    sys.exit(main())
