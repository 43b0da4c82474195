"""On-disk layout outside DEST: versions, their indexes, the publish lock, status files.

Layout of ``<state>`` (default ``<dest parent>/.dagsync-<dest basename>/``)::

    versions/<id>/...        complete trees; DEST is a relative symlink to one of them
    versions/.build-*        trees being built (garbage after a crash; collected under the lock)
    index/<id>.json          the tree's index, written before its directory is renamed into place
    retired/<id>             mtime = when the version stopped being current (grace period clock)
    current.json             {"version", "listing_id", "commit", "published_at"}
    status.json              newest successful sync into DEST (for ``dagsync check``)
    sidecars/<id>.json       one status file per sidecar
    lock                     flock(2): one publisher at a time (docs/adr/0001-dag-sync.md)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .planner import IndexEntry


class DestError(Exception):
    """DEST is in a shape dagsync refuses to touch."""


@dataclass(frozen=True)
class Paths:
    dest: Path
    state: Path

    @classmethod
    def for_dest(cls, dest: str | Path, state_dir: str | Path | None = None) -> Paths:
        d = Path(os.path.abspath(dest))
        s = Path(os.path.abspath(state_dir)) if state_dir else d.parent / f".dagsync-{d.name}"
        return cls(d, s)

    @property
    def versions(self) -> Path:
        return self.state / "versions"

    @property
    def index(self) -> Path:
        return self.state / "index"

    @property
    def retired(self) -> Path:
        return self.state / "retired"

    @property
    def sidecars(self) -> Path:
        return self.state / "sidecars"

    @property
    def current_file(self) -> Path:
        return self.state / "current.json"

    @property
    def status_file(self) -> Path:
        return self.state / "status.json"

    @property
    def lock_file(self) -> Path:
        return self.state / "lock"

    def index_file(self, version: str) -> Path:
        return self.index / f"{version}.json"

    def ensure(self) -> None:
        for p in (self.state, self.versions, self.index, self.retired, self.sidecars):
            p.mkdir(parents=True, exist_ok=True)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write to a unique temp file next to ``path``, then rename over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def write_json(path: Path, doc: Mapping[str, Any], *, durable: bool = True) -> None:
    write_atomic(
        path, (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode(), durable=durable
    )


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def published_version(paths: Paths) -> str | None:
    """The version DEST points at; None when DEST does not exist (or is an empty real directory).

    Raises DestError when DEST is something dagsync did not make.
    """
    try:
        st = os.lstat(paths.dest)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(paths.dest)
        resolved = Path(os.path.realpath(paths.dest))
        if resolved.parent != Path(os.path.realpath(paths.versions)) or resolved.name.startswith("."):
            raise DestError(
                f"DEST {paths.dest} is a symlink to {target} which dagsync did not create; "
                "remove it or choose another --dest"
            )
        return resolved.name if resolved.is_dir() else None  # dangling: nothing is published
    if stat.S_ISDIR(st.st_mode):
        if any(os.scandir(paths.dest)):
            raise DestError(
                f"DEST {paths.dest} is a real directory with files; dagsync publishes DEST as a symlink to "
                "a versioned tree: move the directory away (or delete it) and run again"
            )
        return None
    raise DestError(f"DEST {paths.dest} exists and is not a directory or symlink; remove it")


def version_complete(paths: Paths, version: str) -> bool:
    return paths.index_file(version).is_file() and (paths.versions / version).is_dir()


def load_index(paths: Paths, version: str) -> dict[str, IndexEntry] | None:
    doc = read_json(paths.index_file(version))
    if doc is None or not isinstance(doc.get("files"), dict):
        return None
    return {rel: IndexEntry.from_json(v) for rel, v in doc["files"].items()}


def write_index(
    path: Path, version: str, mode: str, commit: str | None, files: Mapping[str, IndexEntry], *, durable: bool
) -> None:
    """Stream the index to a temp file and rename it into place (no whole-document copy in memory)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    head = {"version": version, "mode": mode, "commit": commit}
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(head, sort_keys=True)[:-1] + ', "files": {')
            for i, rel in enumerate(sorted(files)):
                f.write(("," if i else "") + "\n" + json.dumps(rel) + ": " + json.dumps(files[rel].to_json()))
            f.write("}}\n")
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def swap_symlink(paths: Paths, version: str) -> None:
    """Point DEST at ``versions/<version>`` atomically (rename of a new symlink over the old one)."""
    parent = Path(os.path.realpath(paths.dest.parent))
    target = os.path.relpath(os.path.realpath(paths.versions / version), parent)
    try:
        st = os.lstat(paths.dest)
        if stat.S_ISDIR(st.st_mode):  # an empty real directory (checked by published_version)
            os.rmdir(paths.dest)
    except FileNotFoundError:
        pass
    # The temp link lives in the state dir so nothing extra ever appears next to DEST (same filesystem
    # by default); it falls back to DEST's parent when the state dir is elsewhere.
    tmp = paths.state / f".link-{os.getpid()}-{secrets.token_hex(4)}"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, paths.dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno != errno.EXDEV:
            raise
        tmp = parent / f".{paths.dest.name}.dagsync-{os.getpid()}-{secrets.token_hex(4)}"
        os.symlink(target, tmp)
        try:
            os.replace(tmp, paths.dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    fsync_dir(parent)


def retire(paths: Paths, version: str, now: float | None = None) -> None:
    marker = paths.retired / version
    marker.touch()
    if now is not None:
        os.utime(marker, (now, now))


def collect_garbage(paths: Paths, current: str | None, grace: float, now: float | None = None) -> list[str]:
    """Remove versions retired longer than ``grace`` seconds ago and leftovers of crashed builds.

    Call with the publish lock held. Returns the removed version ids.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    for entry in os.scandir(paths.versions):
        name = entry.name
        if name.startswith(
            "."
        ):  # a crashed build or bundle download: nobody else builds while we hold the lock
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
            continue
        if name == current:
            with contextlib.suppress(FileNotFoundError):
                (paths.retired / name).unlink()
            continue
        marker = paths.retired / name
        try:
            retired_at = marker.stat().st_mtime
        except FileNotFoundError:
            retire(paths, name, now)  # orphan (crash between rename and swap): start its clock now
            continue
        if now - retired_at >= grace:
            with contextlib.suppress(FileNotFoundError):
                paths.index_file(name).unlink()  # index first: a half-deleted tree is never "complete"
            shutil.rmtree(entry.path, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
            removed.append(name)
    for entry in os.scandir(paths.index):
        vid = entry.name.removesuffix(".json")
        if entry.name.endswith(".json") and not (paths.versions / vid).exists():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    for entry in os.scandir(paths.state):
        if entry.name.startswith(".link-"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    return removed
