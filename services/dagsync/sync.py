"""The async shell of a sync cycle: LIST, plan (pure), download, build, swap, collect.

See docs/adr/0001-dag-sync.md for the why of every step.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from platform_common.aws import aio_client, aio_session, client_config
from platform_common.redact import redact_text
from platform_common.sidecar_status import SidecarStatus

from . import bundle, planner
from .config import S3Url, Settings, parse_s3_url
from .keys import MANIFEST_NAME, PATH_MAX
from .metrics import Metrics, NullMetrics
from .planner import Download, IndexEntry, Plan, RemoteObject
from .state import (
    DestError,
    Paths,
    collect_garbage,
    fsync_dir,
    load_index,
    published_version,
    read_json,
    retire,
    swap_symlink,
    version_complete,
    write_index,
    write_json,
)
from .transport import (
    AWS_APIS,
    Fetched,
    GetError,
    NotModified,
    Transport,
    make_transport,
    s3_error_kind,
)

log = logging.getLogger("dagsync")

MANIFEST_MAX_BYTES = 64 << 20


KMS = ("aws:kms", "aws:kms:dsse")


class SyncError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def classify(exc: BaseException) -> tuple[str, str]:
    """(error kind for the metric label, one-line message)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # TaskGroup: report the first cause
        exc = exc.exceptions[0]
    if isinstance(exc, SyncError | GetError):
        kind, msg = exc.kind, str(exc)
    elif isinstance(exc, DestError):
        kind, msg = "dest", str(exc)
    elif isinstance(exc, bundle.BundleError):
        kind, msg = "changed", str(exc)
    elif isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        kind = s3_error_kind(code, status)
        msg = f"S3 {exc.operation_name}: {code or status} {err.get('Message', '')}".strip()
    elif isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        kind, msg = "disk_full", f"no space left on device: {exc.filename or ''}".strip()
    elif isinstance(exc, OSError) and exc.errno == errno.EROFS:
        kind, msg = "read_only", f"read-only file system: {exc.filename or ''}".strip()
    elif isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
        kind, msg = "permission", str(exc)
    elif type(exc).__name__ == "FlexibleChecksumError":
        kind, msg = "verify", f"S3 checksum mismatch: {exc}"
    elif (
        isinstance(exc, BotoCoreError | asyncio.TimeoutError | ConnectionError)
        or "aiohttp" in type(exc).__module__
    ):
        kind, msg = "network", f"{type(exc).__name__}: {exc}"
    elif isinstance(exc, OSError):
        kind, msg = "io", str(exc)
    else:
        kind, msg = "internal", f"{type(exc).__name__}: {exc}"
    return kind, redact_text(" ".join(msg.split()))[:500]


@dataclass
class CycleResult:
    ok: bool
    outcome: str  # unchanged | adopted | published | failed
    version: str | None = None
    commit: str | None = None
    listing_id: str | None = None
    listed: int = 0
    downloaded: int = 0
    linked: int = 0
    deleted: int = 0
    bytes: int = 0
    unverified: int = 0
    vanished: int = 0  # listed, then answered 404 NoSuchKey (mirror mode): published without them
    bundled: int = 0  # of ``downloaded``, how many came out of the manifest's bundle
    bundle_stopped: str | None = None  # why the bundle was left before it gave every file it was asked for
    unsafe: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    error_kind: str | None = None
    duration: float = 0.0
    cpu: float = 0.0  # process CPU seconds during the cycle
    check: str = (
        "list"  # how the cycle looked for changes: "list" (ListObjectsV2) | "manifest" (conditional GET)
    )
    outside_manifest: tuple[str, ...] = ()  # listed objects the manifest does not name (reported, not synced)


def s3_sha256_agrees(got: Fetched) -> bool | None:
    """The object's S3 SHA-256 checksum against the bytes received; None when there is no whole-file one (a
    composite multipart checksum ``...-N`` is not the file's SHA-256)."""
    s3_sha = got.headers.get("x-amz-checksum-sha256")
    if not s3_sha or "-" in s3_sha:
        return None
    return base64.b64decode(s3_sha).hex() == got.sha256


_libc: Any = None


def syncfs(path: Path) -> None:
    """Flush the filesystem holding ``path`` (one syscall instead of an fsync per file)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def s3_config(settings: Settings) -> Any:
    # botocore "standard" retries: 500/503 SlowDown/connection resets, per request (docs/adr/0001-dag-sync.md).
    # total_max_attempts: --max-attempts counts every attempt (Config's "max_attempts" would add one).
    # SigV4 also for presigned GETs (botocore would presign S3 with legacy SigV2 otherwise).
    return client_config(
        retry_mode="standard",
        max_attempts=settings.max_attempts,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=max(settings.concurrency, 10),
    ).merge(
        Config(
            signature_version="s3v4",
            retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        )
    )


def _raw_timestamp(value: str) -> str:
    return value


# The services whose endpoints the sync resolves: the ones it calls, and STS for an assume-role profile's
# credentials.
ENDPOINT_SERVICES = frozenset(AWS_APIS) | {"sts"}


def s3_client(settings: Settings) -> Any:
    # dagsync never reads LastModified: keep timestamps as the strings S3 sent instead of a dateutil parse per
    # listed key and per GET (~0.1 ms each; most of a botocore LIST page's CPU). Only this client's session.
    session = aio_session(endpoint_services=ENDPOINT_SERVICES)
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_raw_timestamp)
    return aio_client("s3", config=s3_config(settings), session=session)


class Syncer:
    """One sidecar's view of one source -> DEST pair."""

    def __init__(self, settings: Settings, s3: Any, metrics: Metrics | NullMetrics | None = None) -> None:
        if not settings.dest:
            from platform_common.settings import ConfigError

            raise ConfigError("dest is required: pass --dest DIR (or DAGSYNC_DEST)")
        self.settings = settings
        self.source: S3Url = parse_s3_url(settings.source, "source (--source / DAGSYNC_SOURCE)")
        self.paths = Paths.for_dest(settings.dest, settings.state_dir)
        self.s3 = s3
        self.metrics: Metrics | NullMetrics = metrics if metrics is not None else NullMetrics()
        self.sidecar_id = settings.the_sidecar_id()
        self.include = settings.globs("include")
        self.exclude = settings.globs("exclude")
        self.consecutive_failures = 0
        self.last_success: float | None = None
        # Manifest-first (docs/adr/0001-dag-sync.md §2): LIST on the first cycle, then every list_every-th.
        self._since_list = settings.list_every
        self._open_transport: Transport | None = None

    async def __aenter__(self) -> Syncer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the transport's connections (the S3 client is the caller's)."""
        transport, self._open_transport = self._open_transport, None
        if transport is not None:
            await transport.__aexit__(None, None, None)

    # ---- one cycle ----------------------------------------------------------------------------------------
    async def cycle(self) -> CycleResult:
        started = time.time()
        t0 = time.monotonic()
        c0 = time.process_time()
        res = CycleResult(ok=False, outcome="failed")
        try:
            await self._cycle(res)
            res.ok = True
        except asyncio.CancelledError:
            res.error_kind, res.error = "cancelled", "cycle cancelled (shutting down)"
            raise
        except Exception as exc:
            res.error_kind, res.error = classify(exc)
            res.outcome = "failed"
            if res.error_kind == "internal":
                log.debug("cycle failed", exc_info=True)
        finally:
            res.duration = time.monotonic() - t0
            res.cpu = time.process_time() - c0
            self._record(res, started)
        return res

    async def _cycle(self, res: CycleResult) -> None:
        paths = self.paths
        published = published_version(paths)
        res.version = published
        seen = read_json(paths.current_file)
        if (
            self._since_list < self.settings.list_every
            and seen
            and published
            and seen.get("mode") == "manifest"
            and seen.get("manifest_etag")
            and seen.get("version") == published
        ):
            self._since_list += 1
            if await self._cycle_manifest(res, published, seen):
                return
        self._since_list = 1
        paths.ensure()  # a quiet manifest cycle creates nothing: its state exists (``seen``, ``published``)
        await self._cycle_list(res, published, seen)

    async def _cycle_manifest(self, res: CycleResult, published: str, seen: dict[str, Any]) -> bool:
        """Manifest-first: one conditional GET of ``_manifest.json``; False = LIST instead (missing, unreadable,
        or another sidecar published meanwhile)."""
        res.check = "manifest"
        got = await self._fetch_manifest(if_none_match=str(seen["manifest_etag"]))
        if isinstance(got, NotModified):  # the quiet cycle: 304, nothing else
            self._adopt(res, "unchanged", published, seen)
            self._maybe_gc(published)
            return True
        if got is None:
            return False  # no manifest any more: the LIST decides (mirror mode)
        data, etag = got
        try:
            manifest = planner.parse_manifest(data)
        except planner.ManifestError:
            return False  # the LIST path fails the cycle with the reason, the last good version stays
        listing = planner.manifest_listing(manifest)
        self.paths.ensure()
        async with self._lock():
            now_published = published_version(self.paths)
            now_seen = read_json(self.paths.current_file)
            if (now_published, now_seen) != (published, seen):
                if (
                    now_seen
                    and now_published
                    and now_seen.get("version") == now_published
                    and (now_seen.get("manifest_etag") == etag)
                ):
                    self._adopt(res, "adopted", now_published, now_seen)
                    return True
                moved = True  # ours may be older than what was published meanwhile: let the LIST decide
            else:
                moved = False
                await self._publish(res, listing, None, published, (manifest, etag))
        return not moved

    async def _cycle_list(self, res: CycleResult, published: str | None, seen: dict[str, Any] | None) -> None:
        paths = self.paths
        res.check = "list"
        listing = await self._list()
        lid = planner.listing_id(listing)
        res.listed, res.listing_id = len(listing), lid
        if self._is_current(seen, published, lid, listing):  # ETag short-circuit: LIST only
            self._adopt(res, "unchanged", published, seen)
            self._report_outside(res, seen, published, listing)
            self._maybe_gc(published)
            return
        async with self._lock():
            now_published = published_version(paths)
            now_seen = read_json(paths.current_file)
            if (now_published, now_seen) != (published, seen):
                # Another sidecar published while we listed or waited: adopt it, or list again under the
                # lock so a stale listing never replaces a newer version.
                if not self._is_current(now_seen, now_published, lid, listing):
                    listing = await self._list()
                    lid = planner.listing_id(listing)
                    res.listed, res.listing_id = len(listing), lid
                if self._is_current(now_seen, now_published, lid, listing):
                    self._adopt(res, "adopted", now_published, now_seen)
                    return
            await self._publish(res, listing, lid, now_published)

    @staticmethod
    def _adopt(res: CycleResult, outcome: str, version: str | None, seen: dict[str, Any] | None) -> None:
        """The published version stands (unchanged, or another sidecar's): report it and its unsafe keys."""
        res.outcome, res.version, res.commit = outcome, version, (seen or {}).get("commit")
        res.unsafe = tuple((str(u[0]), str(u[1])) for u in (seen or {}).get("unsafe", ()))

    def _report_outside(
        self,
        res: CycleResult,
        seen: dict[str, Any] | None,
        published: str | None,
        listing: list[RemoteObject],
    ) -> None:
        """On a quiet LIST in manifest mode: name the objects the manifest does not list (they are not synced)."""
        if not seen or seen.get("mode") != "manifest" or not published:
            return
        index = load_index(self.paths, published) or {}
        named = set(index) | {str(u[0]) for u in seen.get("unsafe", ())}
        res.outside_manifest = planner.outside_manifest(
            listing, named, include=self.include, exclude=self.exclude
        )

    def _maybe_gc(self, current: str | None) -> None:
        """Collect expired versions on a quiet cycle too, if the lock is free right now."""
        if not any(e.name != current for e in os.scandir(self.paths.versions)):
            return
        fd = os.open(self.paths.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            if published_version(self.paths) == current:
                collect_garbage(self.paths, current, self.settings.grace_period)
        finally:
            os.close(fd)

    @staticmethod
    def _is_current(
        seen: dict[str, Any] | None, published: str | None, lid: str, listing: list[RemoteObject]
    ) -> bool:
        """Nothing to do: the listing is the one published, or (manifest mode) the manifest's ETag is.

        In manifest mode the published set depends only on the manifest, so objects outside it do not matter.
        """
        if not (seen and published and seen.get("version") == published):
            return False
        if seen.get("listing_id") == lid:
            return True
        if seen.get("mode") != "manifest" or not seen.get("manifest_etag"):
            return False
        return any(o.rel == MANIFEST_NAME and o.etag == seen["manifest_etag"] for o in listing)

    async def _publish(
        self,
        res: CycleResult,
        listing: list[RemoteObject],
        lid: str | None,
        published: str | None,
        fetched: tuple[planner.Manifest, str] | None = None,
    ) -> None:
        paths = self.paths
        if published and not version_complete(paths, published):
            published = None  # DEST points at a damaged tree: build a fresh one and re-point it
        manifest, manifest_etag = fetched if fetched else (None, None)
        by_rel = {o.rel: o for o in listing}
        if fetched is None and MANIFEST_NAME in by_rel:
            manifest, manifest_etag = await self._get_manifest(by_rel[MANIFEST_NAME])
        current = (load_index(paths, published) or {}) if published else {}
        plan = planner.plan(
            listing,
            current,
            manifest,
            include=self.include,
            exclude=self.exclude,
            path_budget=self._path_budget(),
            use_bundle=self.settings.bundle,
        )
        res.unsafe, res.commit = plan.unsafe, plan.commit
        if manifest is not None and lid is not None:
            res.outside_manifest = planner.outside_manifest(
                listing, manifest.files.keys(), include=self.include, exclude=self.exclude
            )
        if not plan.publishable:
            more = f" (+{len(plan.problems) - 3} more)" if len(plan.problems) > 3 else ""
            raise SyncError("manifest", "manifest not publishable: " + "; ".join(plan.problems[:3]) + more)
        version = plan.version
        if version != published and not version_complete(paths, version):
            version = await self._build(res, plan, published, by_rel)
        if version != published:
            swap_symlink(paths, version)
            if published:
                retire(paths, published)
            res.outcome, res.deleted = "published", len(plan.delete)
            self.metrics.publishes.inc()
        else:
            res.outcome = "adopted"
        res.version = version
        write_json(
            paths.current_file,
            {
                "version": version,
                # a listing with vanished objects is not "the published one": the next LIST plans again
                "listing_id": lid if not res.vanished else None,
                "commit": plan.commit,
                "mode": plan.mode,
                "manifest_etag": manifest_etag,
                "published_at": time.time(),
                "unsafe": [list(u) for u in plan.unsafe[:1000]],
            },
            durable=self.settings.fsync,
        )
        collect_garbage(paths, version, self.settings.grace_period)

    def _path_budget(self) -> int:
        longest = max(
            len(os.fsencode(os.path.realpath(self.paths.versions))) + 60,  # + "/.build-<id>-<pid>-<hex>/"
            len(os.fsencode(str(self.paths.dest))) + 1,
        )
        return PATH_MAX - 1 - longest

    # ---- S3 -----------------------------------------------------------------------------------------------
    async def _list(self) -> list[RemoteObject]:
        out: list[RemoteObject] = []
        plen = len(self.source.prefix)
        async for page in self._transport().list(self.source.bucket, self.source.prefix):
            out.extend(RemoteObject(o.key[plen:], o.size, o.etag, o.has_sha256) for o in page)
        return out

    def _transport(self) -> Transport:
        """The Syncer's one transport: its connections and signer outlive a cycle, as the S3 client's do."""
        if self._open_transport is None:
            self._open_transport = make_transport(
                self.settings.transport,
                self.s3,
                concurrency=self.settings.concurrency,
                max_attempts=self.settings.max_attempts,
                connect_timeout=self.settings.connect_timeout,
                read_timeout=self.settings.read_timeout,
            )
        return self._open_transport

    async def _get_manifest(self, obj: RemoteObject) -> tuple[planner.Manifest, str]:
        if obj.size > MANIFEST_MAX_BYTES:
            raise SyncError(
                "manifest", f"{MANIFEST_NAME} is {obj.size} bytes, more than {MANIFEST_MAX_BYTES}"
            )
        got = await self._fetch_manifest()
        if got is None or isinstance(got, NotModified):
            raise SyncError("changed", f"{self.source}{MANIFEST_NAME} was deleted since the LIST")
        data, etag = got
        try:
            return planner.parse_manifest(data), etag
        except planner.ManifestError as exc:
            raise SyncError("manifest", f"{self.source}{MANIFEST_NAME}: {exc}") from None

    async def _fetch_manifest(
        self, if_none_match: str | None = None
    ) -> tuple[bytes, str] | NotModified | None:
        """GET the manifest: (body, ETag); None if there is none; NOT_MODIFIED on a 304 (If-None-Match).

        Through the transport, so a quiet cycle's one request costs what a presigned GET costs (ADR 0001 §2)."""
        got = await self._transport().get_small(
            self.source.bucket,
            self.source.key(MANIFEST_NAME),
            limit=MANIFEST_MAX_BYTES,
            if_none_match=if_none_match,
        )
        if got is None or isinstance(got, NotModified):
            return got
        if got.size > MANIFEST_MAX_BYTES:
            raise SyncError("manifest", f"{MANIFEST_NAME} is more than {MANIFEST_MAX_BYTES} bytes")
        return got.body, planner.strip_etag(got.etag)

    # ---- build --------------------------------------------------------------------------------------------
    async def _build(
        self, res: CycleResult, plan: Plan, published: str | None, by_rel: dict[str, RemoteObject]
    ) -> str:
        """Build the tree in a temp dir, then rename it to ``versions/<id>``; returns the id.

        The id is recomputed from what was actually fetched: in mirror mode an object that changed or vanished
        since the LIST is taken as it is now (per-object consistency; commit consistency is the manifest's job).
        """
        paths = self.paths
        build = paths.versions / f".build-{plan.version}-{os.getpid()}-{secrets.token_hex(3)}"
        build.mkdir()
        made: set[str] = set()

        def parent_of(rel: str) -> Path:
            path = build / rel
            d = rel.rpartition("/")[0]
            if d and d not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(d)
            return path

        try:
            files: dict[str, IndexEntry] = {}
            downloads = list(plan.download)
            cur_root = paths.versions / published if published else None
            for k in plan.keep:
                dst = parent_of(k.rel)
                src = cur_root / k.rel if cur_root else None
                try:
                    if src is None:
                        raise FileNotFoundError(k.rel)
                    try:
                        os.link(src, dst)
                    except OSError as exc:
                        if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
                            raise
                        shutil.copy2(src, dst)
                    files[k.rel] = k.entry
                    res.linked += 1
                except FileNotFoundError:  # the current tree lost the file: fetch it again
                    obj = by_rel.get(k.rel)
                    if obj is None:
                        raise SyncError("manifest", f"{k.rel!r} is gone locally and remotely") from None
                    downloads.append(
                        Download(
                            k.rel,
                            obj.size,
                            obj.etag,
                            k.entry.sha256 if plan.mode == "manifest" else None,
                            planner.etag_may_be_md5(obj.etag),
                            obj.has_sha256,
                        )
                    )
            if downloads and plan.bundle is not None:
                downloads = await self._from_bundle(res, plan.bundle, downloads, parent_of, files)
            if downloads:
                it = iter(downloads)
                transport = self._transport()

                async def worker() -> None:
                    for d in it:
                        entry = await self._fetch(res, transport, d, parent_of(d.rel))
                        if entry is not None:
                            files[d.rel] = entry

                async with asyncio.TaskGroup() as tg:
                    for _ in range(min(self.settings.concurrency, len(downloads))):
                        tg.create_task(worker())
            version = planner.version_of(plan.mode, files)
            if version == published or version_complete(paths, version):
                shutil.rmtree(build, ignore_errors=True)
                return version
            final = paths.versions / version
            if final.exists():  # an incomplete leftover of a crash
                shutil.rmtree(final)
            if self.settings.fsync:
                await asyncio.to_thread(syncfs, build)
            write_index(
                paths.index_file(version), version, plan.mode, plan.commit, files, durable=self.settings.fsync
            )
            os.rename(build, final)
            if self.settings.fsync:
                fsync_dir(paths.versions)
            return version
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise

    async def _from_bundle(
        self,
        res: CycleResult,
        ref: planner.BundlePlan,
        downloads: list[Download],
        path_of: Any,
        files: dict[str, IndexEntry],
    ) -> list[Download]:
        """GET the bundle and unpack the wanted files, verified; returns what is left to fetch one by one.

        Any trouble with the bundle (gone, wrong size, corrupt, a member that is not the manifest's) only
        means the rest is fetched per object (docs/adr/0001-dag-sync.md §11); it never fails the cycle.
        """
        archive = self.paths.versions / f".bundle-{os.getpid()}-{secrets.token_hex(3)}"
        wanted = {
            d.rel: bundle.Wanted(d.size, d.expect_sha256) for d in downloads if d.expect_sha256 is not None
        }
        stopped: str | None
        try:
            try:
                got = await self._transport().fetch(
                    self.source.bucket, self.source.key(ref.key), archive, checksum=True, md5=False
                )
            except Exception as exc:  # any failure falls back to per-object GETs
                got, stopped = None, "GET failed: " + " ".join(classify(exc))
            else:
                stopped = None if got is not None else "it is not in the bucket (404)"
            if got is not None:
                if got.size != ref.size:
                    stopped = f"it is {got.size} bytes, the manifest says {ref.size}"
                elif s3_sha256_agrees(got) is False:
                    stopped = "its SHA-256 differs from the S3 checksum"
                else:
                    # On the loop, not in a thread: nothing else runs during a build, and a worker thread would
                    # keep its own malloc arena for the process's life (the RSS budget, ADR 0001 §10).
                    unpacked = bundle.unpack(archive, wanted, path_of, max_unpacked=ref.max_unpacked)
                    stopped = unpacked.stopped
                    for rel, mf in unpacked.files.items():
                        files[rel] = IndexEntry("", mf.size, mf.sha256)  # ETag unknown: kept by SHA-256
                    res.bundled = len(unpacked.files)
                    res.downloaded += res.bundled
                    res.bytes += got.size  # bytes received, as for a per-object GET
        finally:
            with contextlib.suppress(FileNotFoundError):
                archive.unlink()
        if stopped is not None:
            res.bundle_stopped = f"{self.source}{ref.key}: {stopped}"
            log.warning(
                "bundle not fully used: fetching the rest one by one (if this repeats: delete the bundle object "
                "and run `dagsync publish` again to rewrite it)",
                extra={
                    "event": "bundle_fallback",
                    "bundle": f"{self.source}{ref.key}",
                    "reason": stopped,
                    "bundled": res.bundled,
                    "remaining": len(downloads) - res.bundled,
                },
            )
        return [d for d in downloads if d.rel not in files]

    async def _fetch(
        self, res: CycleResult, transport: Transport, d: Download, path: Path
    ) -> IndexEntry | None:
        """Stream one object to ``path`` while hashing it; verify; None if it vanished (mirror mode)."""
        got = await transport.fetch(
            self.source.bucket, self.source.key(d.rel), path, checksum=d.has_sha256, md5=True
        )
        if got is None:
            if d.expect_sha256 is None:
                res.vanished += 1
                return None  # deleted since the LIST: the next LIST decides
            raise SyncError(
                "manifest", f"{d.rel!r} is listed in the manifest but was deleted from the bucket"
            )
        h = got.headers
        etag = planner.strip_etag(h.get("etag", d.etag))
        if etag != d.etag:  # changed since the LIST: take it as it is now (it is fetched once either way)
            d = Download(d.rel, got.size, etag, d.expect_sha256, planner.etag_may_be_md5(etag), d.has_sha256)
        if got.size != d.size:
            raise SyncError("verify", f"{d.rel!r}: got {got.size} bytes, expected {d.size}")
        verified = False
        agrees = s3_sha256_agrees(got)
        if agrees is not None:
            if not agrees:
                raise SyncError("verify", f"{d.rel!r}: SHA-256 differs from the S3 checksum")
            verified = True
        if d.expect_sha256 is not None:
            if d.expect_sha256 != got.sha256:
                raise SyncError("verify", f"{d.rel!r}: SHA-256 differs from the manifest")
            verified = True
        if not verified:
            kms = h.get("x-amz-server-side-encryption") in KMS or bool(
                h.get("x-amz-server-side-encryption-customer-algorithm")
            )
            if d.etag_may_be_md5 and not kms:
                if got.md5 != d.etag:
                    raise SyncError("verify", f"{d.rel!r}: MD5 differs from the ETag")
            else:
                res.unverified += 1
        res.downloaded += 1
        res.bytes += got.size
        return IndexEntry(d.etag, got.size, got.sha256)

    # ---- lock ---------------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lock(self) -> AsyncIterator[None]:
        """flock(2) on ``<state>/lock``: one sidecar builds and publishes, the others adopt."""
        fd = os.open(self.paths.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.settings.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SyncError(
                            "lock",
                            f"another sidecar held {self.paths.lock_file} for {self.settings.lock_timeout}s",
                        ) from None
                    await asyncio.sleep(0.05 + secrets.randbelow(100) / 1000)
            yield
        finally:
            os.close(fd)  # releases the lock

    # ---- status, metrics, log -----------------------------------------------------------------------------
    def _record(self, res: CycleResult, started: float) -> None:
        m = self.metrics
        now = time.time()
        if res.ok:
            self.consecutive_failures = 0
            self.last_success = now
            m.last_success.set(now)
            m.set_published(res.version, res.commit)
        else:
            self.consecutive_failures += 1
            m.errors.labels(kind=res.error_kind or "internal").inc()
        m.cycles.labels(result=res.outcome).inc()
        m.cycle_duration.observe(res.duration)
        if res.check == "list":
            m.objects_listed.set(res.listed)
        m.objects_downloaded.inc(res.downloaded)
        m.objects_linked.inc(res.linked)
        m.objects_deleted.inc(res.deleted)
        m.bytes_downloaded.inc(res.bytes)
        m.unverified.inc(res.unverified)
        m.consecutive_failures.set(self.consecutive_failures)
        counts: dict[str, int] = {}
        for _, reason in res.unsafe:
            counts[reason] = counts.get(reason, 0) + 1
        m.set_unsafe(counts)
        version = res.version  # what this cycle published or found published
        if not res.ok:
            with contextlib.suppress(DestError, OSError):
                version = published_version(self.paths)
        status = SidecarStatus(
            sidecar_id=self.sidecar_id,
            source=str(self.source),
            dest=str(self.paths.dest),
            last_success=self.last_success,
            last_attempt=started,
            version=version,
            commit=res.commit if res.ok else self._published_commit(),
            last_error=None if res.ok else f"{res.error_kind}: {res.error}",
            consecutive_failures=self.consecutive_failures,
            outcome=res.outcome,
        ).to_json()
        try:
            self.paths.sidecars.mkdir(parents=True, exist_ok=True)
            write_json(self.paths.sidecars / f"{self.sidecar_id}.json", status, durable=False)
            if res.ok:
                write_json(self.paths.status_file, status, durable=False)
        except OSError as exc:
            m.errors.labels(kind="status_write").inc()
            log.warning("cannot write status file", extra={"error": str(exc)})
        fields: dict[str, Any] = {
            "event": "cycle",
            "sidecar_id": self.sidecar_id,
            "source": str(self.source),
            "dest": str(self.paths.dest),
            "outcome": res.outcome,
            "ok": res.ok,
            "version": res.version,
            "commit": res.commit,
            "listing_id": res.listing_id,
            "listed": res.listed,
            "downloaded": res.downloaded,
            "linked": res.linked,
            "deleted": res.deleted,
            "bytes": res.bytes,
            "unverified": res.unverified,
            "bundled": res.bundled,
            "bundle_stopped": res.bundle_stopped,
            "unsafe_keys": len(res.unsafe),
            "unsafe_sample": [list(u) for u in res.unsafe[:20]],
            "check": res.check,
            "outside_manifest": len(res.outside_manifest),
            "outside_manifest_sample": list(res.outside_manifest[:20]),
            "duration_s": round(res.duration, 4),
            "cpu_s": round(res.cpu, 4),
            "consecutive_failures": self.consecutive_failures,
            "error_kind": res.error_kind,
            "error": res.error,
        }
        log.log(logging.INFO if res.ok else logging.ERROR, "sync cycle %s", res.outcome, extra=fields)

    def _published_commit(self) -> str | None:
        doc = read_json(self.paths.current_file)
        return doc.get("commit") if doc else None
