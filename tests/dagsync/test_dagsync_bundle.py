"""Bundles (docs/adr/0001-dag-sync.md §11): the pure reader against hostile archives, the planner's choice, and
publish + sync on the moto server, bundle intact, damaged or gone."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from dagsync.bundle import BundleError, Wanted, bundle_key, unpack, write_bundle
from dagsync.planner import (
    BUNDLE_MIN_FILES,
    BundleRef,
    IndexEntry,
    Manifest,
    ManifestError,
    ManifestFile,
    RemoteObject,
    bundle_plan,
    outside_manifest,
    parse_manifest,
    plan,
    render_manifest,
)
from tests.support.dagsync import SyncLoop, publish_once, put, settings_for, sync_once, tree

N = BUNDLE_MIN_FILES + 8


def _mf(data: bytes) -> ManifestFile:
    return ManifestFile(hashlib.sha256(data).hexdigest(), len(data))


def _files(n: int = 3) -> dict[str, bytes]:
    return {f"d{i % 2}/f{i:03d}.py": f"# file {i}\n".encode() * (i + 1) for i in range(n)}


def _archive(tmp_path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], gz: bool = True) -> Path:
    """A hand-made .tar.gz: (name, data) pairs are regular files, TarInfo objects go in as they are."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(gzip.compress(buf.getvalue()) if gz else buf.getvalue())
    return path


def _unpack(tmp_path: Path, archive: Path, wanted: dict[str, bytes], max_unpacked: int = 1 << 20):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)

    def path_of(rel: str) -> Path:
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    got = unpack(
        archive,
        {rel: Wanted(len(b), hashlib.sha256(b).hexdigest()) for rel, b in wanted.items()},
        path_of,
        max_unpacked=max_unpacked,
    )
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    return got, written


# ---- write + unpack -----------------------------------------------------------------------------------------
def test_a_bundle_round_trips_and_is_deterministic(tmp_path) -> None:
    files = _files(5)
    root = tmp_path / "repo"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    manifest = {rel: _mf(b) for rel, b in files.items()}
    one, two = io.BytesIO(), io.BytesIO()
    write_bundle(root, manifest, one)
    os.utime(root / "d0/f000.py", (1, 1))  # mtimes do not matter
    write_bundle(root, manifest, two)
    assert one.getvalue() == two.getvalue()
    with tarfile.open(fileobj=io.BytesIO(one.getvalue()), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(files)
    assert {(m.mode, m.mtime, m.uid, m.gid, m.uname, m.type) for m in members} == {
        (0o644, 0, 0, 0, "", tarfile.REGTYPE)
    }
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(one.getvalue())
    got, written = _unpack(tmp_path, archive, files)
    assert got.stopped is None and written == files and got.files == manifest
    assert got.bytes == sum(len(b) for b in files.values())


def test_bundle_key_names_the_content(tmp_path) -> None:
    a = {"a.py": _mf(b"A"), "b.py": _mf(b"B")}
    assert bundle_key(a) == bundle_key(dict(reversed(a.items())))
    assert bundle_key(a).startswith("_dagsync/bundle-") and bundle_key(a).endswith(".tar.gz")
    assert bundle_key(a) != bundle_key({**a, "b.py": _mf(b"C")})
    assert bundle_key(a) != bundle_key({"a.py": a["a.py"]})


def test_write_bundle_refuses_a_file_edited_after_it_was_hashed(tmp_path) -> None:
    (tmp_path / "a.py").write_bytes(b"new")
    with pytest.raises(BundleError, match=r"'a\.py' changed while publishing: publish again"):
        write_bundle(tmp_path, {"a.py": _mf(b"old")}, io.BytesIO())


def test_unpack_reads_past_members_it_does_not_want(tmp_path) -> None:
    files = _files(4)
    archive = _archive(tmp_path, [("../escape.py", b"evil"), ("/abs.py", b"evil"), *files.items()])
    wanted = {k: files[k] for k in list(files)[1:]}  # the first is kept locally, say
    got, written = _unpack(tmp_path, archive, wanted)
    assert got.stopped is None and written == wanted
    assert not (tmp_path / "escape.py").exists() and not Path("/abs.py").exists()


def _info(name: str, kind: bytes, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for k, v in kw.items():
        setattr(info, k, v)
    return info


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_info("b.py", tarfile.SYMTYPE, linkname="/etc/passwd"), "member 'b.py' is not a regular file"),
        (_info("b.py", tarfile.LNKTYPE, linkname="a.py"), "member 'b.py' is not a regular file"),
        (_info("b.py", tarfile.DIRTYPE), "member 'b.py' is not a regular file"),
        (_info("b.py", tarfile.CHRTYPE, devmajor=1, devminor=3), "member 'b.py' is not a regular file"),
        (_info("b.py", tarfile.FIFOTYPE), "member 'b.py' is not a regular file"),
        (("b.py", b"BB"), "member 'b.py' is 2 bytes, the manifest says 1"),
        (("b.py", b"X"), "member 'b.py': SHA-256 differs from the manifest"),
    ],
    ids=["symlink", "hardlink", "dir", "device", "fifo", "size", "sha256"],
)
def test_unpack_stops_at_a_wanted_member_that_is_not_the_manifests(tmp_path, bad, reason) -> None:
    archive = _archive(tmp_path, [("a.py", b"A"), bad, ("c.py", b"C")])
    got, written = _unpack(tmp_path, archive, {"a.py": b"A", "b.py": b"B", "c.py": b"C"})
    assert got.stopped == reason
    assert written == {"a.py": b"A"} and set(got.files) == {
        "a.py"
    }  # what came before stays; the rest is left


def test_a_repeated_member_never_replaces_the_verified_one(tmp_path) -> None:
    archive = _archive(tmp_path, [("a.py", b"A"), ("a.py", b"Z"), ("b.py", b"B")])
    got, written = _unpack(tmp_path, archive, {"a.py": b"A", "b.py": b"B"})
    assert got.stopped is None and written == {"a.py": b"A", "b.py": b"B"}


def test_unpack_is_bounded_by_what_the_manifest_allows(tmp_path) -> None:
    bomb = ("filler.bin", b"\0" * (4 << 20))  # 4 MiB of zeros is a 4 KiB .gz
    archive = _archive(tmp_path, [bomb, ("a.py", b"A")])
    assert archive.stat().st_size < 10_000
    got, written = _unpack(tmp_path, archive, {"a.py": b"A"}, max_unpacked=1 << 20)
    assert got.stopped == "bundle unpacks to more than the manifest's files and headers"
    assert written == {}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "bundle is not a readable .tar.gz"),
        (b"PK\x03\x04 a zip, say", "bundle is not a readable .tar.gz"),
        (None, "bundle is not a readable .tar.gz"),  # truncated half way
        (b"plain", "bundle is not a readable .tar.gz"),  # a tar without gzip
    ],
    ids=["empty", "not-gzip", "truncated", "uncompressed"],
)
def test_unpack_reports_an_unreadable_archive(tmp_path, content, reason) -> None:
    files = {f"f{i}.py": os.urandom(3000) for i in range(4)}
    if content is None:
        whole = _archive(tmp_path, list(files.items())).read_bytes()
        content = whole[: len(whole) // 2]
    elif content == b"plain":
        content = _archive(tmp_path, list(files.items()), gz=False).read_bytes()
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(content)
    got, written = _unpack(tmp_path, archive, files)
    assert got.stopped is not None and got.stopped.startswith(reason), got.stopped
    assert set(got.files) == set(written)  # only verified files count
    assert all(written[rel] == files[rel] for rel in written)


def test_an_archive_missing_files_says_how_many(tmp_path) -> None:
    archive = _archive(tmp_path, [("a.py", b"A")])
    got, written = _unpack(tmp_path, archive, {"a.py": b"A", "b.py": b"B", "c.py": b"C"})
    assert got.stopped == "bundle lacks 2 of the files it should hold" and written == {"a.py": b"A"}


# ---- the planner ----------------------------------------------------------------------------------------------
def test_the_manifest_names_its_bundle_and_old_manifests_have_none() -> None:
    files = {"a.py": _mf(b"A")}
    ref = BundleRef("_dagsync/bundle-x.tar.gz", 123)
    assert parse_manifest(render_manifest("c", files, ref)) == Manifest("c", files, ref)
    assert parse_manifest(render_manifest("c", files)).bundle is None
    assert "bundle" not in json.loads(render_manifest("c", files))


@pytest.mark.parametrize(
    "spec",
    [
        "x",
        {"key": "bundle.tar.gz", "size": 1},
        {"key": "_dagsync/../a.py", "size": 1},
        {"key": "_dagsync/x\x01.tar.gz", "size": 1},
        {"key": "_dagsync/x.tar.gz", "size": -1},
        {"key": "_dagsync/x.tar.gz", "size": True},
        {"key": "_dagsync/x.tar.gz"},
    ],
)
def test_a_bad_bundle_entry_makes_the_manifest_unreadable(spec) -> None:
    doc = {"version": 1, "commit": None, "files": {}, "bundle": spec}
    with pytest.raises(ManifestError, match="bundle"):
        parse_manifest(json.dumps(doc).encode())


def _manifest(n: int) -> Manifest:
    return Manifest(
        "c", {f"f{i}.py": _mf(str(i).encode()) for i in range(n)}, BundleRef("_dagsync/b.tar.gz", 99)
    )


def test_bundle_plan_wants_many_missing_files_and_a_share_of_the_tree() -> None:
    m = _manifest(1000)
    assert bundle_plan(m, BUNDLE_MIN_FILES - 1, BUNDLE_MIN_FILES - 1) is None  # few files: per object
    assert bundle_plan(m, 124, 1000) is None  # under 1/8 of the tree
    bp = bundle_plan(m, 125, 1000)
    assert bp is not None and (bp.key, bp.size) == ("_dagsync/b.tar.gz", 99)
    assert bp.max_unpacked >= sum(f.size for f in m.files.values()) + 1000 * 1024
    assert bundle_plan(Manifest("c", m.files), 1000, 1000) is None  # no bundle named


def test_plan_uses_the_bundle_for_a_cold_start_only_and_when_allowed() -> None:
    m = _manifest(N)
    listing = [RemoteObject(rel, f.size, "e") for rel, f in m.files.items()]
    assert plan(listing, {}, m).bundle is not None
    assert plan(listing, {}, m, use_bundle=False).bundle is None
    current = {rel: IndexEntry("e", f.size, f.sha256) for rel, f in m.files.items()}
    assert plan(listing, current, m).bundle is None  # nothing to fetch
    assert plan(listing[:-1], {}, m).bundle is None  # not publishable: a listed file is missing


def test_dagsync_objects_are_never_dag_files() -> None:
    listing = [
        RemoteObject("a.py", 1, "e"),
        RemoteObject("_dagsync/bundle-x.tar.gz", 9, "e"),
        RemoteObject("_manifest.json", 9, "e"),
    ]
    assert plan(listing, {}).target == {"a.py"}  # mirror mode
    assert outside_manifest(listing, {"a.py"}) == ()


# ---- publish + sync on the moto server ------------------------------------------------------------------------
def _repo(tmp_path: Path, n: int = N) -> tuple[Path, dict[str, bytes]]:
    local = tmp_path / "repo"
    files = {f"p{i % 4}/dag_{i:03d}.py": f"# dag {i}\n".encode() * 20 for i in range(n)}
    for rel, data in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
    return local, files


def _manifest_doc(s3, bucket: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key="dags/_manifest.json")["Body"].read())


def test_a_cold_sync_is_the_manifest_and_one_bundle(s3, bucket, proxy, tmp_path, transport) -> None:
    local, files = _repo(tmp_path)
    assert publish_once(local, bucket).bundle_written
    dest = tmp_path / "dags"
    proxy.reset_counts()
    res = sync_once(settings_for(bucket, dest, transport=transport))
    assert res.ok and res.outcome == "published" and tree(dest) == files
    assert (res.downloaded, res.bundled, res.unverified, res.bundle_stopped) == (N, N, 0, None)
    assert proxy.snapshot() == {"ListObjectsV2": 1, "GetObject": 2}
    assert not res.outside_manifest  # the bundle is dagsync's own, not a stray object


@pytest.mark.parametrize(
    "damage", ["garbage", "gone", "tampered"], ids=["garbage", "deleted", "one-member-tampered"]
)
def test_a_damaged_bundle_only_means_per_object_gets(s3, bucket, proxy, tmp_path, transport, damage) -> None:
    local, files = _repo(tmp_path)
    publish_once(local, bucket)
    key = "dags/" + _manifest_doc(s3, bucket)["bundle"]["key"]
    size = _manifest_doc(s3, bucket)["bundle"]["size"]
    if damage == "garbage":
        put(s3, bucket, key, os.urandom(size))  # the manifest's size, no S3 checksum
    elif damage == "gone":
        s3.delete_object(Bucket=bucket, Key=key)
    else:  # the 6th member differs from the manifest, same size
        evil = dict(files)
        sixth = sorted(files)[5]
        evil[sixth] = evil[sixth].upper()
        put(s3, bucket, key, _archive(tmp_path, sorted(evil.items())).read_bytes())
        # the manifest must name the size of the bundle as it now is, or the sidecar stops on the size
        doc = _manifest_doc(s3, bucket)
        doc["bundle"]["size"] = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        put(s3, bucket, "dags/_manifest.json", json.dumps(doc).encode())
    dest = tmp_path / "dags"
    proxy.reset_counts()
    res = sync_once(settings_for(bucket, dest, transport=transport))
    assert res.ok and res.outcome == "published" and tree(dest) == files, res.error
    assert res.downloaded == N and res.unverified == 0
    expect = {
        "garbage": (0, "bundle is not a readable .tar.gz"),
        "gone": (0, "it is not in the bucket (404)"),
        "tampered": (5, f"member {sorted(files)[5]!r}: SHA-256 differs from the manifest"),
    }[damage]
    assert res.bundled == expect[0]
    assert res.bundle_stopped is not None and expect[1] in res.bundle_stopped
    assert res.bundle_stopped.startswith(f"s3://{bucket}/{key}: ")
    assert proxy.snapshot() == {"ListObjectsV2": 1, "GetObject": 2 + N - expect[0]}


def test_a_bundle_whose_s3_checksum_disagrees_is_not_read(s3, bucket, proxy, tmp_path, transport) -> None:
    local, files = _repo(tmp_path)
    publish_once(local, bucket)
    key = "dags/" + _manifest_doc(s3, bucket)["bundle"]["key"]
    proxy.add("GetObject", "flip", times=1, key_contains="_dagsync/")
    dest = tmp_path / "dags"
    res = sync_once(settings_for(bucket, dest, transport=transport))
    assert res.ok and tree(dest) == files and res.bundled == 0
    why = {  # botocore checks the checksum itself while reading; the presigned shell compares it after
        "botocore": "GET failed: verify S3 checksum mismatch",
        "presigned": "its SHA-256 differs from the S3 checksum",
    }[transport]
    assert res.bundle_stopped is not None and res.bundle_stopped.startswith(f"s3://{bucket}/{key}: {why}")


def test_publish_without_a_bundle_removes_the_old_one(s3, bucket, tmp_path) -> None:
    local, files = _repo(tmp_path)
    first = publish_once(local, bucket)
    assert first.bundle_written and first.bundle is not None
    again = publish_once(local, bucket)
    assert not again.bundle_written and not again.manifest_written and again.bundle == first.bundle
    off = publish_once(local, bucket, bundle=False)
    assert off.manifest_written and off.bundle is None and off.deleted == [first.bundle]
    assert "bundle" not in _manifest_doc(s3, bucket)
    dest = tmp_path / "dags"
    res = sync_once(settings_for(bucket, dest))
    assert res.ok and tree(dest) == files and res.bundled == 0 and res.bundle_stopped is None


def test_a_later_publish_fetches_only_what_changed(s3, bucket, proxy, tmp_path) -> None:
    local, files = _repo(tmp_path)
    publish_once(local, bucket)
    dest = tmp_path / "dags"
    with SyncLoop(settings_for(bucket, dest)) as loop:
        assert loop.cycle().bundled == N
        (local / "p0/dag_000.py").write_bytes(b"# changed\n")
        publish_once(local, bucket, commit="c2")
        proxy.reset_counts()
        res = loop.cycle()
        assert res.ok and res.commit == "c2" and (res.downloaded, res.bundled) == (1, 0)
        assert tree(dest) == {**files, "p0/dag_000.py": b"# changed\n"}
        assert proxy.snapshot() == {"GetObject": 2}  # the manifest and the one file


def test_a_bundle_left_by_a_killed_sidecar_is_collected(tmp_path) -> None:
    from dagsync.state import Paths, collect_garbage

    paths = Paths.for_dest(tmp_path / "dags")
    paths.ensure()
    leftover = paths.versions / ".bundle-123-abcdef"  # as _from_bundle names it; kill -9 mid-download
    leftover.write_bytes(b"partial")
    (paths.versions / ".build-v-1-abc").mkdir()
    collect_garbage(paths, None, grace=600)
    assert list(paths.versions.iterdir()) == []


def test_publish_never_uploads_a_local_dagsync_directory(s3, bucket, tmp_path) -> None:
    local, files = _repo(tmp_path, 2)
    (local / "_dagsync").mkdir()
    (local / "_dagsync" / "bundle-fake.tar.gz").write_bytes(b"not ours to upload")
    res = publish_once(local, bucket)
    assert sorted(_manifest_doc(s3, bucket)["files"]) == sorted(files)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == sorted(
        ["dags/_manifest.json", f"dags/{res.bundle}", *(f"dags/{r}" for r in files)]
    )


def test_unpack_does_not_keep_what_it_has_read(tmp_path) -> None:
    """tarfile keeps every member it read, even streaming; 5000 members held ~3 MB at the peak (ADR 0001 §10)."""
    import tracemalloc

    files = {f"d{i % 10}/file_{i:05d}.py": b"x" for i in range(5000)}
    archive = _archive(tmp_path, list(files.items()))
    wanted = {rel: Wanted(1, hashlib.sha256(b"x").hexdigest()) for rel in files}
    out = tmp_path / "out"
    for d in range(10):
        (out / f"d{d}").mkdir(parents=True)
    tracemalloc.start()
    try:
        got = unpack(archive, wanted, lambda rel: out / rel, max_unpacked=1 << 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.stopped is None and len(got.files) == 5000
    assert peak < 2 << 20, f"peak {peak / 2**20:.2f} MB"
