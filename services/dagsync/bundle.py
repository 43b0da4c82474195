"""Bundles: the published set as one object, so a cold sync is one GET (docs/adr/0001-dag-sync.md §11).

``dagsync publish`` writes ``_dagsync/bundle-<digest>.tar.gz`` before ``_manifest.json`` and names it there. A
bundle is only a faster way to fetch what the manifest lists, never a source of truth: a member is written only
if the sync wants that path and its size and SHA-256 are the manifest's. At the first member that is not what
publish writes, reading stops and the sidecar fetches the rest one by one. Local files only, no network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .keys import BUNDLE_DIR
from .planner import ManifestFile

CHUNK = 1 << 16


class BundleError(Exception):
    """A bundle that cannot be written (publish) or read on (sync): the message says why."""


def bundle_key(files: Mapping[str, ManifestFile]) -> str:
    """Content-addressed: the same set of files always has the same key, a new set a new one."""
    h = hashlib.sha256(b"dagsync-bundle-v1\n")
    for rel, f in sorted(files.items()):
        h.update(f"{rel}\0{f.sha256}\0{f.size}\n".encode("utf-8", "surrogatepass"))
    return f"{BUNDLE_DIR}bundle-{h.hexdigest()[:32]}.tar.gz"


def write_bundle(root: Path, files: Mapping[str, ManifestFile], out: BinaryIO) -> None:
    """A deterministic ``.tar.gz`` of ``files`` under ``root`` (sorted, mode 0644, mtime 0, no owners).

    Each file's bytes are checked against its manifest entry: a file edited after it was hashed fails the
    publish rather than ship a bundle that disagrees with the manifest.
    """
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar,
    ):
        for rel, mf in sorted(files.items()):
            data = (root / rel).read_bytes()
            if len(data) != mf.size or hashlib.sha256(data).hexdigest() != mf.sha256:
                raise BundleError(f"{rel!r} changed while publishing: publish again")
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))


@dataclass(frozen=True, slots=True)
class Wanted:
    size: int
    sha256: str  # hex, from the manifest


@dataclass
class Unpacked:
    files: dict[str, ManifestFile] = field(default_factory=dict)  # written and verified
    bytes: int = 0
    stopped: str | None = None  # why reading stopped before every wanted file was found; None = all found


class _Bounded:
    """Reads at most ``limit`` bytes from ``raw``, then fails: a small bundle cannot inflate without bound."""

    def __init__(self, raw: gzip.GzipFile, limit: int) -> None:
        self.raw, self.left = raw, limit

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n if n >= 0 else self.left + 1)
        self.left -= len(data)
        if self.left < 0:
            raise BundleError("bundle unpacks to more than the manifest's files and headers")
        return data


def unpack(
    archive: Path, wanted: Mapping[str, Wanted], path_of: Callable[[str], Path], *, max_unpacked: int
) -> Unpacked:
    """Write the wanted members of ``archive`` to ``path_of(rel)``, each verified before it counts.

    Members the sync does not want (other include globs, kept files, a repeat) are read past. A wanted name
    that is not a regular file of the manifest's size and SHA-256, a corrupt stream, or more than
    ``max_unpacked`` bytes stop the reading. A file that fails its hash is removed; one cut short by a broken
    stream is not counted, and its per-object GET overwrites it. Never raises for bad content (OSError does).
    """
    out = Unpacked()
    left = dict(wanted)
    try:
        with (
            open(archive, "rb") as raw,
            gzip.GzipFile(fileobj=raw, mode="rb") as gz,
            tarfile.open(  # type: ignore[call-overload]  # stream mode only reads; _Fileobj also wants write/seek
                fileobj=_Bounded(gz, max_unpacked),
                mode="r|",
                encoding="utf-8",
                errors="surrogateescape",
            ) as tar,
        ):
            while (member := tar.next()) is not None:
                tar.members.clear()  # a stream-mode TarFile keeps every TarInfo it read: MBs at 10k files
                want = left.pop(member.name, None)
                if want is None:
                    continue
                if not member.isreg():
                    out.stopped = f"member {member.name!r} is not a regular file"
                    return out
                if member.size != want.size:
                    out.stopped = (
                        f"member {member.name!r} is {member.size} bytes, the manifest says {want.size}"
                    )
                    return out
                src = tar.extractfile(member)
                assert src is not None  # a regular file
                path = path_of(member.name)
                h = hashlib.sha256()
                with open(path, "wb") as f:
                    while chunk := src.read(CHUNK):
                        h.update(chunk)
                        f.write(chunk)
                if h.hexdigest() != want.sha256:
                    path.unlink()
                    out.stopped = f"member {member.name!r}: SHA-256 differs from the manifest"
                    return out
                out.files[member.name] = ManifestFile(want.sha256, want.size)
                out.bytes += want.size
                if not left:
                    return out
    except BundleError as exc:
        out.stopped = str(exc)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        out.stopped = f"bundle is not a readable .tar.gz: {type(exc).__name__}: {exc}"
    if left and out.stopped is None:
        out.stopped = f"bundle lacks {len(left)} of the files it should hold"
    return out
