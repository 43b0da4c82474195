"""README.md: the two fresh-machine commands, the AWS quickstart's four steps, and nothing that points nowhere:
every `make` target exists, every relative link resolves, and the project CLI lines parse with the real parsers."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
FENCE = re.compile(r"```(?:bash|sh)?\n(.*?)```", re.DOTALL)


def section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert m, f"README has no '## {title}' section"
    return m.group(1)


def test_fresh_machine_is_the_two_commands() -> None:
    block = FENCE.findall(section("On a fresh machine"))[0]
    commands = [ln.split("#")[0].strip() for ln in block.splitlines() if ln.strip()]
    assert commands == ["make local", "make test"]


def test_sections_present() -> None:
    for title in (
        "Prerequisites",
        "Layout",
        "Deploy to AWS dev in under 60 minutes",
        "CI/CD",
        "Operating it",
        "Performance",
    ):
        section(title)


def test_quickstart_has_the_four_steps_in_order() -> None:
    quick = section("Deploy to AWS dev in under 60 minutes")
    marks = [
        quick.index(s)
        for s in (
            "Bootstrap the state backend",
            "`make dev`",
            "Publish the DAGs",
            "internal ALB and SSO",
            "make destroy",
        )
    ]
    assert marks == sorted(marks)
    code = "\n".join(FENCE.findall(quick))
    assert "cd infra/bootstrap" in code and "backend_config" in code
    assert re.search(r"^make dev\b", code, re.MULTILINE) and re.search(r"^make destroy\b", code, re.MULTILINE)
    assert "dagsync publish --source dags" in code and "alb_dns_name" in code


def test_performance_links_every_result_and_shows_the_latest_figures() -> None:
    perf = section("Performance")
    links = re.findall(r"\]\((bench/[^)]+)\)", perf)
    results = {str(p.relative_to(REPO)) for p in (REPO / "bench").glob("*/RESULTS.md")}
    assert {"bench/dagsync/RESULTS.md", "bench/scaler/RESULTS.md", "bench/healthcheck/RESULTS.md"} <= results
    assert results <= set(links), results - set(links)
    assert all(re.fullmatch(r"bench/([a-z0-9_-]+/RESULTS\.md|README\.md)", link) for link in links)
    latest = perf[perf.index("### Latest figures") :]
    for needle in ("aws s3 sync", "rclone", "req/s", "p95"):
        assert needle in latest, needle
    # every figure row says whether its target was met
    rows = [ln for ln in latest.splitlines() if ln.startswith("| ") and not ln.startswith("| benchmark")]
    assert rows and all(
        re.search(r"met|missed|reported", ln.split("|")[-2]) for ln in rows if "---" not in ln
    )


def test_make_targets_exist() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))
    for target in set(re.findall(r"`make ([a-z][a-z0-9-]*)", README)) | set(
        re.findall(r"^make ([a-z][a-z0-9-]*)", "\n".join(FENCE.findall(README)), re.MULTILINE)
    ):
        assert target in targets, f"README mentions `make {target}`, which the Makefile lacks"


def test_relative_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#\s]+)\)", README):
        if target.startswith(("http://", "https://")) or target.startswith("bench/"):
            continue  # bench results are written by the benchmarks' owners; the table points at them
        assert (REPO / target).exists(), f"README links {target}, which does not exist"


def test_cli_lines_parse() -> None:
    from infractl.cli import build_parser as infra_parser

    from dagsync.cli import _parser as dagsync_parser

    parsers = {"dagsync": dagsync_parser(), "infra": infra_parser()}
    seen = 0
    for line in "\n".join(FENCE.findall(README)).splitlines():
        m = re.match(r"^(?:\.venv/bin/)?(dagsync|infra)\s+(.*)$", line.strip())
        if m:
            try:
                parsers[m.group(1)].parse_args(shlex.split(m.group(2).split(" #")[0]))
            except SystemExit:
                pytest.fail(f"README: `{line.strip()}` does not parse")
            seen += 1
    assert seen >= 1
    for script in re.findall(r"\b(scripts/[a-z_]+\.(?:py|sh))", README):
        assert (REPO / script).is_file(), script
