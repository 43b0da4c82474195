"""docs/adr/README.md indexes every ADR file in docs/adr/, and links no file that does not exist.

Derived from the directory, so it holds at every commit while ADRs land in parallel: an ADR that is agreed but
not written yet is listed as planned (by file name, without a link); `make adr-index` turns it into a link.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scripts.adr_index import ADR_DIR, AGREED, END, START, collect, problems, read_adr, render

REPO = Path(__file__).resolve().parents[2]


def test_every_adr_is_indexed_and_every_link_exists() -> None:
    assert problems() == []


def test_every_agreed_adr_is_listed() -> None:
    readme = (ADR_DIR / "README.md").read_text()
    for name, _ in AGREED.values():
        assert name in readme, f"{name} missing from the ADR index"


def test_existing_files_are_links_after_regeneration() -> None:
    adrs = collect()
    table = render((ADR_DIR / "README.md").read_text(), adrs)
    for a in adrs:
        assert (f"[{a.number}]({a.file})" in table) == (ADR_DIR / a.file).exists()


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
    assert (new.title, new.status, new.exists) == ("Something new", "Proposed", True)


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
