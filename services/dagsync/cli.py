"""``dagsync {sync,run,check,publish}``; flags from ``config.Settings``. Exit codes:
services/platform_common/exitcodes.py (0 ok, 1 sync/publish/check failed, 2 usage or config error, 130 interrupted)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from platform_common.backoff import Backoff
from platform_common.cli import OneLineParser, add_flags, given
from platform_common.exitcodes import FAILED, INTERRUPTED, OK, USAGE
from platform_common.log import configure_logging
from platform_common.settings import ConfigError, load_settings

from . import health
from .config import Settings
from .metrics import Metrics, NullMetrics
from .state import Paths

log = logging.getLogger("dagsync")

# Which settings each command takes as flags (all of them also as DAGSYNC_* env vars).
SYNC = (
    "source", "dest", "state_dir", "include", "exclude", "concurrency", "grace_period", "sidecar_id",
    "lock_timeout", "max_attempts", "read_timeout", "connect_timeout", "fsync", "transport", "list_every",
    "bundle", "log_level",
)  # fmt: skip
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sync": ("run one cycle", SYNC),
    "run": (
        "loop: one cycle every --interval seconds",
        (*SYNC, "interval", "backoff_base", "backoff_cap", "stop_grace", "metrics_port"),
    ),
    "check": (
        "exit 0 if the last successful sync into DEST is recent",
        ("dest", "state_dir", "max_age", "sidecar_id", "log_level"),
    ),
    "publish": (
        "upload LOCAL_DIR to s3://BUCKET/PREFIX/ with a manifest",
        (
            "source",
            "dest",
            "include",
            "exclude",
            "commit",
            "watch",
            "bundle",
            "concurrency",
            "max_attempts",
            "log_level",
        ),
    ),
}


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="dagsync",
        description="Sync Airflow DAGs from S3 into a directory, atomically. Exit codes: "
        "services/platform_common/exitcodes.py (0 ok, 1 failed, 2 usage or configuration, 130 interrupted).",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, (help_, fields) in COMMANDS.items():
        add_flags(sub.add_parser(name, help=help_), Settings, fields, repeatable=("include", "exclude"))
    return p


def _settings(ns: argparse.Namespace) -> Settings:
    return load_settings(Settings, given(ns, Settings))


def _fail(message: str, code: int = FAILED) -> int:
    print(f"dagsync: {message}", file=sys.stderr, flush=True)
    return code


def collect_from_here() -> None:
    """The console script (launch.py) starts with the garbage collector off; once the command's imports and
    clients exist, freeze what they made (never walked again, here or at exit) and collect from then on."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


# ---- commands ---------------------------------------------------------------------------------------------
async def _sync_once(settings: Settings) -> int:
    from .sync import Syncer, s3_client

    async with s3_client(settings) as s3, Syncer(settings, s3) as syncer:
        collect_from_here()
        res = await syncer.cycle()
    if res.ok:
        return OK
    return _fail(f"sync failed: {res.error_kind}: {res.error}")


async def _run(settings: Settings) -> int:
    from .sync import Syncer, s3_client

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics: Metrics | NullMetrics = NullMetrics()
    if settings.metrics_port:
        metrics = Metrics()
        try:
            metrics.serve(settings.metrics_port)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on port {settings.metrics_port} (DAGSYNC_METRICS_PORT): {exc}"
            ) from None
    backoff = Backoff(base=min(settings.backoff_base, settings.backoff_cap), cap=settings.backoff_cap)
    async with s3_client(settings) as s3, Syncer(settings, s3, metrics) as syncer:
        collect_from_here()
        while not stop.is_set():
            task = asyncio.create_task(syncer.cycle())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                # SIGTERM mid-cycle: let it finish briefly, then cancel. Cancellation never lands inside the
                # symlink swap (no await there), so DEST shows the old or the new version, never a mix.
                done, _ = await asyncio.wait({task}, timeout=settings.stop_grace)
                if not done:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                stopper.cancel()
                break
            stopper.cancel()
            res = task.result()
            if res.ok:
                backoff.reset()
                delay = settings.interval
            else:
                delay = backoff.delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
    log.info("stopped", extra={"event": "stopped", "sidecar_id": syncer.sidecar_id})
    return OK


def _check(settings: Settings) -> int:
    if not settings.dest:
        return _fail("check: dest is required: pass --dest DIR (or DAGSYNC_DEST)", USAGE)
    paths = Paths.for_dest(settings.dest, settings.state_dir)
    return health.report(health.verdict(paths, settings.sidecar_id, settings.max_age, time.time()))


async def _publish(settings: Settings) -> int:
    from .publish import Publisher
    from .sync import s3_client

    async with s3_client(settings) as s3:
        pub = Publisher(settings, s3)
        collect_from_here()
        if not settings.watch:
            try:
                await pub.publish()
            except Exception as exc:
                from .sync import classify

                kind, msg = classify(exc)
                return _fail(f"publish failed: {kind}: {msg}")
            return OK
        import watchfiles

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        async def once() -> None:
            try:
                await pub.publish()
            except Exception as exc:
                from .sync import classify

                kind, msg = classify(exc)
                log.error("publish failed", extra={"event": "publish", "error_kind": kind, "error": msg})

        await once()
        async for _changes in watchfiles.awatch(pub.local, stop_event=stop):
            await once()
    return OK


def _skip_httpx() -> None:
    """aiobotocore imports its optional httpx backend eagerly; dagsync uses aiohttp only. Not importing httpx
    saves ~6 MB RSS per sidecar (the 80 MB budget, docs/adr/0001-dag-sync.md). Only in the CLI process."""
    for name in ("httpx2", "httpx"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    _skip_httpx()
    ns = _parser().parse_args(argv)
    try:
        settings = _settings(ns)
        configure_logging("dagsync", settings.log_level)
        if ns.command == "check":
            code = _check(settings)
        elif ns.command == "sync":
            code = asyncio.run(_sync_once(settings))
        elif ns.command == "run":
            code = asyncio.run(_run(settings))
        else:
            code = asyncio.run(_publish(settings))
    except ConfigError as exc:
        code = _fail(f"{ns.command}: {exc}", USAGE)
    except KeyboardInterrupt:
        code = INTERRUPTED
    sys.exit(code)


if __name__ == "__main__":
    main()
