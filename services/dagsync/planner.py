"""The pure core of a sync cycle: (remote listing, optional manifest, current version's index) -> plan.

No I/O here. The shell (``sync.py``) lists, downloads, builds and publishes. See docs/adr/0001-dag-sync.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .keys import BUNDLE_DIR, PATH_MAX, filter_keys, is_dir_marker, key_problem, reserved, selected

MANIFEST_VERSION = 1
# A bundle is fetched when at least this many files, and at least 1/BUNDLE_MIN_SHARE of the new tree, are
# missing locally (docs/adr/0001-dag-sync.md §11): below that, per-object GETs cost less than unpacking.
BUNDLE_MIN_FILES = 32
BUNDLE_MIN_SHARE = 8
# Unpacking bound per member beyond its data: tar header, a PAX header for a long name, padding.
BUNDLE_MEMBER_OVERHEAD = 10 << 10
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MD5_ETAG = re.compile(r"[0-9a-f]{32}")


class ManifestError(ValueError):
    """The manifest is not valid JSON of the agreed shape."""


@dataclass(frozen=True, slots=True)
class RemoteObject:
    """One listed object. ``rel`` is the key relative to the source prefix; ``etag`` without quotes."""

    rel: str
    size: int
    etag: str
    has_sha256: bool = False  # the listing says the object carries a SHA-256 checksum


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """What the published version holds for one path."""

    etag: str
    size: int
    sha256: str  # hex

    def to_json(self) -> list[Any]:
        return [self.etag, self.size, self.sha256]

    @classmethod
    def from_json(cls, value: Sequence[Any]) -> IndexEntry:
        return cls(str(value[0]), int(value[1]), str(value[2]))


@dataclass(frozen=True, slots=True)
class ManifestFile:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class BundleRef:
    """The manifest's ``bundle``: every listed file in one ``.tar.gz`` under ``_dagsync/``."""

    key: str  # relative to the prefix
    size: int


@dataclass(frozen=True)
class Manifest:
    commit: str | None
    files: Mapping[str, ManifestFile]
    bundle: BundleRef | None = None


@dataclass(frozen=True, slots=True)
class BundlePlan:
    """Fetch this bundle first; ``max_unpacked`` bounds what reading it may inflate to."""

    key: str
    size: int
    max_unpacked: int


@dataclass(frozen=True, slots=True)
class Keep:
    """Unchanged: hard-link from the current version."""

    rel: str
    entry: IndexEntry


@dataclass(frozen=True, slots=True)
class Download:
    rel: str
    size: int
    etag: str
    expect_sha256: str | None  # hex, from the manifest
    etag_may_be_md5: bool  # single-part looking ETag; KMS/SSE-C is only known from the GET response
    has_sha256: bool = False  # ask GetObject for the SHA-256 checksum


@dataclass(frozen=True)
class Plan:
    version: str
    mode: str  # "mirror" | "manifest"
    commit: str | None
    keep: tuple[Keep, ...]
    download: tuple[Download, ...]
    delete: tuple[str, ...]
    unsafe: tuple[tuple[str, str], ...]
    problems: tuple[str, ...] = field(default=())  # non-empty: must not be published
    bundle: BundlePlan | None = None  # fetch the manifest's bundle before per-object GETs

    @property
    def publishable(self) -> bool:
        return not self.problems

    @property
    def target(self) -> frozenset[str]:
        return frozenset(k.rel for k in self.keep) | frozenset(d.rel for d in self.download)


def strip_etag(etag: str) -> str:
    return etag.strip().strip('"')


def etag_may_be_md5(etag: str) -> bool:
    """Multipart ETags look like ``<hex>-<parts>``; only a plain 32-hex ETag can be an MD5."""
    return bool(_MD5_ETAG.fullmatch(etag))


def listing_id(listing: Iterable[RemoteObject]) -> str:
    """Identity of a LIST result (keys, ETags, sizes): equal ids mean nothing changed remotely."""
    h = hashlib.sha256()
    for obj in sorted(listing, key=lambda o: o.rel):
        h.update(f"{obj.rel}\0{obj.etag}\0{obj.size}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def version_id(mode: str, tokens: Iterable[tuple[str, str, int]]) -> str:
    """Deterministic id of the published tree: (rel, content token, size) sorted."""
    h = hashlib.sha256(f"dagsync-v1\0{mode}\n".encode())
    for rel, token, size in sorted(tokens):
        h.update(f"{rel}\0{token}\0{size}\n".encode())
    return h.hexdigest()[:20]


def version_of(mode: str, files: Mapping[str, IndexEntry]) -> str:
    """The version id of a built tree; equals ``plan(...).version`` when every object was as listed."""
    if mode == "manifest":
        return version_id(mode, ((rel, "sha256:" + e.sha256, e.size) for rel, e in files.items()))
    return version_id(mode, ((rel, "etag:" + e.etag, e.size) for rel, e in files.items()))


def parse_manifest(data: bytes) -> Manifest:
    """``{"version": 1, "commit": "<sha>", "files": {"<relpath>": {"sha256": "<hex>", "size": N}},
    "bundle": {"key": "_dagsync/<name>.tar.gz", "size": N}}`` (``bundle`` optional)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"manifest must be an object with version {MANIFEST_VERSION}")
    commit = doc.get("commit")
    if commit is not None and not isinstance(commit, str):
        raise ManifestError("manifest commit must be a string or null")
    files = doc.get("files")
    if not isinstance(files, dict):
        raise ManifestError("manifest files must be an object")
    out: dict[str, ManifestFile] = {}
    for rel, spec in files.items():
        if not isinstance(spec, dict):
            raise ManifestError(f"manifest entry {rel!r} must be an object")
        sha, size = spec.get("sha256"), spec.get("size")
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            raise ManifestError(f"manifest entry {rel!r} needs a lowercase hex sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError(f"manifest entry {rel!r} needs a non-negative integer size")
        out[rel] = ManifestFile(sha, size)
    return Manifest(commit, out, _parse_bundle(doc.get("bundle")))


def _parse_bundle(spec: Any) -> BundleRef | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ManifestError("manifest bundle must be an object or null")
    key, size = spec.get("key"), spec.get("size")
    if not isinstance(key, str) or not key.startswith(BUNDLE_DIR) or key_problem(key) is not None:
        raise ManifestError(f"manifest bundle key must be a safe path under {BUNDLE_DIR}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError("manifest bundle needs a non-negative integer size")
    return BundleRef(key, size)


def manifest_listing(manifest: Manifest) -> list[RemoteObject]:
    """A listing made of the manifest's own entries (manifest-first cycle, no LIST): sizes from the manifest,
    ETags unknown (the GET's is recorded); a missing object shows up as a 404 on its GET."""
    return [RemoteObject(rel, f.size, "") for rel, f in manifest.files.items() if not reserved(rel)]


def outside_manifest(
    listing: Iterable[RemoteObject],
    named: Collection[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> tuple[str, ...]:
    """Selected listed objects the manifest does not name: not synced in manifest mode, reported instead."""
    return tuple(
        sorted(
            o.rel
            for o in listing
            if not reserved(o.rel)
            and not is_dir_marker(o.rel, o.size)
            and o.rel not in named
            and selected(o.rel, include, exclude)
        )
    )


def render_manifest(
    commit: str | None, files: Mapping[str, ManifestFile], bundle: BundleRef | None = None
) -> bytes:
    doc: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "commit": commit,
        "files": {rel: {"sha256": f.sha256, "size": f.size} for rel, f in sorted(files.items())},
    }
    if bundle is not None:
        doc["bundle"] = {"key": bundle.key, "size": bundle.size}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def bundle_plan(manifest: Manifest, downloads: int, target: int) -> BundlePlan | None:
    """Fetch the manifest's bundle when enough of the new tree is missing (a cold sync: all of it)."""
    ref = manifest.bundle
    if ref is None or downloads < BUNDLE_MIN_FILES or downloads * BUNDLE_MIN_SHARE < target:
        return None
    unpacked = sum(f.size for f in manifest.files.values())
    return BundlePlan(ref.key, ref.size, unpacked + (len(manifest.files) + 2) * BUNDLE_MEMBER_OVERHEAD)


def plan(
    listing: Sequence[RemoteObject],
    current: Mapping[str, IndexEntry],
    manifest: Manifest | None = None,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    path_budget: int = PATH_MAX - 1,
    use_bundle: bool = True,
) -> Plan:
    """Decide what the next version holds and how to build it from the current one.

    Mirror mode (no manifest): every safe listed object. Manifest mode: exactly the manifest's safe files,
    each of which must be listed with the manifest's size (else ``problems``: not publishable); the manifest's
    bundle is fetched first when ``bundle_plan`` says so. dagsync's own objects (``reserved``) are never files.
    """
    remote = {o.rel: o for o in listing if not reserved(o.rel) and not is_dir_marker(o.rel, o.size)}
    keep: list[Keep] = []
    download: list[Download] = []
    problems: list[str] = []
    if manifest is None:
        verdict = filter_keys(remote, path_budget=path_budget, include=include, exclude=exclude)
        tokens = []
        for rel in sorted(verdict.safe):
            obj = remote[rel]
            cur = current.get(rel)
            if cur is not None and cur.etag == obj.etag and cur.size == obj.size:
                keep.append(Keep(rel, cur))
            else:
                download.append(
                    Download(rel, obj.size, obj.etag, None, etag_may_be_md5(obj.etag), obj.has_sha256)
                )
            tokens.append((rel, "etag:" + obj.etag, obj.size))
        mode, commit = "mirror", None
    else:
        names = [rel for rel in manifest.files if not reserved(rel)]
        verdict = filter_keys(names, path_budget=path_budget, include=include, exclude=exclude)
        tokens = []
        for rel in sorted(verdict.safe):
            mf = manifest.files[rel]
            cur = current.get(rel)
            found = remote.get(rel)
            if cur is not None and cur.sha256 == mf.sha256 and cur.size == mf.size:
                # The etag recorded is the one we downloaded; keep it when the remote still matches.
                keep.append(Keep(rel, cur))
            elif found is None:
                problems.append(f"manifest lists {rel!r} but it is not in the bucket")
            elif found.size != mf.size:
                problems.append(f"{rel!r} is {found.size} bytes in the bucket, the manifest says {mf.size}")
            else:
                download.append(
                    Download(
                        rel, found.size, found.etag, mf.sha256, etag_may_be_md5(found.etag), found.has_sha256
                    )
                )
            tokens.append((rel, "sha256:" + mf.sha256, mf.size))
        mode, commit = "manifest", manifest.commit
    target = verdict.safe
    delete = tuple(sorted(rel for rel in current if rel not in target))
    bundle = None
    if manifest is not None and use_bundle and not problems:
        bundle = bundle_plan(manifest, len(download), len(target))
    return Plan(
        version=version_id(mode, tokens),
        mode=mode,
        commit=commit,
        keep=tuple(keep),
        download=tuple(download),
        delete=delete,
        unsafe=verdict.unsafe,
        problems=tuple(problems),
        bundle=bundle,
    )
