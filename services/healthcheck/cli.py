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

from platform_common.log import configure_logging
from platform_common.redact import redact, redact_text
from platform_common.settings import ConfigError, load_settings

from .config import Settings

EXIT = {"ok": 0, "degraded": 1, "down": 2}


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting; the help names its env var and default."""
    for name, field in Settings.model_fields.items():
        default = field.default
        if hasattr(default, "get_secret_value"):
            default = redact_text(default.get_secret_value())
        elif isinstance(default, list):
            default = ",".join(default)
        helptext = f"{field.description + '; ' if field.description else ''}env HEALTHCHECK_{name.upper()}; default {default!s}"
        parser.add_argument(
            f"--{name.replace('_', '-')}", dest=name, default=None, metavar="V", help=helptext
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="healthcheck", description="Health aggregator for the Airflow platform."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server (/status, /health, /metrics, /)")
    once = sub.add_parser(
        "status", help="run one probe round, print /status JSON; exit 0 ok, 1 degraded, 2 down"
    )
    for p in (serve, once):
        _add_setting_flags(p)
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {name: getattr(args, name, None) for name in Settings.model_fields}
    return load_settings(Settings, flags)


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
        return 2
    configure_logging("healthcheck", settings.log_level)
    if args.command == "status":
        doc = asyncio.run(_once(settings))
        print(json.dumps(doc, indent=2))
        return EXIT[doc["status"]]
    try:
        Server(settings).run()
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start (it logged why, e.g. address in use)
        return int(exc.code) if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
