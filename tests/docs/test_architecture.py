"""docs/architecture.png is generated from docs/architecture.py and is current.

PNG bytes are not reproducible across graphviz versions, so currency is checked through the model's sha256:
it is committed in docs/architecture.model.json and stamped into the PNG when `make diagram` renders it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def arch() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "architecture_under_test", REPO / "docs" / "architecture.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


def test_committed_picture_is_current(arch: ModuleType) -> None:
    assert arch.validate(arch.model()) == []
    assert arch.stale_reasons() == [], "run `make diagram` and commit docs/architecture.png + .model.json"
    committed = json.loads((REPO / "docs" / "architecture.model.json").read_text())
    assert committed["sha256"] == arch.fingerprint(committed["model"])


def test_a_code_change_without_regenerating_is_caught(
    arch: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arch, "NODES", [*arch.NODES, arch.Node("extra", "s3", "new bucket", "regional")])
    reasons = arch.stale_reasons()
    assert any("does not match docs/architecture.py" in r for r in reasons)
    assert any("rendered from another version" in r for r in reasons)


def test_relabelled_edge_is_caught(arch: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    edges = list(arch.EDGES)
    edges[0] = dataclasses.replace(edges[0], label=edges[0].label + " (changed)")
    monkeypatch.setattr(arch, "EDGES", edges)
    assert arch.stale_reasons()


def test_png_stamp_roundtrip_and_foreign_png(arch: ModuleType, tmp_path: Path) -> None:
    png = (REPO / "docs" / "architecture.png").read_bytes()
    restamped = arch.stamp_png(png, arch.PNG_KEY, "0" * 64)
    assert arch.png_text(restamped)[arch.PNG_KEY] == "0" * 64
    bad = tmp_path / "a.png"
    bad.write_bytes(restamped)
    assert any("another version" in r for r in arch.stale_reasons(png_path=bad))


def test_the_picture_shows_what_it_must(arch: ModuleType) -> None:
    data = arch.model()
    nodes = {n["id"]: n for n in data["nodes"]}
    labels = " ".join(n["label"] for n in data["nodes"]).lower()
    clusters = " ".join(c["label"] for c in data["clusters"].values()).lower()
    assert "vpc" in clusters and "no nat" in clusters and "endpoints" in clusters
    ifaces = nodes["ep-if"]["label"]
    for svc in (
        "ecr.api",
        "ecr.dkr",
        "logs",
        "monitoring",
        "ecs",
        "sts",
        "secretsmanager",
        "ssm",
        "kms",
        "elasticfilesystem",
        "events",
    ):
        assert svc in ifaces, f"interface endpoint {svc} missing from the picture"
    assert nodes["ep-s3"]["cluster"] == "endpoints" and "gateway" in nodes["ep-s3"]["label"]
    for role in ("api-server", "scheduler", "dag-processor", "triggerer", "worker"):
        assert nodes[role]["cluster"] == f"svc-{role}"
        assert (
            nodes[f"sync-{role}"]["cluster"] == f"svc-{role}" and "dagsync" in nodes[f"sync-{role}"]["label"]
        )
    for svc in ("scaler", "healthcheck"):
        assert nodes[svc]["kind"] == "task"
    for word in ("rds", "redis", "efs", "s3", "alb"):
        assert word in labels or any(n["kind"] == word for n in data["nodes"]), word
    flows = {e["flow"] for e in data["edges"]}
    assert {"dags", "logs", "metrics"} <= flows
    edges = {(e["src"], e["dst"]) for e in data["edges"]}
    assert ("gha", "s3-dags") in edges and ("sync-worker", "efs") in edges  # the DAG path
    assert ("worker", "ep-s3") in edges and ("ep-s3", "s3-logs") in edges  # task logs
    assert ("scaler", "ep-if") in edges and ("ep-if", "cw") in edges  # metrics
    assert ("users", "alb") in edges and ("alb", "api-server") in edges and ("alb", "healthcheck") in edges


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="graphviz is installed by make test (ensure-system-packages)"
)
def test_render_produces_a_stamped_png(arch: ModuleType, tmp_path: Path) -> None:
    assert shutil.which("dot"), "graphviz missing: make test installs it (scripts/ensure-system-packages.sh)"
    out = tmp_path / "architecture.png"
    arch.render(arch.model(), out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 100_000
    assert arch.png_text(data)[arch.PNG_KEY] == arch.fingerprint(arch.model())
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 1500 and height > 800
