"""docs/adr/README.md indexes every ADR file in docs/adr/, and links no file that does not exist.

Derived from the directory: every NNNN-*.md is one linked row with its own title and status (`make adr-index`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scripts.adr_index import ADR_DIR, END, START, collect, problems, read_adr, render

REPO = Path(__file__).resolve().parents[2]


def test_every_adr_is_indexed_and_every_link_exists() -> None:
    assert problems() == []


def test_existing_files_are_links_after_regeneration() -> None:
    adrs = collect()
    assert [a.file for a in adrs] == sorted(p.name for p in ADR_DIR.glob("[0-9][0-9][0-9][0-9]-*.md"))
    table = render((ADR_DIR / "README.md").read_text(), adrs)
    for a in adrs:
        assert f"| [{a.number}]({a.file}) | {a.title} | {a.status} |" in table


def test_unindexed_file_and_dangling_link_are_caught(tmp_path: Path) -> None:
    d = tmp_path / "adr"
    shutil.copytree(ADR_DIR, d)
    (d / "0099-something-new.md").write_text("# ADR 0099: Something new\n\n## Status\n\nProposed\n")
    assert problems(d) == ["0099-something-new.md is not in the index"]
    (d / "0099-something-new.md").unlink()
    readme = (d / "README.md").read_text().replace(END, f"| [0099](0099-gone.md) | x | x |\n{END}")
    (d / "README.md").write_text(readme)
    assert problems(d) == ["the index links 0099-gone.md, which does not exist"]
    # regeneration indexes a new file with its own title and status
    (d / "0099-something-new.md").write_text("# ADR 0099: Something new\n\n## Status\n\nProposed\n")
    adrs = collect(d)
    new = next(a for a in adrs if a.number == "0099")
    assert (new.title, new.status) == ("Something new", "Proposed")


def test_title_and_status_parsing(tmp_path: Path) -> None:
    p = tmp_path / "0003-x.md"
    p.write_text("# ADR 0003: NAT-free VPC\n\n**Status:** Accepted (2026-11)\n\n## Context\n")
    assert read_adr(p) == ("NAT-free VPC", "Accepted")


def test_adr_0010_has_the_usual_shape() -> None:
    text = (ADR_DIR / "0010-ci-cd.md").read_text()
    heads = re.findall(r"^## (\w+)", text, re.MULTILINE)
    assert heads == ["Status", "Context", "Decision", "Consequences", "Alternatives"]
    for must in (
        "fmt",
        "tflint",
        "checkov",
        "conftest",
        "OIDC",
        "environment",
        "required reviewers",
        "trivy",
        "IMMUTABLE",
        "circuit breaker",
        "DagBag",
        "60 s",
    ):
        assert must.lower() in text.lower(), must


def test_markers_present() -> None:
    readme = (ADR_DIR / "README.md").read_text()
    assert readme.count(START) == 1 and readme.count(END) == 1
