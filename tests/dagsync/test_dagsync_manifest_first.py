"""Manifest-first change detection (issue 13, docs/adr/0001-dag-sync.md §2), counted on the moto server.

A quiet cycle with a manifest is one conditional GET (If-None-Match -> 304); without one, ceil(N/1000) LISTs.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from dagsync.state import published_version, read_json
from dagsync.sync import CycleResult
from dagsync.transport import Small, read_small
from tests.support.dagsync import SyncLoop, publish_once, put, settings_for, tree

N = 1001  # two LIST pages


def _local(tmp_path, n: int, edit: dict[str, bytes] | None = None):
    local = tmp_path / "repo"
    local.mkdir(exist_ok=True)
    for i in range(n):
        p = local / f"p{i % 20:02d}" / f"dag_{i:05d}.py"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(f"# dag {i}\n".encode())
    for rel, body in (edit or {}).items():
        (local / rel).write_bytes(body)
    return local


def _published_a(tmp_path, bucket: str):
    """A repo holding ``a.py`` = ``A``, published (with its manifest) to ``dags/``."""
    local = tmp_path / "repo"
    local.mkdir()
    (local / "a.py").write_bytes(b"A")
    publish_once(local, bucket)
    return local


def _files(local) -> dict[str, bytes]:
    return {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}


@pytest.mark.parametrize("bundle", [True, False], ids=["bundle", "per-object"])
def test_quiet_cycle_is_one_conditional_get_with_a_manifest(
    s3, bucket, proxy, tmp_path, transport, bundle
) -> None:
    local = _local(tmp_path, N)
    assert publish_once(local, bucket).manifest_written
    dest = tmp_path / "dags"
    with SyncLoop(settings_for(bucket, dest, list_every=4, transport=transport, bundle=bundle)) as loop:
        proxy.reset_counts()
        res = loop.cycle()  # first cycle of a process: LIST
        assert res.ok and res.outcome == "published" and res.check == "list", res.error
        # cold: the manifest, then the bundle (docs/adr/0001-dag-sync.md §11), or each file
        assert proxy.snapshot() == {"ListObjectsV2": 2, "GetObject": 2 if bundle else N + 1}
        assert (res.downloaded, res.bundled, res.bundle_stopped) == (N, N if bundle else 0, None)
        assert tree(dest) == _files(local)
        etag = s3.head_object(Bucket=bucket, Key="dags/_manifest.json")["ETag"]
        opened, probes = proxy.connections_for(), set[tuple[str, int]]()
        for _ in range(3):
            proxy.reset_counts()
            res = loop.cycle()
            assert res.ok and res.outcome == "unchanged" and res.check == "manifest"
            assert proxy.snapshot() == {"GetObject": 1}
            ((path, headers),) = proxy.requests_for("GetObject", "")
            url = urlsplit(path)
            assert url.path.endswith("/dags/_manifest.json") and headers["if-none-match"] == etag
            # presigned: If-None-Match rides unsigned (S3 requires only x-amz-* headers to be signed)
            if transport == "presigned":
                assert parse_qs(url.query)["X-Amz-SignedHeaders"] == ["host"]
            assert proxy.statuses == {("GetObject", 304): 1}
            probes |= proxy.connections_for("GetObject")
        if transport == "presigned":  # aiobotocore drops the connection a 304 came on: a new one per probe
            assert probes <= opened, (
                "quiet cycles reuse the kept-alive connections of the sidecar's transport"
            )
        proxy.reset_counts()
        res = loop.cycle()  # the safety net: every 4th cycle LISTs, and the unchanged manifest ETag ends it
        assert res.ok and res.outcome == "unchanged" and res.check == "list"
        assert proxy.snapshot() == {"ListObjectsV2": 2}

        # a publish: the next cycle fetches the new manifest and only what changed, verified, without a LIST
        edited = {"p03/dag_00003.py": b"# DAG 3\n", "new/extra.py": b"new"}
        (local / "new").mkdir()
        _local(tmp_path, N, edited)
        assert publish_once(local, bucket, commit="c2").manifest_written
        proxy.reset_counts()
        res = loop.cycle()
        assert res.ok and res.outcome == "published" and res.check == "manifest" and res.commit == "c2"
        assert (res.downloaded, res.linked) == (2, N - 1)
        assert proxy.snapshot() == {"GetObject": 3}  # the manifest (200) and the two changed files
        assert tree(dest) == _files(local)
        proxy.reset_counts()
        res = loop.cycle()
        assert res.ok and res.outcome == "unchanged" and proxy.snapshot() == {"GetObject": 1}


@pytest.mark.parametrize("n", [0, N])
def test_quiet_cycle_without_a_manifest_is_ceil_n_over_1000_lists(s3, bucket, proxy, tmp_path, n) -> None:
    for i in range(n):
        put(s3, bucket, f"dags/p{i % 20:02d}/dag_{i:05d}.py", b"x")
    dest = tmp_path / "dags"
    with SyncLoop(settings_for(bucket, dest, list_every=4)) as loop:
        assert loop.cycle().ok
        for _ in range(5):
            proxy.reset_counts()
            res = loop.cycle()
            assert res.ok and res.outcome == "unchanged" and res.check == "list"
            assert proxy.snapshot() == {"ListObjectsV2": max(1, math.ceil(n / 1000))}


def test_manifest_missing_or_unreadable_falls_back_to_list(s3, bucket, proxy, tmp_path, transport) -> None:
    _published_a(tmp_path, bucket)
    dest = tmp_path / "dags"
    with SyncLoop(settings_for(bucket, dest, transport=transport)) as loop:
        assert loop.cycle().ok and tree(dest) == {"a.py": b"A"}
        # an object outside the manifest: not synced; the safety-net LIST reports it
        put(s3, bucket, "dags/stray.py", b"S")
        res = loop.cycle()
        assert res.ok and res.check == "manifest" and res.outcome == "unchanged" and not res.outside_manifest
        loop.syncer._since_list = loop.syncer.settings.list_every  # the Nth cycle
        res = loop.cycle()
        assert res.ok and res.check == "list" and res.outcome == "unchanged"
        assert res.outside_manifest == ("stray.py",) and tree(dest) == {"a.py": b"A"}

        # unreadable manifest: the conditional GET gets it (200), the LIST path fails the cycle, last good stays
        put(s3, bucket, "dags/_manifest.json", b"{not json")
        proxy.reset_counts()
        res = loop.cycle()
        assert not res.ok and res.error_kind == "manifest" and tree(dest) == {"a.py": b"A"}
        assert proxy.snapshot() == {"GetObject": 2, "ListObjectsV2": 1}

        # no manifest any more: 404, then the LIST publishes the prefix as it is (mirror mode)
        s3.delete_object(Bucket=bucket, Key="dags/_manifest.json")
        res = loop.cycle()
        assert res.ok and res.outcome == "published" and res.check == "list"
        assert tree(dest) == {"a.py": b"A", "stray.py": b"S"}
        proxy.reset_counts()
        res = loop.cycle()  # mirror mode: LIST-only quiet cycles
        assert res.ok and res.outcome == "unchanged" and proxy.snapshot() == {"ListObjectsV2": 1}


def test_changed_manifest_naming_a_missing_or_wrong_file_fails_without_publishing(
    s3, bucket, proxy, tmp_path, transport
) -> None:
    _published_a(tmp_path, bucket)
    dest = tmp_path / "dags"
    with SyncLoop(settings_for(bucket, dest, transport=transport)) as loop:
        assert loop.cycle().ok
        doc = json.loads(s3.get_object(Bucket=bucket, Key="dags/_manifest.json")["Body"].read())
        doc["commit"] = "c9"
        doc["files"]["b.py"] = dict(doc["files"]["a.py"])  # not in the bucket
        put(s3, bucket, "dags/_manifest.json", json.dumps(doc).encode())
        res = loop.cycle()
        assert not res.ok and res.check == "manifest" and res.error_kind == "manifest" and "b.py" in res.error
        assert tree(dest) == {"a.py": b"A"}
        put(s3, bucket, "dags/b.py", b"X")  # right size, wrong content
        res = loop.cycle()
        assert not res.ok and res.error_kind == "verify" and tree(dest) == {"a.py": b"A"}
        put(s3, bucket, "dags/b.py", b"A")
        res = loop.cycle()
        assert res.ok and res.check == "manifest" and res.commit == "c9"
        assert tree(dest) == {"a.py": b"A", "b.py": b"A"}


def test_another_sidecars_publish_is_adopted_not_overwritten(s3, bucket, proxy, tmp_path) -> None:
    local = _published_a(tmp_path, bucket)
    dest = tmp_path / "dags"
    st = settings_for(bucket, dest)
    with SyncLoop(st) as one, SyncLoop(st.model_copy(update={"sidecar_id": "two"})) as two:
        assert one.cycle().ok and two.cycle().ok
        paths = two.syncer.paths
        stale = (
            published_version(paths),
            read_json(paths.current_file),
        )  # what `two` read before `one` published
        (local / "a.py").write_bytes(b"B")
        publish_once(local, bucket, commit="c2")
        res = one.cycle()
        assert res.ok and res.outcome == "published" and res.check == "manifest"
        proxy.reset_counts()
        res = two.cycle()  # shared state: already the published manifest's ETag
        assert res.ok and res.outcome == "unchanged" and proxy.snapshot() == {"GetObject": 1}

        # `two` read the state before `one` published, and got the same manifest: it adopts under the lock
        res = CycleResult(ok=False, outcome="failed")
        assert two.loop.run_until_complete(two.syncer._cycle_manifest(res, *stale))
        assert res.outcome == "adopted" and res.commit == "c2"
        # ... and if the bucket moved on again, its manifest may be older than what was published: LIST instead
        (local / "a.py").write_bytes(b"C")
        publish_once(local, bucket, commit="c3")
        res = CycleResult(ok=False, outcome="failed")
        assert not two.loop.run_until_complete(two.syncer._cycle_manifest(res, *stale))
        assert tree(dest) == {"a.py": b"B"}
        res = two.cycle()
        assert res.ok and res.outcome == "published" and res.commit == "c3" and tree(dest) == {"a.py": b"C"}


def test_a_manifest_over_the_size_limit_fails_the_cycle_and_the_last_version_stays(
    s3, bucket, proxy, tmp_path, transport, monkeypatch
) -> None:
    _published_a(tmp_path, bucket)
    dest = tmp_path / "dags"
    with SyncLoop(settings_for(bucket, dest, transport=transport)) as loop:
        assert loop.cycle().ok
        small = s3.get_object(Bucket=bucket, Key="dags/_manifest.json")["Body"].read()
        monkeypatch.setattr("dagsync.sync.MANIFEST_MAX_BYTES", len(small) + 10)
        put(s3, bucket, "dags/_manifest.json", small + b" " * 100)  # still valid JSON, 90 bytes too long
        res = loop.cycle()  # the quiet probe gets a 200 with the long manifest
        assert not res.ok and res.check == "manifest" and res.error_kind == "manifest"
        assert f"more than {len(small) + 10} bytes" in res.error and tree(dest) == {"a.py": b"A"}
        put(s3, bucket, "dags/_manifest.json", small)
        res = loop.cycle()
        assert res.ok and tree(dest) == {"a.py": b"A"}


def test_read_small_stops_at_the_limit_and_trusts_a_larger_content_length_unread() -> None:
    async def chunks(n: int) -> AsyncIterator[bytes]:
        for _ in range(n):
            yield b"x" * 100

    async def unread() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read although Content-Length was over the limit")
        yield b""

    assert asyncio.run(read_small(unread(), "e", 5000, 1000)) == Small(b"", "e", 5000)
    lying = asyncio.run(read_small(chunks(50), "e", None, 1000))  # no Content-Length: stop past the limit
    assert (len(lying.body), lying.size) == (1100, 1100)
    lying = asyncio.run(read_small(chunks(50), "e", 10, 1000))  # one that lies: the body decides
    assert lying.size == 1100
    assert asyncio.run(read_small(chunks(3), "e", 300, 1000)) == Small(b"x" * 300, "e", 300)
