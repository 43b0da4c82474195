"""``healthcheck serve`` (the aggregator) and ``healthcheck status`` (one probe round, printed)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn

from platform_common.cli import OneLineParser, add_flags, given
from platform_common.exitcodes import FAILED, INTERRUPTED, OK, USAGE
from platform_common.log import configure_logging
from platform_common.redact import redact
from platform_common.settings import ConfigError, load_settings

from .config import Settings

# `status`: 0 only when the platform is ok; degraded or down is a failed check (the JSON says which).
EXIT = {"ok": OK, "degraded": FAILED, "down": FAILED}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="healthcheck",
        description="Health aggregator for the Airflow platform. Exit codes: services/platform_common/exitcodes.py "
        "(0 ok, 1 degraded or down, 2 usage or configuration, 130 interrupted).",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    serve = sub.add_parser("serve", help="run the HTTP server (/status, /health, /metrics, /)")
    once = sub.add_parser(
        "status", help="run one probe round, print /status JSON; exit 0 ok, 1 degraded or down"
    )
    for p in (serve, once):
        add_flags(p, Settings)
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(Settings, given(args, Settings))


def _drop_color(record: logging.LogRecord) -> bool:
    record.__dict__.pop("color_message", None)  # uvicorn's ANSI copy of msg: noise in JSON logs
    return True


class Server:
    """Settings -> uvicorn Config -> uvicorn Server (config kept apart from the server, as uvicorn does)."""

    def __init__(self, settings: Settings) -> None:
        from .app import create_app

        self.settings = settings
        self.config = uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,  # our JSON logging (platform_common.log) handles uvicorn's loggers too
            access_log=settings.access_log,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(self.config)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).addFilter(_drop_color)

    def run(self) -> None:
        self.server.run()


async def _once(settings: Settings) -> dict[str, Any]:
    from .probes import Probes
    from .runner import Runner

    async with Probes(settings) as probes:
        snap = await Runner(probes.probes(), settings.rule()).run_once()
    out: dict[str, Any] = redact(snap.to_json())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = settings_from(args)
    except ConfigError as exc:
        print(
            f"healthcheck: bad configuration: {exc} (see `healthcheck {args.command} --help`)",
            file=sys.stderr,
        )
        return USAGE
    configure_logging("healthcheck", settings.log_level)
    if args.command == "status":
        try:
            doc = asyncio.run(_once(settings))
        except KeyboardInterrupt:
            return INTERRUPTED
        print(json.dumps(doc, indent=2))
        return EXIT[doc["status"]]
    try:
        Server(settings).run()
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start; it logged why (e.g. address in use)
        if exc.code in (0, None):
            return OK
        print(
            f"healthcheck: the server could not start on {settings.host}:{settings.port} (see the log line above); "
            "check HEALTHCHECK_HOST and HEALTHCHECK_PORT",
            file=sys.stderr,
        )
        return USAGE
    return OK


if __name__ == "__main__":
    sys.exit(main())
