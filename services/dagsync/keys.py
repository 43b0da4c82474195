"""Key safety and include/exclude globs: pure functions, no I/O.

A remote key (relative to the source prefix) becomes a path under DEST only when it is safe: see
``key_problem`` for single-key rules and ``filter_keys`` for rules across the whole set (file vs directory
prefix, Unicode-normalisation collisions). See docs/adr/0001-dag-sync.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

NAME_MAX = 255  # bytes per path segment (ext4, xfs, NFS/EFS)
PATH_MAX = 4096  # bytes per whole path including the terminating NUL (Linux)

MANIFEST_NAME = "_manifest.json"
BUNDLE_DIR = "_dagsync/"  # publish's bundles live here (docs/adr/0001-dag-sync.md §11)


def reserved(rel: str) -> bool:
    """dagsync's own objects under the prefix: never a DAG file, never synced, never reported."""
    return rel == MANIFEST_NAME or rel.startswith(BUNDLE_DIR)


# Reasons a key is skipped (metric label values).
ABSOLUTE = "absolute"
DOT_SEGMENT = "dot_segment"
EMPTY_SEGMENT = "empty_segment"
CONTROL_CHAR = "control_char"
NAME_TOO_LONG = "name_too_long"
PATH_TOO_LONG = "path_too_long"
INVALID_UTF8 = "invalid_utf8"
FILE_DIR_CONFLICT = "file_dir_conflict"
UNICODE_COLLISION = "unicode_collision"
REASONS = (
    ABSOLUTE,
    DOT_SEGMENT,
    EMPTY_SEGMENT,
    CONTROL_CHAR,
    NAME_TOO_LONG,
    PATH_TOO_LONG,
    INVALID_UTF8,
    FILE_DIR_CONFLICT,
    UNICODE_COLLISION,
)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL, C1


def key_problem(rel: str, path_budget: int = PATH_MAX - 1) -> str | None:
    """Why ``rel`` (a key relative to the prefix) is unsafe as a relative path, or None if it is safe.

    ``path_budget`` is how many bytes the relative path may take once joined under the build directory.
    """
    try:
        raw = rel.encode("utf-8")
    except UnicodeEncodeError:
        return INVALID_UTF8
    if rel.startswith("/"):
        return ABSOLUTE
    if _CONTROL.search(rel):
        return CONTROL_CHAR
    segments = rel.split("/")
    for seg in segments:
        if seg == "":
            return EMPTY_SEGMENT
        if seg in (".", ".."):
            return DOT_SEGMENT
    for seg in segments:
        if len(seg.encode("utf-8")) > NAME_MAX:
            return NAME_TOO_LONG
    if len(raw) > path_budget:
        return PATH_TOO_LONG
    return None


def is_dir_marker(rel: str, size: int) -> bool:
    """A zero-byte ``folder/`` object as created by the S3 console: ignored, not hostile."""
    return size == 0 and rel.endswith("/") and key_problem(rel[:-1]) is None


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay inside one segment, ``**`` spans segments, ``[...]`` is a class."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):  # "**/" also matches zero directories
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find(
                "]", i + 2 if pattern.startswith("[!", i) or pattern.startswith("[]", i) else i + 1
            )
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def glob_match(pattern: str, rel: str) -> bool:
    """Whole-path match. A pattern without ``/`` matches the file name in any directory (like .gitignore)."""
    if "/" not in pattern.rstrip("/"):
        return bool(_glob_regex(pattern).fullmatch(rel.rsplit("/", 1)[-1])) or bool(
            _glob_regex(pattern).fullmatch(rel)
        )
    return bool(_glob_regex(pattern.lstrip("/")).fullmatch(rel))


def selected(rel: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> bool:
    """Included (no include patterns = everything) and not excluded."""
    if include and not any(glob_match(p, rel) for p in include):
        return False
    return not any(glob_match(p, rel) for p in exclude)


@dataclass(frozen=True)
class KeyVerdict:
    safe: frozenset[str]
    unsafe: tuple[tuple[str, str], ...]  # (rel, reason), sorted by rel


def filter_keys(
    rels: Iterable[str],
    *,
    path_budget: int = PATH_MAX - 1,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> KeyVerdict:
    """Split keys into the safe set and the skipped ones with a reason.

    Order: per-key checks, then include/exclude (not counted as unsafe), then Unicode NFC collisions (every
    key whose path or a parent path collides with a differently spelled one is skipped), then file-vs-directory
    conflicts (the file ``a`` is skipped when ``a/...`` keys exist; the directory's files stay).
    The result never contains two keys that map to the same or an overlapping place on disk.
    """
    unsafe: dict[str, str] = {}
    ok: set[str] = set()
    for rel in rels:
        problem = key_problem(rel, path_budget)
        if problem is not None:
            unsafe[rel] = problem
        elif selected(rel, include, exclude):
            ok.add(rel)

    # Unicode normalisation: two spellings of one NFC form need at least one non-NFC spelling, so only those
    # are grouped (keeps this O(keys) and allocation-free for the usual all-NFC listing).
    dirs = {rel[:i] for rel in ok for i, ch in enumerate(rel) if ch == "/"}
    odd = [p for p in (*ok, *dirs) if not unicodedata.is_normalized("NFC", p)]
    if odd:
        spellings: dict[str, set[str]] = defaultdict(set)
        for p in odd:
            spellings[unicodedata.normalize("NFC", p)].add(p)
        for nfc, group in spellings.items():
            if nfc in ok or nfc in dirs:
                group.add(nfc)
        clashing = {p for group in spellings.values() if len(group) > 1 for p in group}
        if clashing:
            for rel in list(ok):
                segs = rel.split("/")
                if any("/".join(segs[:i]) in clashing for i in range(1, len(segs) + 1)):
                    ok.discard(rel)
                    unsafe[rel] = UNICODE_COLLISION

    # A key that is also a directory prefix of another key.
    dirs = {rel[:i] for rel in ok for i, ch in enumerate(rel) if ch == "/"}
    for rel in ok & dirs:
        ok.discard(rel)
        unsafe[rel] = FILE_DIR_CONFLICT

    return KeyVerdict(frozenset(ok), tuple(sorted(unsafe.items())))
