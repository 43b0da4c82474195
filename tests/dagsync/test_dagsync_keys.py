"""Key safety (pure) checked exhaustively with hypothesis, and on the real filesystem."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagsync import keys
from dagsync.keys import filter_keys, glob_match, key_problem, selected

SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "a",
            "b",
            "dags",
            ".",
            "..",
            "...",
            "",
            ".hidden",
            "caf\u00e9",  # NFC
            "cafe\u0301",  # NFD of the same name
            "\u212b",  # ANGSTROM SIGN, NFC -> U+00C5
            "\u00c5",
            "x\x00y",
            "tab\there",
            "nl\n",
            "del\x7f",
            "c1\x85",
            "x" * 255,
            "y" * 256,
            "\u00e9" * 128,  # 256 bytes in UTF-8
            "spa ce",
            "back\\slash",
            "\ud800",  # lone surrogate: not encodable
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=6),
)
KEYS = st.builds(
    lambda lead, segs: lead + "/".join(segs),
    st.sampled_from(["", "", "", "/"]),
    st.lists(SEGMENTS, min_size=1, max_size=4),
)


def _prefixes(rel: str) -> list[str]:
    segs = rel.split("/")
    return ["/".join(segs[:i]) for i in range(1, len(segs) + 1)]


@settings(max_examples=400, deadline=None)
@given(st.lists(KEYS, max_size=25))
def test_safe_set_is_safe_and_total(rels: list[str]) -> None:
    verdict = filter_keys(rels)
    unsafe = dict(verdict.unsafe)
    assert set(unsafe).isdisjoint(verdict.safe)
    assert set(unsafe) | verdict.safe == set(rels)  # every key accounted for, nothing invented
    assert set(unsafe.values()) <= set(keys.REASONS)
    root = "/root/dest"
    for rel in verdict.safe:
        assert key_problem(rel) is None
        joined = os.path.join(root, rel)
        assert os.path.normpath(joined) == joined  # no "..", ".", "//" games
        assert joined.startswith(root + "/")
        assert all(len(s.encode()) <= keys.NAME_MAX for s in rel.split("/"))
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in rel)
    # no file is also a directory of another safe key
    dirs = {p for rel in verdict.safe for p in _prefixes(rel)[:-1]}
    assert dirs.isdisjoint(verdict.safe)
    # no two spellings of the same NFC path
    spellings: dict[str, set[str]] = {}
    for rel in verdict.safe:
        for p in _prefixes(rel):
            spellings.setdefault(unicodedata.normalize("NFC", p), set()).add(p)
    assert all(len(v) == 1 for v in spellings.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rels=st.lists(KEYS, max_size=15))
def test_safe_keys_materialise_inside_dest(tmp_path_factory: pytest.TempPathFactory, rels: list[str]) -> None:
    """Write every safe key on the real filesystem: each write succeeds and lands inside the root."""
    base = tmp_path_factory.mktemp("mat")
    root = base / "root"
    root.mkdir()
    budget = keys.PATH_MAX - 1 - len(os.fsencode(str(root))) - 1
    verdict = filter_keys(rels, path_budget=budget)
    for rel in sorted(verdict.safe):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as f:  # "x": two safe keys never map to one file
            f.write(rel.encode())
        assert Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    found = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
    assert found == sorted("root/" + r for r in verdict.safe)


@pytest.mark.parametrize(
    ("rel", "reason"),
    [
        ("/etc/passwd", keys.ABSOLUTE),
        ("../escape", keys.DOT_SEGMENT),
        ("a/../../b", keys.DOT_SEGMENT),
        ("a/./b", keys.DOT_SEGMENT),
        (".", keys.DOT_SEGMENT),
        ("a//b", keys.EMPTY_SEGMENT),
        ("a/", keys.EMPTY_SEGMENT),
        ("", keys.EMPTY_SEGMENT),
        ("a\x00b", keys.CONTROL_CHAR),
        ("line\nbreak.py", keys.CONTROL_CHAR),
        ("esc\x1b[31m", keys.CONTROL_CHAR),
        ("c1\x9b", keys.CONTROL_CHAR),
        ("n" * 256, keys.NAME_TOO_LONG),
        ("\u00e9" * 128, keys.NAME_TOO_LONG),
        ("/".join(["d" * 200] * 21), keys.PATH_TOO_LONG),
        ("bad\udcff", keys.INVALID_UTF8),
    ],
)
def test_single_key_reasons(rel: str, reason: str) -> None:
    assert key_problem(rel) == reason
    assert dict(filter_keys([rel]).unsafe) == {rel: reason}


def test_set_level_reasons() -> None:
    v = filter_keys(
        ["a", "a/b", "a/c", "caf\u00e9.py", "cafe\u0301.py", "d\u00e9p/x", "de\u0301p/y", "ok.py"]
    )
    assert v.safe == {"a/b", "a/c", "ok.py"}
    assert dict(v.unsafe) == {
        "a": keys.FILE_DIR_CONFLICT,
        "caf\u00e9.py": keys.UNICODE_COLLISION,
        "cafe\u0301.py": keys.UNICODE_COLLISION,
        "d\u00e9p/x": keys.UNICODE_COLLISION,
        "de\u0301p/y": keys.UNICODE_COLLISION,
    }


def test_path_budget() -> None:
    rel = "a/" + "b" * 100
    assert key_problem(rel, path_budget=len(rel)) is None
    assert key_problem(rel, path_budget=len(rel) - 1) == keys.PATH_TOO_LONG


@pytest.mark.parametrize(
    ("pattern", "rel", "hit"),
    [
        ("*.py", "a.py", True),
        ("*.py", "x/y/a.py", True),
        ("*.py", "a.pyc", False),
        ("dags/*.py", "dags/a.py", True),
        ("dags/*.py", "dags/sub/a.py", False),
        ("dags/**", "dags/sub/a.py", True),
        ("**/test_*", "test_a.py", True),
        ("**/test_*", "x/y/test_a.py", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "b.txt", False),
        ("/top.py", "top.py", True),
        ("__pycache__/**", "__pycache__/x.pyc", True),
        ("**/__pycache__/**", "a/__pycache__/x.pyc", True),
    ],
)
def test_glob(pattern: str, rel: str, hit: bool) -> None:
    assert glob_match(pattern, rel) is hit


@settings(max_examples=200, deadline=None)
@given(
    st.lists(KEYS, max_size=15), st.lists(st.sampled_from(["*.py", "a/**", "b", "**/x*", "?"]), max_size=2)
)
def test_exclude_is_not_unsafe(rels: list[str], exclude: list[str]) -> None:
    v = filter_keys(rels, exclude=exclude)
    assert all(not any(glob_match(p, r) for p in exclude) for r in v.safe)
    plain = filter_keys(rels)
    set_level = (keys.FILE_DIR_CONFLICT, keys.UNICODE_COLLISION)  # excluding a key can resolve these
    assert v.safe <= plain.safe | {r for r, why in plain.unsafe if why in set_level}
    assert {r for r, why in v.unsafe if why not in (keys.FILE_DIR_CONFLICT, keys.UNICODE_COLLISION)} == {
        r for r, why in plain.unsafe if why not in (keys.FILE_DIR_CONFLICT, keys.UNICODE_COLLISION)
    }


def test_selected_include_and_exclude() -> None:
    assert selected("dags/a.py", include=["dags/**"], exclude=["*.pyc"])
    assert not selected("dags/a.pyc", include=["dags/**"], exclude=["*.pyc"])
    assert not selected("other/a.py", include=["dags/**"])
