"""Helpers for the dagsync tests."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from dagsync.config import Settings
from dagsync.sync import CycleResult, Syncer, s3_client


def settings_for(bucket: str, dest: Path, prefix: str = "dags/", **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "source": f"s3://{bucket}/{prefix}",
        "dest": str(dest),
        "max_attempts": 3,
        "read_timeout": 2,
        "connect_timeout": 2,
        "fsync": False,
        "metrics_port": 0,
        "sidecar_id": "test",
    }
    base.update(kw)
    return Settings(**base)


def sync_once(settings: Settings) -> CycleResult:
    async def go() -> CycleResult:
        async with s3_client(settings) as c:
            return await Syncer(settings, c).cycle()

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
