"""Helpers for the dagsync tests."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from dagsync import keys
from dagsync.config import Settings
from dagsync.publish import Publisher, PublishResult
from dagsync.sync import CycleResult, Syncer, s3_client


def settings_for(bucket: str, dest: Path, prefix: str = "dags/", **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "source": f"s3://{bucket}/{prefix}",
        "dest": str(dest),
        "max_attempts": 3,
        # Generous against a loaded CI box; fault tests that need a quick timeout pass their own.
        "read_timeout": 10,
        "connect_timeout": 10,
        "fsync": False,
        "metrics_port": 0,
        "sidecar_id": "test",
    }
    base.update(kw)
    return Settings(**base)


def sync_once(settings: Settings) -> CycleResult:
    async def go() -> CycleResult:
        async with s3_client(settings) as c, Syncer(settings, c) as syncer:
            return await syncer.cycle()

    return asyncio.run(go())


class SyncLoop:
    """One long-lived Syncer, as inside ``dagsync run``: its own event loop and S3 client across cycles."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self._cm = s3_client(settings)
        client = self.loop.run_until_complete(self._cm.__aenter__())
        self.syncer = Syncer(settings, client)

    def cycle(self) -> CycleResult:
        return self.loop.run_until_complete(self.syncer.cycle())

    def close(self) -> None:
        self.loop.run_until_complete(self.syncer.aclose())
        self.loop.run_until_complete(self._cm.__aexit__(None, None, None))
        self.loop.close()

    def __enter__(self) -> SyncLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish_once(local: Path, bucket: str, prefix: str = "dags/", **kw: Any) -> PublishResult:
    st = Settings(
        **{"source": str(local), "dest": f"s3://{bucket}/{prefix}", "commit": "c1", "max_attempts": 3, **kw}
    )

    async def go() -> PublishResult:
        async with s3_client(st) as c:
            return await Publisher(st, c).publish()

    return asyncio.run(go())


def tree(dest: Path) -> dict[str, bytes]:
    """relpath -> bytes of every file visible under DEST (following the DEST symlink)."""
    out: dict[str, bytes] = {}
    if not dest.exists():
        return out
    for root, _dirs, files in os.walk(dest):
        for name in files:
            full = Path(root) / name
            out[full.relative_to(dest).as_posix()] = full.read_bytes()
    return out


def put(s3: Any, bucket: str, key: str, body: bytes, **kw: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, **kw)


# Keys a sidecar must skip (and a publish must still be able to delete), with the reason the sync reports.
HOSTILE_KEYS = {
    "dags//etc/passwd": keys.ABSOLUTE,
    "dags/../escape.py": keys.DOT_SEGMENT,
    "dags/x/../../escape2.py": keys.DOT_SEGMENT,
    "dags/./dot.py": keys.DOT_SEGMENT,
    "dags/a//b.py": keys.EMPTY_SEGMENT,
    "dags/ctl\x01.py": keys.CONTROL_CHAR,  # XML 1.0 cannot carry it: DeleteObjects answers MalformedXML
    "dags/tab\t.py": keys.CONTROL_CHAR,  # moto cannot store "\n" in a key; the pure tests cover it
    "dags/" + "n" * 256: keys.NAME_TOO_LONG,
    "dags/" + "/".join(["d" * 250] * 17): keys.PATH_TOO_LONG,
    "dags/both": keys.FILE_DIR_CONFLICT,
    "dags/caf\u00e9.py": keys.UNICODE_COLLISION,
    "dags/cafe\u0301.py": keys.UNICODE_COLLISION,
}
