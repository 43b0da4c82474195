"""``dagsync publish``: upload a local tree to s3://BUCKET/PREFIX/, manifest written after the uploads.

Order (docs/adr/0001-dag-sync.md): upload changed files (with SHA-256 checksums), then the bundle of the whole
set (§11), then ``_manifest.json``, then delete what was removed (old bundles included). The manifest is the last
write; deletes come after it so the previous manifest never points at a missing object while sidecars may still
be reading it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from platform_common.aws import AwsApis

from .bundle import bundle_key, write_bundle
from .config import S3Url, Settings, parse_s3_url
from .keys import MANIFEST_NAME, filter_keys, reserved
from .planner import BundleRef, ManifestError, ManifestFile, parse_manifest, render_manifest, strip_etag

AWS_APIS: AwsApis = {
    "s3": frozenset(
        {"ListObjectsV2", "GetObject", "HeadObject", "PutObject", "DeleteObjects", "DeleteObject"}
    )
}

log = logging.getLogger("dagsync.publish")

IGNORED_DIRS = frozenset(
    {".git", "__pycache__", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
)
CHUNK = 1 << 20
DELETE_BATCH = 1000
# Characters XML 1.0 can carry (https://www.w3.org/TR/xml/#charsets); a DeleteObjects body with any other
# makes S3 answer MalformedXML for the whole batch. \r is legal but normalised to \n by XML parsers, and \t/\n
# survive only by luck of whitespace handling: those keys go one by one too (the key travels in the URL).
_XML_UNSAFE = re.compile("[\x00-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(key: str) -> bool:
    """Whether ``key`` can travel in a DeleteObjects XML body unchanged."""
    return not _XML_UNSAFE.search(key)


@dataclass
class PublishResult:
    uploaded: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)
    deleted_one_by_one: int = 0  # XML-unsafe keys, deleted with DeleteObject
    delete_failed: list[tuple[str, str]] = field(default_factory=list)  # (rel, error): left in the bucket
    skipped: list[tuple[str, str]] = field(default_factory=list)
    manifest_written: bool = False
    bundle: str | None = None  # the bundle key the manifest names (relative to the prefix)
    bundle_written: bool = False
    commit: str | None = None
    duration: float = 0.0


def git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else None


def walk(root: Path) -> Iterator[str]:
    """Relative POSIX paths of regular files under ``root`` (VCS and cache dirs skipped)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_file():
                yield full.relative_to(root).as_posix()


def sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class Publisher:
    def __init__(self, settings: Settings, s3: Any) -> None:
        if not settings.source:
            from platform_common.settings import ConfigError

            raise ConfigError("source is required: pass --source LOCAL_DIR (or DAGSYNC_SOURCE)")
        self.local = Path(settings.source)
        if not self.local.is_dir():
            from platform_common.settings import ConfigError

            raise ConfigError(f"source {settings.source!r} is not a local directory")
        self.dest: S3Url = parse_s3_url(settings.dest, "dest (--dest / DAGSYNC_DEST)")
        self.settings = settings
        self.s3 = s3
        # rel -> (etag, sha256 hex): what we know of remote objects, so --watch does not HEAD twice.
        self.known: dict[str, tuple[str, str]] = {}

    async def publish(self) -> PublishResult:
        t0 = time.monotonic()
        res = PublishResult(commit=self.settings.commit or git_commit(self.local))
        rels = [r for r in walk(self.local) if not reserved(r)]
        verdict = filter_keys(
            rels, include=self.settings.globs("include"), exclude=self.settings.globs("exclude")
        )
        res.skipped = list(verdict.unsafe)
        for rel, reason in verdict.unsafe:
            log.warning("skipping unsafe local path", extra={"path": rel, "reason": reason})
        local: dict[str, ManifestFile] = {}
        for rel in sorted(verdict.safe):
            sha, size = await asyncio.to_thread(sha256_file, self.local / rel)
            local[rel] = ManifestFile(sha, size)

        remote = await self._list()
        old_manifest = None
        if MANIFEST_NAME in remote:
            old_manifest = await self._get_manifest()

        sem = asyncio.Semaphore(min(self.settings.concurrency, 16))

        async def sync_one(rel: str, mf: ManifestFile) -> None:
            async with sem:
                r = remote.get(rel)
                if r is not None and r[1] == mf.size and await self._remote_sha(rel, r[0]) == mf.sha256:
                    res.unchanged += 1
                    return
                await self._put(rel, mf)
                res.uploaded.append(rel)

        async with asyncio.TaskGroup() as tg:
            for rel, mf in local.items():
                tg.create_task(sync_one(rel, mf))

        ref = await self._bundle(res, local, remote) if self.settings.bundle and local else None
        if (
            old_manifest is None
            or old_manifest.commit != res.commit
            or dict(old_manifest.files) != local
            or old_manifest.bundle != ref
        ):
            body = render_manifest(res.commit, local, ref)
            await self._put_checked(
                MANIFEST_NAME, body, hashlib.sha256(body).digest(), ContentType="application/json"
            )
            res.manifest_written = True

        gone = sorted(
            rel
            for rel in remote
            if rel not in local and rel != MANIFEST_NAME and (ref is None or rel != ref.key)
        )
        await self._delete(res, gone)
        res.duration = time.monotonic() - t0
        log.info(
            "publish",
            extra={
                "event": "publish",
                "dest": str(self.dest),
                "commit": res.commit,
                "files": len(local),
                "uploaded": len(res.uploaded),
                "unchanged": res.unchanged,
                "deleted": len(res.deleted),
                "deleted_one_by_one": res.deleted_one_by_one,
                "delete_failed": len(res.delete_failed),
                "delete_failed_sample": [list(f) for f in res.delete_failed[:20]],
                "skipped": len(res.skipped),
                "manifest_written": res.manifest_written,
                "bundle": res.bundle,
                "bundle_written": res.bundle_written,
                "duration_s": round(res.duration, 4),
            },
        )
        return res

    async def _bundle(
        self, res: PublishResult, local: dict[str, ManifestFile], remote: dict[str, tuple[str, int]]
    ) -> BundleRef:
        """Upload the bundle of ``local`` unless the bucket has it already (its key names its content)."""
        key = bundle_key(local)
        res.bundle = key
        if key in remote:
            return BundleRef(key, remote[key][1])
        with tempfile.TemporaryFile() as f:
            await asyncio.to_thread(write_bundle, self.local, local, f)
            size = f.tell()
            f.seek(0)
            sha = await asyncio.to_thread(hashlib.file_digest, f, "sha256")
            f.seek(0)
            await self._put_checked(key, f, sha.digest(), ContentType="application/gzip")
        res.bundle_written = True
        return BundleRef(key, size)

    async def _delete(self, res: PublishResult, gone: list[str]) -> None:
        """Delete removed objects; one bad key never blocks the others (issue 13, docs/adr/0001-dag-sync.md §4).

        XML-safe keys go in DeleteObjects batches; the rest (and a whole batch S3 rejects as MalformedXML) one by
        one with DeleteObject. A key that cannot be deleted is reported (``delete_failed``), not fatal: the
        manifest is already written, so sidecars ignore the leftover.
        """
        batchable = [rel for rel in gone if xml_safe(self.dest.key(rel))]
        single = [rel for rel in gone if not xml_safe(self.dest.key(rel))]
        for i in range(0, len(batchable), DELETE_BATCH):
            batch = batchable[i : i + DELETE_BATCH]
            try:
                out = await self.s3.delete_objects(
                    Bucket=self.dest.bucket,
                    Delete={"Objects": [{"Key": self.dest.key(rel)} for rel in batch], "Quiet": True},
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "MalformedXML":
                    raise
                single.extend(batch)
                continue
            failed = {}
            plen = len(self.dest.prefix)
            for err in out.get("Errors", ()):
                key = str(err.get("Key", ""))
                failed[key[plen:]] = f"{err.get('Code', '')} {err.get('Message', '')}".strip()
            for rel in batch:
                if rel in failed:
                    res.delete_failed.append((rel, failed[rel]))
                else:
                    res.deleted.append(rel)
                    self.known.pop(rel, None)
        for rel in sorted(single):
            try:
                await self.s3.delete_object(Bucket=self.dest.bucket, Key=self.dest.key(rel))
            except ClientError as exc:
                err = exc.response.get("Error", {})
                res.delete_failed.append((rel, f"{err.get('Code', '')} {err.get('Message', '')}".strip()))
                continue
            res.deleted.append(rel)
            res.deleted_one_by_one += 1
            self.known.pop(rel, None)
        if res.delete_failed:
            log.warning(
                "objects left in the bucket: delete failed",
                extra={
                    "event": "publish_delete_failed",
                    "dest": str(self.dest),
                    "count": len(res.delete_failed),
                    "sample": [list(f) for f in res.delete_failed[:20]],
                },
            )

    async def _list(self) -> dict[str, tuple[str, int]]:
        out: dict[str, tuple[str, int]] = {}
        plen = len(self.dest.prefix)
        paginator = self.s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.dest.bucket, Prefix=self.dest.prefix):
            for obj in page.get("Contents", ()):
                out[obj["Key"][plen:]] = (strip_etag(obj["ETag"]), int(obj["Size"]))
        return out

    async def _get_manifest(self) -> Any:
        try:
            resp = await self.s3.get_object(Bucket=self.dest.bucket, Key=self.dest.key(MANIFEST_NAME))
            async with resp["Body"] as body:
                return parse_manifest(await body.read())
        except ManifestError:
            return None  # rewritten below
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    async def _remote_sha(self, rel: str, etag: str) -> str | None:
        known = self.known.get(rel)
        if known and known[0] == etag:
            return known[1]
        head = await self.s3.head_object(
            Bucket=self.dest.bucket, Key=self.dest.key(rel), ChecksumMode="ENABLED"
        )
        b64 = head.get("ChecksumSHA256")
        if not b64 or "-" in b64:
            return None
        sha = base64.b64decode(b64).hex()
        self.known[rel] = (strip_etag(head.get("ETag", etag)), sha)
        return sha

    async def _put(self, rel: str, mf: ManifestFile) -> None:
        with open(self.local / rel, "rb") as f:  # noqa: ASYNC230 - local disk, small files
            out = await self._put_checked(rel, f, bytes.fromhex(mf.sha256))
        self.known[rel] = (strip_etag(out.get("ETag", "")), mf.sha256)

    async def _put_checked(self, rel: str, body: Any, sha256: bytes, **extra: str) -> Any:
        """PutObject with the body's SHA-256 as its S3 checksum: S3 refuses a body that does not match it."""
        return await self.s3.put_object(
            Bucket=self.dest.bucket,
            Key=self.dest.key(rel),
            Body=body,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(sha256).decode(),
            **extra,
        )
