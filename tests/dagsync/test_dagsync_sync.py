"""One sync cycle against the moto server over HTTP (through the fault proxy) and the real filesystem."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from dagsync.config import Settings
from dagsync.publish import Publisher, xml_safe
from dagsync.state import Paths
from dagsync.sync import s3_client
from tests.support.dagsync import HOSTILE_KEYS, publish_once, put, settings_for, sync_once, tree
from tests.support.sigv4 import presigned_problem


def _fill(s3, bucket: str, n: int, prefix: str = "dags/") -> dict[str, bytes]:
    want = {}
    for i in range(n):
        rel = f"p{i % 20:02d}/dag_{i:05d}.py"
        body = f"# dag {i}\n".encode().ljust(64, b"#")
        put(s3, bucket, prefix + rel, body)
        want[rel] = body
    return want


def _outside(dest: Path) -> set[str]:
    """Everything next to DEST: only DEST itself and its state dir may exist."""
    return set(os.listdir(dest.parent))


def test_cold_sync_then_no_change_is_list_only(s3, bucket, proxy, tmp_path, transport) -> None:
    want = _fill(s3, bucket, 1001)  # two LIST pages
    dest = tmp_path / "dags"
    st = settings_for(bucket, dest, transport=transport)
    proxy.reset_counts()
    res = sync_once(st)
    assert res.ok and res.outcome == "published", res.error
    assert tree(dest) == want
    assert dest.is_symlink() and not os.path.isabs(os.readlink(dest))
    assert proxy.snapshot() == {"ListObjectsV2": 2, "GetObject": 1001}  # each object fetched once, no HEAD

    proxy.reset_counts()
    res = sync_once(st)
    assert res.ok and res.outcome == "unchanged"
    assert proxy.snapshot() == {"ListObjectsV2": 2}  # ceil(N/1000) LISTs, no GET or HEAD

    # a same-size edit is a change, fetched once; everything else is hard-linked
    rel = "p03/dag_00003.py"
    edited = want[rel].replace(b"dag 3", b"DAG 3")
    assert len(edited) == len(want[rel])
    put(s3, bucket, "dags/" + rel, edited)
    want[rel] = edited
    old_target = os.readlink(dest)
    proxy.reset_counts()
    res = sync_once(st)
    assert res.ok and res.outcome == "published"
    assert (res.downloaded, res.linked) == (1, 1000)
    assert proxy.snapshot() == {"ListObjectsV2": 2, "GetObject": 1}
    assert tree(dest) == want
    old = dest.parent / old_target
    assert old.is_dir()  # the previous version stays for the grace period
    assert os.stat(old / "p00/dag_00000.py").st_ino == os.stat(dest / "p00/dag_00000.py").st_ino
    assert _outside(dest) == {"dags", ".dagsync-dags"}


def test_deletions_propagate_and_old_versions_are_collected(s3, bucket, tmp_path) -> None:
    for rel in ("a.py", "b.py", "sub/c.py"):
        put(s3, bucket, "dags/" + rel, rel.encode())
    dest = tmp_path / "dags"
    st = settings_for(bucket, dest, grace_period=3600)
    assert sync_once(st).ok
    first = os.readlink(dest)
    s3.delete_object(Bucket=bucket, Key="dags/b.py")
    s3.delete_object(Bucket=bucket, Key="dags/sub/c.py")
    res = sync_once(st)
    assert res.ok and res.deleted == 2
    assert tree(dest) == {"a.py": b"a.py"}
    assert (dest.parent / first).is_dir()  # inside the grace period
    # past the grace period the old tree is collected, even on a quiet cycle
    res = sync_once(settings_for(bucket, dest, grace_period=0))
    assert res.ok and res.outcome == "unchanged"
    assert not (dest.parent / first).exists()
    assert sorted(os.listdir(Paths.for_dest(dest).versions)) == [Path(os.readlink(dest)).name]


def test_hostile_keys_are_skipped_and_counted(s3, bucket, proxy, tmp_path, transport) -> None:
    hostile = HOSTILE_KEYS
    for key in hostile:
        put(s3, bucket, key, b"evil")
    put(s3, bucket, "dags/both/inner.py", b"inner")
    put(s3, bucket, "dags/ok.py", b"ok")
    put(s3, bucket, "dags/folder/", b"")  # console "folder" marker: ignored, not hostile
    dest = tmp_path / "sub" / "dags"
    dest.parent.mkdir()
    res = sync_once(settings_for(bucket, dest, transport=transport))
    assert res.ok, res.error
    assert tree(dest) == {"ok.py": b"ok", "both/inner.py": b"inner"}
    assert dict(res.unsafe) == {k.removeprefix("dags/"): why for k, why in hostile.items()}
    assert _outside(dest) == {"dags", ".dagsync-dags"}
    assert sorted(os.listdir(tmp_path)) == ["sub"]  # nothing escaped upwards
    assert "escape.py" not in {p.name for p in tmp_path.rglob("*")}


@pytest.mark.parametrize("kind", ["500", "503", "reset", "stall"])
def test_transient_faults_are_retried_per_request(s3, bucket, proxy, tmp_path, kind, transport) -> None:
    want = {f"f{i}.py": f"{i}".encode() for i in range(5)}
    for rel, body in want.items():
        put(s3, bucket, "dags/" + rel, body)
    dest = tmp_path / "dags"
    proxy.add("ListObjectsV2", kind, times=1, stall_s=3)
    proxy.add("GetObject", kind, times=2, stall_s=3)
    res = sync_once(settings_for(bucket, dest, read_timeout=1, max_attempts=4, transport=transport))
    assert res.ok, res.error
    assert tree(dest) == want
    counts = proxy.snapshot()
    assert counts["ListObjectsV2"] == 2 and counts["GetObject"] == 7  # the failed requests were retried


@pytest.mark.parametrize(
    ("op", "kind"), [("GetObject", "500"), ("GetObject", "503"), ("ListObjectsV2", "reset")]
)
def test_persistent_faults_fail_the_cycle_and_keep_the_last_good(
    s3, bucket, proxy, tmp_path, op, kind, transport
) -> None:
    put(s3, bucket, "dags/a.py", b"v1")
    dest = tmp_path / "dags"
    st = settings_for(bucket, dest, max_attempts=2, transport=transport)
    assert sync_once(st).ok
    good = os.readlink(dest)
    put(s3, bucket, "dags/a.py", b"v2")
    put(s3, bucket, "dags/b.py", b"new")
    proxy.add(op, kind, times=None)
    res = sync_once(st)
    assert not res.ok
    assert res.error_kind in ("s3", "throttled", "network"), res.error
    assert os.readlink(dest) == good and tree(dest) == {"a.py": b"v1"}
    assert not [n for n in os.listdir(Paths.for_dest(dest).versions) if n.startswith(".")]  # build removed
    proxy.clear()
    res = sync_once(st)
    assert res.ok and tree(dest) == {"a.py": b"v2", "b.py": b"new"}


def test_retries_follow_botocores_standard_policy(s3, bucket, proxy, tmp_path, transport) -> None:
    """SlowDown then success is retried; 403 is not; a persistent 500 gets exactly max_attempts attempts."""
    put(s3, bucket, "dags/a.py", b"A")
    dest = tmp_path / "dags"

    def gets(key: str) -> int:
        return len(proxy.requests_for("GetObject", key))

    proxy.add("GetObject", "503", times=1, key_contains="a.py")
    proxy.reset_counts()
    res = sync_once(settings_for(bucket, dest, max_attempts=3, transport=transport))
    assert res.ok and tree(dest) == {"a.py": b"A"}, res.error
    assert gets("a.py") == 2 and proxy.faults_injected == {"GetObject:503": 1}

    put(s3, bucket, "dags/b.py", b"B")
    proxy.add("GetObject", "403", times=None, key_contains="b.py")
    proxy.reset_counts()
    res = sync_once(settings_for(bucket, dest, max_attempts=3, transport=transport))
    assert not res.ok and res.error_kind == "access", res.error
    assert gets("b.py") == 1  # not retryable: one attempt
    proxy.clear()

    for attempts in (3, 1):
        proxy.add("GetObject", "500", times=None, key_contains="b.py")
        proxy.reset_counts()
        res = sync_once(settings_for(bucket, dest, max_attempts=attempts, transport=transport))
        assert not res.ok and res.error_kind == "s3", res.error
        assert gets("b.py") == attempts  # max_attempts counts every attempt, the first included
        proxy.clear()
    proxy.add("GetObject", "503", times=None, key_contains="b.py")
    res = sync_once(settings_for(bucket, dest, max_attempts=2, transport=transport))
    assert not res.ok and res.error_kind == "throttled", res.error
    proxy.clear()
    assert tree(dest) == {"a.py": b"A"}  # the last good version stayed through every failure
    res = sync_once(settings_for(bucket, dest, transport=transport))
    assert res.ok and tree(dest) == {"a.py": b"A", "b.py": b"B"}


def test_presigned_requests_carry_exactly_what_was_signed(s3, bucket, proxy, tmp_path) -> None:
    """ChecksumMode is signed as a header (not hoisted into the query): the GET must send it, and every
    presigned request must verify under an independent SigV4 check (moto itself does not check signatures)."""
    put(s3, bucket, "dags/sha.py", b"S", ChecksumAlgorithm="SHA256")
    put(s3, bucket, "dags/plain.py", b"P")
    proxy.reset_counts()
    res = sync_once(settings_for(bucket, tmp_path / "dags", transport="presigned"))
    assert res.ok and res.unverified == 0, res.error
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    ((sha_path, sha_headers),) = proxy.requests_for("GetObject", "sha.py")
    ((plain_path, plain_headers),) = proxy.requests_for("GetObject", "plain.py")
    sha_q, plain_q = parse_qs(urlsplit(sha_path).query), parse_qs(urlsplit(plain_path).query)
    assert sha_q["X-Amz-SignedHeaders"] == ["host;x-amz-checksum-mode"]
    assert sha_headers["x-amz-checksum-mode"] == "ENABLED"
    assert plain_q["X-Amz-SignedHeaders"] == ["host"] and "x-amz-checksum-mode" not in plain_headers
    lists = proxy.requests_for("ListObjectsV2", "")
    assert lists
    for path, headers in [*lists, (sha_path, sha_headers), (plain_path, plain_headers)]:
        assert presigned_problem("GET", path, headers, secret) is None, path
    # the check can fail: a missing signed header, another value, a tampered query, another key
    no_header = {k: v for k, v in sha_headers.items() if k != "x-amz-checksum-mode"}
    assert presigned_problem("GET", sha_path, no_header, secret)
    assert presigned_problem("GET", sha_path, {**sha_headers, "x-amz-checksum-mode": "DISABLED"}, secret)
    assert presigned_problem("GET", sha_path.replace("sha.py", "shb.py"), sha_headers, secret)
    assert presigned_problem("GET", sha_path, sha_headers, secret + "x")


def _publish(local: Path, bucket: str, prefix: str = "dags/", commit: str = "c1") -> None:
    st = Settings(source=str(local), dest=f"s3://{bucket}/{prefix}", commit=commit, max_attempts=3)

    async def go() -> None:
        async with s3_client(st) as c:
            await Publisher(st, c).publish()

    asyncio.run(go())


def test_manifest_mode_publishes_exactly_the_manifest(s3, bucket, proxy, tmp_path) -> None:
    local = tmp_path / "repo"
    (local / "sub").mkdir(parents=True)
    (local / "a.py").write_bytes(b"A")
    (local / "sub" / "b.py").write_bytes(b"B")
    _publish(local, bucket)
    dest = tmp_path / "out" / "dags"
    dest.parent.mkdir()
    st = settings_for(bucket, dest)
    res = sync_once(st)
    assert res.ok and res.commit == "c1"
    assert tree(dest) == {"a.py": b"A", "sub/b.py": b"B"}

    # files uploaded for the next commit (manifest not yet written) are not published
    put(s3, bucket, "dags/new.py", b"N")
    put(s3, bucket, "dags/a.py", b"Z")  # same size, in flight
    proxy.reset_counts()
    res = sync_once(st)
    assert res.ok and res.outcome == "unchanged" and tree(dest) == {"a.py": b"A", "sub/b.py": b"B"}
    assert proxy.snapshot() == {
        "ListObjectsV2": 1
    }  # the manifest's ETag is the published one: nothing to GET
    assert res.outside_manifest == ("new.py",)  # reported, not synced

    # the manifest of the next commit arrives
    (local / "a.py").write_bytes(b"Z")
    (local / "new.py").write_bytes(b"N")
    _publish(local, bucket, commit="c2")
    res = sync_once(st)
    assert res.ok and res.commit == "c2"
    assert tree(dest) == {"a.py": b"Z", "sub/b.py": b"B", "new.py": b"N"}


def test_incomplete_or_wrong_manifest_fails_and_keeps_the_last_good(s3, bucket, tmp_path) -> None:
    put(s3, bucket, "dags/a.py", b"A")
    dest = tmp_path / "dags"
    st = settings_for(bucket, dest)
    assert sync_once(st).ok
    sha = hashlib.sha256(b"A").hexdigest()
    missing = {
        "version": 1,
        "commit": "c9",
        "files": {"a.py": {"sha256": sha, "size": 1}, "b.py": {"sha256": sha, "size": 1}},
    }
    import json

    put(s3, bucket, "dags/_manifest.json", json.dumps(missing).encode())
    res = sync_once(st)
    assert not res.ok and res.error_kind == "manifest" and "b.py" in res.error
    assert tree(dest) == {"a.py": b"A"}
    # right size, wrong content: fails verification against the manifest's sha256
    put(s3, bucket, "dags/b.py", b"X")
    res = sync_once(st)
    assert not res.ok and res.error_kind == "verify"
    assert tree(dest) == {"a.py": b"A"}
    put(s3, bucket, "dags/b.py", b"A")
    res = sync_once(st)
    assert res.ok and res.commit == "c9" and tree(dest) == {"a.py": b"A", "b.py": b"A"}
    put(s3, bucket, "dags/_manifest.json", b"{not json")
    res = sync_once(st)
    assert not res.ok and res.error_kind == "manifest"
    assert tree(dest) == {"a.py": b"A", "b.py": b"A"}


def test_dest_that_is_a_real_directory(s3, bucket, tmp_path) -> None:
    put(s3, bucket, "dags/a.py", b"A")
    dest = tmp_path / "dags"
    dest.mkdir()
    (dest / "precious.py").write_bytes(b"mine")
    res = sync_once(settings_for(bucket, dest))
    assert not res.ok and res.error_kind == "dest" and "real directory" in res.error
    assert (dest / "precious.py").read_bytes() == b"mine"
    (dest / "precious.py").unlink()  # an empty directory is replaced by the symlink
    res = sync_once(settings_for(bucket, dest))
    assert res.ok and dest.is_symlink() and tree(dest) == {"a.py": b"A"}


def test_include_exclude(s3, bucket, tmp_path) -> None:
    for rel in ("a.py", "b.txt", "sub/c.py", "sub/__pycache__/c.pyc"):
        put(s3, bucket, "dags/" + rel, b"x")
    dest = tmp_path / "dags"
    res = sync_once(settings_for(bucket, dest, include="*.py,*.pyc", exclude="**/__pycache__/**"))
    assert res.ok and set(tree(dest)) == {"a.py", "sub/c.py"}


def test_verification_sources(s3, bucket, tmp_path, transport) -> None:
    """SHA-256 checksum when present, else MD5 from a single-part non-KMS ETag, else counted as unverified."""
    put(s3, bucket, "dags/sha.py", b"S", ChecksumAlgorithm="SHA256")
    put(s3, bucket, "dags/md5.py", b"M")
    put(s3, bucket, "dags/kms.py", b"K", ServerSideEncryption="aws:kms")
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed["dags/sha.py"]["ChecksumAlgorithm"] == ["SHA256"]
    res = sync_once(settings_for(bucket, tmp_path / "dags", transport=transport))
    assert res.ok, res.error
    assert res.unverified == 1  # the KMS object: its ETag is not an MD5
    assert tree(tmp_path / "dags") == {"sha.py": b"S", "md5.py": b"M", "kms.py": b"K"}


def test_damaged_published_tree_is_repaired(s3, bucket, tmp_path) -> None:
    put(s3, bucket, "dags/a.py", b"A")
    put(s3, bucket, "dags/b.py", b"B")
    dest = tmp_path / "dags"
    st = settings_for(bucket, dest)
    assert sync_once(st).ok
    os.unlink(os.path.realpath(dest / "a.py"))  # a file lost from the current tree
    put(s3, bucket, "dags/c.py", b"C")
    res = sync_once(st)
    assert res.ok and tree(dest) == {"a.py": b"A", "b.py": b"B", "c.py": b"C"}
    assert res.downloaded == 2  # c.py and the lost a.py; b.py linked
    import shutil

    shutil.rmtree(os.path.realpath(dest))  # the whole tree removed by hand: DEST dangles
    res = sync_once(st)
    assert res.ok and res.outcome == "published" and tree(dest) == {"a.py": b"A", "b.py": b"B", "c.py": b"C"}


# ---- publish: a bad remote key never blocks it (issue 13) -------------------------------------------------------
def _remote_keys(s3, bucket: str) -> list[str]:
    return sorted(
        o["Key"]
        for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in p.get("Contents", ())
    )


def test_publish_deletes_xml_unsafe_keys_one_by_one(s3, bucket, proxy, tmp_path, caplog) -> None:
    for key in HOSTILE_KEYS:
        put(s3, bucket, key, b"evil")
    put(s3, bucket, "dags/both/inner.py", b"inner")
    put(s3, bucket, "other/ctl\x01.py", b"not ours")  # outside the prefix: untouched
    local = tmp_path / "repo"
    local.mkdir()
    (local / "new.py").write_bytes(b"new")
    unsafe = sorted(k for k in HOSTILE_KEYS if not xml_safe(k))
    assert unsafe == ["dags/ctl\x01.py", "dags/tab\t.py"]
    proxy.reset_counts()
    with caplog.at_level("INFO", logger="dagsync.publish"):
        res = publish_once(local, bucket)
    assert res.manifest_written and res.uploaded == ["new.py"] and not res.delete_failed
    assert sorted(res.deleted) == sorted([k.removeprefix("dags/") for k in HOSTILE_KEYS] + ["both/inner.py"])
    assert res.deleted_one_by_one == len(unsafe)
    counts = proxy.snapshot()
    assert (counts["DeleteObjects"], counts["DeleteObject"]) == (1, len(unsafe))
    deleted_singly = sorted(p for op, p in proxy.log if op == "DeleteObject")
    assert deleted_singly == ["/" + bucket + "/dags/ctl%01.py", "/" + bucket + "/dags/tab%09.py"]
    assert _remote_keys(s3, bucket) == [
        f"dags/{res.bundle}",
        "dags/_manifest.json",
        "dags/new.py",
        "other/ctl\x01.py",
    ]
    (event,) = [r for r in caplog.records if getattr(r, "event", None) == "publish"]
    assert (event.deleted, event.deleted_one_by_one, event.delete_failed) == (len(HOSTILE_KEYS) + 1, 2, 0)
    # and the next publish has nothing to do
    proxy.reset_counts()
    res = publish_once(local, bucket)
    assert not res.uploaded and not res.deleted and not res.manifest_written
    assert not {"PutObject", "DeleteObjects", "DeleteObject"} & set(proxy.snapshot())


def test_publish_reports_keys_it_cannot_delete_and_goes_on(s3, bucket, proxy, tmp_path, caplog) -> None:
    for key in ("dags/ctl\x01.py", "dags/tab\t.py", "dags/old.py", "dags/older.py"):
        put(s3, bucket, key, b"x")
    local = tmp_path / "repo"
    local.mkdir()
    (local / "new.py").write_bytes(b"new")
    proxy.add("DeleteObject", "403", times=None, key_contains="ctl")  # one key stays undeletable
    proxy.add("DeleteObjects", "malformed", times=1)  # and S3 rejects the batch: each key goes alone
    with caplog.at_level("INFO", logger="dagsync.publish"):
        res = publish_once(local, bucket)
    assert res.manifest_written and res.uploaded == ["new.py"]
    assert sorted(res.deleted) == ["old.py", "older.py", "tab\t.py"]
    assert [rel for rel, _ in res.delete_failed] == ["ctl\x01.py"]
    assert "AccessDenied" in res.delete_failed[0][1]
    assert _remote_keys(s3, bucket) == [
        f"dags/{res.bundle}",
        "dags/_manifest.json",
        "dags/ctl\x01.py",
        "dags/new.py",
    ]
    (warn,) = [r for r in caplog.records if getattr(r, "event", None) == "publish_delete_failed"]
    assert warn.count == 1 and warn.sample == [["ctl\x01.py", res.delete_failed[0][1]]]
    # a sidecar is not disturbed by the leftover (the manifest names the set)
    dest = tmp_path / "dags"
    out = sync_once(settings_for(bucket, dest))
    assert out.ok and tree(dest) == {"new.py": b"new"}


def test_dagsync_client_keeps_timestamps_raw_and_only_its_own(s3, bucket, tmp_path) -> None:
    """LastModified is never read: dagsync's client skips the dateutil parse (CPU per listed key, ADR 0001 §8);
    other clients of the process still get datetimes."""
    import datetime

    from platform_common.aws import aio_client

    put(s3, bucket, "dags/a.py", b"A")
    st = settings_for(bucket, tmp_path / "dags")

    async def go() -> tuple[object, object]:
        async with s3_client(st) as mine, aio_client("s3") as other:
            a = (await mine.list_objects_v2(Bucket=bucket))["Contents"][0]["LastModified"]
            b = (await other.list_objects_v2(Bucket=bucket))["Contents"][0]["LastModified"]
            return a, b

    raw, parsed = asyncio.run(go())
    assert isinstance(raw, str) and isinstance(parsed, datetime.datetime)
