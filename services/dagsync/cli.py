"""``dagsync {sync,run,check,publish}``. Exit codes: 0 ok, 1 sync/publish/check failed, 2 usage or config error."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from platform_common.backoff import Backoff
from platform_common.log import configure_logging
from platform_common.settings import ConfigError, load_settings

from .config import Settings
from .metrics import Metrics, NullMetrics
from .state import DestError, Paths, published_version, read_json

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("dagsync")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="dagsync", description="Sync Airflow DAGs from S3 into a directory, atomically.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--source", help="s3://BUCKET/PREFIX/ (DAGSYNC_SOURCE)")
        sp.add_argument("--dest", help="directory Airflow reads; becomes a symlink (DAGSYNC_DEST)")
        sp.add_argument(
            "--state-dir",
            help="versions and status (DAGSYNC_STATE_DIR; default <dest parent>/.dagsync-<name>)",
        )
        sp.add_argument(
            "--include",
            action="append",
            help="glob to include, repeatable (DAGSYNC_INCLUDE, comma-separated)",
        )
        sp.add_argument("--exclude", action="append", help="glob to exclude, repeatable (DAGSYNC_EXCLUDE)")
        sp.add_argument("--concurrency", type=int, help="parallel GETs (DAGSYNC_CONCURRENCY, default 32)")
        sp.add_argument(
            "--grace-period", type=float, help="seconds to keep old versions (DAGSYNC_GRACE_PERIOD, 600)"
        )
        sp.add_argument(
            "--sidecar-id", help="status file name (DAGSYNC_SIDECAR_ID, default <hostname>-<pid>)"
        )
        sp.add_argument(
            "--lock-timeout", type=float, help="seconds to wait for the publish lock (DAGSYNC_LOCK_TIMEOUT)"
        )
        sp.add_argument(
            "--max-attempts", type=int, help="botocore attempts per request (DAGSYNC_MAX_ATTEMPTS, 5)"
        )
        sp.add_argument(
            "--read-timeout", type=float, help="S3 read timeout seconds (DAGSYNC_READ_TIMEOUT, 30)"
        )
        sp.add_argument(
            "--connect-timeout", type=float, help="S3 connect timeout (DAGSYNC_CONNECT_TIMEOUT, 5)"
        )
        sp.add_argument(
            "--no-fsync",
            dest="fsync",
            action="store_const",
            const=False,
            help="skip syncfs (DAGSYNC_FSYNC=false)",
        )
        sp.add_argument(
            "--transport",
            choices=("botocore", "presigned"),
            help="S3 client for LIST/GET: botocore (default) or presigned (opt-in, DAGSYNC_TRANSPORT)",
        )
        sp.add_argument(
            "--list-every",
            type=int,
            help="with a manifest: a safety-net LIST every Nth cycle, 1 = every cycle (DAGSYNC_LIST_EVERY, 60)",
        )
        sp.add_argument("--log-level", help="DEBUG|INFO|WARNING|ERROR (DAGSYNC_LOG_LEVEL)")

    sp = sub.add_parser("sync", help="run one cycle")
    common(sp)
    sp = sub.add_parser("run", help="loop: one cycle every --interval seconds")
    common(sp)
    sp.add_argument("--interval", type=float, help="seconds between cycles (DAGSYNC_INTERVAL, 5)")
    sp.add_argument("--backoff-base", type=float, help="first retry delay ceiling (DAGSYNC_BACKOFF_BASE, 2)")
    sp.add_argument("--backoff-cap", type=float, help="max retry delay (DAGSYNC_BACKOFF_CAP, 300)")
    sp.add_argument(
        "--stop-grace", type=float, help="seconds a cycle may finish after SIGTERM (DAGSYNC_STOP_GRACE, 5)"
    )
    sp.add_argument("--metrics-port", type=int, help="Prometheus port, 0 = off (DAGSYNC_METRICS_PORT, 9101)")

    sp = sub.add_parser("check", help="exit 0 if the last successful sync into DEST is recent")
    sp.add_argument("--dest", help="the synced directory (DAGSYNC_DEST)")
    sp.add_argument("--state-dir", help="(DAGSYNC_STATE_DIR)")
    sp.add_argument("--max-age", type=float, help="seconds (DAGSYNC_MAX_AGE, 300)")
    sp.add_argument(
        "--sidecar-id", help="check this sidecar's own status instead of DEST's (DAGSYNC_SIDECAR_ID)"
    )

    sp = sub.add_parser("publish", help="upload LOCAL_DIR to s3://BUCKET/PREFIX/ with a manifest")
    sp.add_argument("--source", help="local directory (DAGSYNC_SOURCE)")
    sp.add_argument("--dest", help="s3://BUCKET/PREFIX/ (DAGSYNC_DEST)")
    sp.add_argument("--include", action="append", help="glob to include (DAGSYNC_INCLUDE)")
    sp.add_argument("--exclude", action="append", help="glob to exclude (DAGSYNC_EXCLUDE)")
    sp.add_argument(
        "--commit", help="commit recorded in the manifest (DAGSYNC_COMMIT; default git rev-parse HEAD)"
    )
    sp.add_argument(
        "--watch", action="store_const", const=True, help="republish on every change (DAGSYNC_WATCH)"
    )
    sp.add_argument("--concurrency", type=int, help="parallel requests (DAGSYNC_CONCURRENCY)")
    sp.add_argument("--max-attempts", type=int, help="botocore attempts per request (DAGSYNC_MAX_ATTEMPTS)")
    sp.add_argument("--log-level", help="(DAGSYNC_LOG_LEVEL)")
    return p


def _settings(ns: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {k: v for k, v in vars(ns).items() if k != "command"}
    for key in ("include", "exclude"):
        if flags.get(key):
            flags[key] = ",".join(flags[key])
    return load_settings(Settings, flags)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"dagsync: {message}", file=sys.stderr, flush=True)
    return code


# ---- commands ---------------------------------------------------------------------------------------------
async def _sync_once(settings: Settings) -> int:
    from .sync import Syncer, s3_client

    async with s3_client(settings) as s3:
        syncer = Syncer(settings, s3)
        res = await syncer.cycle()
    if res.ok:
        return EXIT_OK
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
    async with s3_client(settings) as s3:
        syncer = Syncer(settings, s3, metrics)
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
    return EXIT_OK


def _check(settings: Settings) -> int:
    if not settings.dest:
        return _fail("check: dest is required: pass --dest DIR (or DAGSYNC_DEST)", EXIT_USAGE)
    paths = Paths.for_dest(settings.dest, settings.state_dir)
    src = paths.sidecars / f"{settings.sidecar_id}.json" if settings.sidecar_id else paths.status_file
    doc = read_json(src)
    if doc is None:
        return _fail(f"check failed: no successful sync into {paths.dest} yet (no status file {src})")
    last = doc.get("last_success")
    now = time.time()
    if not isinstance(last, int | float):
        return _fail(
            f"check failed: no successful sync into {paths.dest} yet; last error: {_newest_error(paths)}"
        )
    age = now - float(last)
    if age > settings.max_age:
        return _fail(
            f"check failed: last successful sync into {paths.dest} was {age:.0f}s ago (max {settings.max_age:.0f}s); "
            f"last error: {_newest_error(paths)}"
        )
    try:
        version = published_version(paths)
    except DestError as exc:
        return _fail(f"check failed: {exc}")
    if version is None or not (paths.versions / version).is_dir():
        return _fail(f"check failed: {paths.dest} does not point at a published version")
    print(f"ok: last successful sync {age:.0f}s ago, version {version}, commit {doc.get('commit')}")
    return EXIT_OK


def _newest_error(paths: Paths) -> str:
    best: tuple[float, str] | None = None
    if paths.sidecars.is_dir():
        for f in paths.sidecars.glob("*.json"):
            doc = read_json(f)
            if doc and doc.get("last_error") and isinstance(doc.get("last_attempt"), int | float):
                cand = (float(doc["last_attempt"]), f"{doc['last_error']} (sidecar {doc.get('sidecar_id')})")
                if best is None or cand[0] > best[0]:
                    best = cand
    return best[1] if best else "none recorded"


async def _publish(settings: Settings) -> int:
    from .publish import Publisher
    from .sync import s3_client

    async with s3_client(settings) as s3:
        pub = Publisher(settings, s3)
        if not settings.watch:
            try:
                await pub.publish()
            except Exception as exc:
                from .sync import classify

                kind, msg = classify(exc)
                return _fail(f"publish failed: {kind}: {msg}")
            return EXIT_OK
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
    return EXIT_OK


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
        code = _fail(f"{ns.command}: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
