"""The pure planner: hypothesis properties over listings, indexes and manifests."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagsync.keys import MANIFEST_NAME, filter_keys, glob_match, is_dir_marker
from dagsync.planner import (
    IndexEntry,
    Manifest,
    ManifestError,
    ManifestFile,
    RemoteObject,
    listing_id,
    manifest_listing,
    outside_manifest,
    parse_manifest,
    plan,
    render_manifest,
    version_of,
)

RELS = st.sampled_from(
    [
        "a.py",
        "b.py",
        "d/x.py",
        "d/y.py",
        "d",
        "e/f/g.py",
        "../bad",
        "c\x00.py",
        "caf\u00e9",
        "cafe\u0301",
        "z/",
    ]
)
ETAGS = st.sampled_from(["e1", "e2", "e3", "0" * 32, "f" * 32, "abc-2"])
SIZES = st.integers(0, 3)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


LISTING = st.dictionaries(RELS, st.tuples(ETAGS, SIZES), max_size=10).map(
    lambda d: [RemoteObject(rel, size, etag) for rel, (etag, size) in d.items()]
)
INDEX = st.dictionaries(RELS, st.tuples(ETAGS, SIZES), max_size=8).map(
    lambda d: {rel: IndexEntry(etag, size, _sha(etag)) for rel, (etag, size) in d.items()}
)


def apply(p, listing):  # what the shell would publish: the model of the new index
    by_rel = {o.rel: o for o in listing}
    new = {k.rel: k.entry for k in p.keep}
    for d in p.download:
        new[d.rel] = IndexEntry(d.etag, d.size, d.expect_sha256 or _sha(by_rel[d.rel].etag))
    return new


@settings(max_examples=500, deadline=None)
@given(LISTING, INDEX)
def test_mirror_plan(listing, current) -> None:
    p = plan(listing, current)
    safe = filter_keys([o.rel for o in listing if not (o.rel.endswith("/") and o.size == 0)]).safe
    assert p.mode == "mirror" and p.publishable
    assert p.target == safe
    assert {k.rel for k in p.keep}.isdisjoint({d.rel for d in p.download})
    by_rel = {o.rel: o for o in listing}
    for k in p.keep:  # unchanged means same ETag and size, never size alone
        assert (current[k.rel].etag, current[k.rel].size) == (by_rel[k.rel].etag, by_rel[k.rel].size)
    for d in p.download:
        cur = current.get(d.rel)
        assert cur is None or (cur.etag, cur.size) != (d.etag, d.size)
        assert d.etag_may_be_md5 == (len(d.etag) == 32 and "-" not in d.etag)
    assert set(p.delete) == set(current) - safe
    # deterministic and order-independent
    assert plan(list(reversed(listing)), current).version == p.version
    assert listing_id(list(reversed(listing))) == listing_id(listing)
    # idempotent: planning again against what was published changes nothing
    assert version_of("mirror", apply(p, listing)) == p.version  # the shell recomputes it from the tree
    again = plan(listing, apply(p, listing))
    assert again.version == p.version and not again.download and not again.delete


@settings(max_examples=300, deadline=None)
@given(LISTING, INDEX, ETAGS, st.sampled_from(sorted({"a.py", "d/x.py", "b.py"})))
def test_same_size_edit_is_a_change(listing, current, new_etag, rel) -> None:
    base = [o for o in listing if o.rel != rel] + [RemoteObject(rel, 2, "e1")]
    p = plan(base, current)
    published = apply(p, base)
    edited = [o for o in base if o.rel != rel] + [RemoteObject(rel, 2, new_etag)]
    p2 = plan(edited, published)
    if rel in p.target:
        fetched = {d.rel for d in p2.download}
        assert (rel in fetched) == (new_etag != "e1")
        assert (p2.version == p.version) == (new_etag == "e1")
        assert fetched <= {rel}  # a changed object is fetched once, nothing else


MANIFEST_FILES = st.dictionaries(
    RELS.filter(lambda r: not r.endswith("/")), st.tuples(ETAGS, SIZES), max_size=8
)


@settings(max_examples=400, deadline=None)
@given(LISTING, INDEX, MANIFEST_FILES)
def test_manifest_plan(listing, current, mfiles) -> None:
    manifest = Manifest("c0ffee", {rel: ManifestFile(_sha(e), s) for rel, (e, s) in mfiles.items()})
    p = plan(listing, current, manifest)
    safe = filter_keys(list(mfiles)).safe
    assert p.mode == "manifest" and p.commit == "c0ffee"
    assert p.target | {pr.split("'")[1] for pr in p.problems if "'" in pr} >= safe
    by_rel = {o.rel: o for o in listing}
    for rel in safe:
        mf = manifest.files[rel]
        cur = current.get(rel)
        if cur is not None and (cur.sha256, cur.size) == (mf.sha256, mf.size):
            assert rel in {k.rel for k in p.keep}
        elif rel not in by_rel or by_rel[rel].size != mf.size:
            assert not p.publishable
            assert any(repr(rel) in pr for pr in p.problems)
        else:
            d = next(d for d in p.download if d.rel == rel)
            assert d.expect_sha256 == mf.sha256  # every download is verified against the manifest
    # extra objects in the bucket that the manifest does not list are not published
    assert p.target <= safe
    if p.publishable:
        assert p.target == safe
        assert version_of("manifest", apply(p, listing)) == p.version
        assert set(p.delete) == set(current) - safe
    # the version depends on the manifest's content, not on unrelated bucket objects
    extra = [*listing, RemoteObject("zz-not-in-manifest.py", 1, "e9")]
    assert plan(extra, current, manifest).version == p.version


def test_manifest_object_and_dir_markers_are_not_files() -> None:
    p = plan(
        [RemoteObject(MANIFEST_NAME, 10, "m"), RemoteObject("dir/", 0, "d"), RemoteObject("a", 1, "x")], {}
    )
    assert p.target == {"a"}
    assert p.unsafe == ()


def test_manifest_roundtrip_and_rejects() -> None:
    files = {"a.py": ManifestFile("a" * 64, 3), "d/b.py": ManifestFile("b" * 64, 0)}
    m = parse_manifest(render_manifest("abc", files))
    assert m.commit == "abc" and dict(m.files) == files
    good = {"version": 1, "commit": None, "files": {"x": {"sha256": "0" * 64, "size": 1}}}
    assert parse_manifest(json.dumps(good).encode()).commit is None
    for bad in (
        b"not json",
        b"[]",
        json.dumps({**good, "version": 2}).encode(),
        json.dumps({**good, "commit": 5}).encode(),
        json.dumps({**good, "files": []}).encode(),
        json.dumps({**good, "files": {"x": {"sha256": "XYZ", "size": 1}}}).encode(),
        json.dumps({**good, "files": {"x": {"sha256": "0" * 64, "size": -1}}}).encode(),
        json.dumps({**good, "files": {"x": {"sha256": "0" * 64, "size": True}}}).encode(),
        json.dumps({**good, "files": {"x": "nope"}}).encode(),
    ):
        with pytest.raises(ManifestError):
            parse_manifest(bad)


@settings(max_examples=400, deadline=None)
@given(INDEX, MANIFEST_FILES)
def test_manifest_first_plan_equals_the_listed_plan(current, mfiles) -> None:
    """A changed manifest seen without a LIST plans the same set and version as with a LIST that holds every
    listed file at its size; whether a file is really there shows on its GET (404 / size check in the shell)."""
    manifest = Manifest("c1", {rel: ManifestFile(_sha(e), s) for rel, (e, s) in mfiles.items()})
    listing = manifest_listing(manifest)
    assert {o.rel for o in listing} == set(mfiles) - {MANIFEST_NAME}
    p = plan(listing, current, manifest)
    full = plan([RemoteObject(rel, s, e) for rel, (e, s) in mfiles.items()], current, manifest)
    assert p.publishable and (p.version, p.target, p.delete) == (full.version, full.target, full.delete)
    assert {d.rel for d in p.download} == {d.rel for d in full.download}
    assert all(d.expect_sha256 == manifest.files[d.rel].sha256 for d in p.download)


@settings(max_examples=300, deadline=None)
@given(LISTING, st.sets(RELS), st.lists(st.sampled_from(["*.py", "d/**", "a*"]), max_size=2))
def test_outside_manifest(listing, named, exclude) -> None:
    out = outside_manifest(listing, named, exclude=exclude)
    assert list(out) == sorted(set(out))
    for o in listing:
        expected = (
            o.rel != MANIFEST_NAME
            and not is_dir_marker(o.rel, o.size)
            and o.rel not in named
            and not any(glob_match(x, o.rel) for x in exclude)
        )
        assert (o.rel in out) == expected, o
