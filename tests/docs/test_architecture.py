"""docs/architecture*.png are generated from docs/architecture.py, are current, and draw what the config says.

PNG bytes are not reproducible across graphviz versions, so currency is checked through each view's sha256: it is
committed in docs/architecture.model.json and stamped into the PNG when `make diagram` renders it. The drawn flows
are checked against the configuration they describe: the execution-API route and the health aggregator's probes
against infra/modules/compute/main.tf (+ services/healthcheck/config.py defaults), the interface endpoints against
infra/modules/network/variables.tf.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from healthcheck.config import Settings as HealthSettings

REPO = Path(__file__).resolve().parents[2]
COMPUTE = REPO / "infra" / "modules" / "compute" / "main.tf"
NETWORK_VARS = REPO / "infra" / "modules" / "network" / "variables.tf"


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


# ------------------------------------------------------------------ the HCL the pictures describe
ASSIGN = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*=\s*(.+?)\s*$", re.MULTILINE)
QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"')


def hcl_assignments(text: str) -> dict[str, list[str]]:
    """Every `name = expr` line of a .tf file (expr without a trailing comment when it is a quoted string)."""
    out: dict[str, list[str]] = {}
    for name, expr in ASSIGN.findall(text):
        m = QUOTED.match(expr)
        out.setdefault(name, []).append(f'"{m.group(1)}"' if m else expr)
    return out


def resolve(assign: dict[str, list[str]], name: str) -> str:
    """A string local, with ${local.x} interpolations resolved and ${var.x} shown as <x> (name_prefix: <prefix>)."""
    values = assign.get(name, [])
    assert len(values) == 1, f"{name}: expected one assignment in {COMPUTE.name}, found {values}"
    ref = re.fullmatch(r"local\.(\w+)", values[0])
    if ref:
        return resolve(assign, ref.group(1))
    m = QUOTED.match(values[0])
    assert m, f"{name} = {values[0]} is not a plain string; teach this test the new shape"
    text = m.group(1)
    text = re.sub(r"\$\{local\.(\w+)\}", lambda r: resolve(assign, r.group(1)), text)
    text = re.sub(r"\$\{var\.name_prefix\}", "<prefix>", text)
    return re.sub(r"\$\{var\.(\w+)\}", r"<\1>", text)


def switched_on(assign: dict[str, list[str]], env: str, default: bool) -> bool:
    """Whether the compute module can run with this HEALTHCHECK_*_ENABLED on (a conditional counts as on)."""
    values = assign.get(env)
    if values is None:
        return default
    assert len(values) == 1, env
    literals = set(re.findall(r'"(true|false)"', values[0]))
    assert literals, f"{env} = {values[0]}: not a boolean string; teach this test the new shape"
    return "true" in literals


@pytest.fixture(scope="module")
def compute() -> dict[str, list[str]]:
    assign = hcl_assignments(COMPUTE.read_text())
    for must in ("api_internal_url", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "HEALTHCHECK_AIRFLOW_URL"):
        assert must in assign, f"{must} no longer in {COMPUTE}: update this test and the pictures"
    return assign


def target_of(url: str) -> str:
    """The node a task's API URL reaches: the Cloud Map name of the api-server service, or the ALB."""
    if "<api_base_url>" in url:  # the public URL: the ALB's name or the UI's host name
        return "alb"
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    text = COMPUTE.read_text()
    registered = re.search(r'resource "aws_service_discovery_service" "api" \{\s*name\s*=\s*"([\w-]+)"', text)
    namespace = re.search(r'api_namespace\s*=\s*"\$\{var\.name_prefix\}(\.[\w.]+)"', text)
    if registered and namespace and host == f"{registered.group(1)}.<prefix>{namespace.group(1)}":
        assert "service_registries" in text, "the api-server service no longer registers in Cloud Map"
        return registered.group(1)
    if "alb" in host:
        return "alb"
    raise AssertionError(f"{url}: unknown target; draw it and teach this test")


def edges(data: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in data["edges"]:
        out.setdefault((e["src"], e["dst"]), []).append(e)
    return out


# ------------------------------------------------------------------ currency
def test_committed_pictures_are_current(arch: ModuleType) -> None:
    for view in arch.VIEWS:
        assert arch.validate(arch.model(view)) == [], view
    assert arch.stale_reasons() == [], "run `make diagram` and commit docs/architecture*.png + .model.json"
    for view, committed in arch.committed_models().items():
        assert committed["sha256"] == arch.fingerprint(committed["model"]), view


def test_a_code_change_without_regenerating_is_caught(
    arch: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arch, "NODES", [*arch.NODES, arch.Node("extra", "s3", "new bucket", "regional")])
    reasons = arch.stale_reasons()
    assert any("(detailed) does not match docs/architecture.py" in r for r in reasons)
    assert any("architecture.png was rendered from another version" in r for r in reasons)
    assert not any("overview" in r for r in reasons)


def test_relabelled_overview_edge_is_caught(arch: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    edges_ = list(arch.OVERVIEW_EDGES)
    edges_[0] = dataclasses.replace(edges_[0], label=edges_[0].label + " (changed)")
    monkeypatch.setattr(arch, "OVERVIEW_EDGES", edges_)
    reasons = arch.stale_reasons()
    assert any("(overview) does not match" in r for r in reasons)
    assert any("architecture-overview.png was rendered from another version" in r for r in reasons)


def test_png_stamp_roundtrip_and_foreign_png(arch: ModuleType, tmp_path: Path) -> None:
    png = (REPO / "docs" / "architecture.png").read_bytes()
    restamped = arch.stamp_png(png, arch.PNG_KEY, "0" * 64)
    assert arch.png_text(restamped)[arch.PNG_KEY] == "0" * 64
    bad = tmp_path / "a.png"
    bad.write_bytes(restamped)
    assert arch.stale_reasons(pngs={"overview": bad}) == [
        "a.png was rendered from another version of docs/architecture.py"
    ]


# ------------------------------------------------------------------ the pictures draw the configuration
@pytest.mark.parametrize("view", ["detailed", "overview"])
def test_workers_reach_the_execution_api_where_compute_points_them(
    arch: ModuleType, compute: dict[str, list[str]], view: str
) -> None:
    url = resolve(compute, "AIRFLOW__CORE__EXECUTION_API_SERVER_URL")
    dst = target_of(url)
    drawn = edges(arch.model(view))
    assert ("worker", dst) in drawn, f"{view}: workers call {url}, the picture has no worker -> {dst}"
    for other in {"api-server", "alb"} - {dst}:
        assert ("worker", other) not in drawn, f"{view}: worker -> {other}, but workers call {url}"
    (edge,) = drawn[("worker", dst)]
    if dst == "api-server":
        assert "Cloud Map" in edge["label"] or url in edge["label"], edge
    if view == "detailed":
        assert url in edge["label"], f"the detailed picture should name {url}"


def test_the_health_probes_drawn_are_the_ones_compute_turns_on(
    arch: ModuleType, compute: dict[str, list[str]]
) -> None:
    fields = HealthSettings.model_fields
    probes = {name.removesuffix("_enabled") for name in fields if name.endswith("_enabled")}
    assert set(arch.HEALTH_PROBES) == probes, (
        "a probe was added or removed: say in HEALTH_PROBES where it goes"
    )
    on = {
        p
        for p in probes
        if switched_on(compute, f"HEALTHCHECK_{p.upper()}_ENABLED", bool(fields[f"{p}_enabled"].default))
    }
    assert "scaler" not in on, "compute turns the scaler probe on again: draw healthcheck -> scaler"
    airflow_url = resolve(compute, "HEALTHCHECK_AIRFLOW_URL")
    assert target_of(airflow_url) == arch.HEALTH_PROBES["airflow"], f"the airflow probe calls {airflow_url}"

    detailed = arch.model("detailed")
    want = {arch.HEALTH_PROBES[p] for p in on}
    assert {d for s, d in edges(detailed) if s == "healthcheck"} == want

    members = arch.OVERVIEW_MEMBERS
    overview = arch.model("overview")
    want_overview = {o for o, ids in members.items() for d in want if d in ids}
    assert {d for s, d in edges(overview) if s == "healthcheck"} == want_overview


def test_the_switch_reader_sees_literals_conditionals_and_defaults() -> None:
    assign = hcl_assignments(
        'A = "false" # off\nB = local.efs ? "true" : "false"\nC = "true"\nD = var.x == "" ? "false" : "true"\n'
    )
    assert assign["A"] == ['"false"']
    assert [switched_on(assign, k, True) for k in "ABCD"] == [False, True, True, True]
    assert switched_on(assign, "MISSING", False) is False


def test_the_interface_endpoints_drawn_are_the_network_module_defaults(arch: ModuleType) -> None:
    text = NETWORK_VARS.read_text()
    block = re.search(r'variable "interface_endpoints" \{.*?default\s*=\s*\[(.*?)\]', text, re.DOTALL)
    assert block, "interface_endpoints default not found in infra/modules/network/variables.tf"
    wanted = re.findall(r'"([\w.-]+)"', block.group(1))
    assert len(wanted) >= 5
    nodes = {n["id"]: n for n in arch.model("detailed")["nodes"]}
    drawn = set(re.split(r"[\s·]+", nodes["ep-if"]["label"].split("\n", 1)[1])) - {""}
    assert drawn == set(wanted)


def test_every_overview_edge_stands_for_a_detailed_flow(arch: ModuleType) -> None:
    """An overview edge a -> b needs a detailed path from a member of a to one of b through endpoints only."""
    detailed = edges(arch.model("detailed"))
    succ: dict[str, set[str]] = {}
    for s, d in detailed:
        succ.setdefault(s, set()).add(d)
    transit = {"ep-s3", "ep-if"}
    members = arch.OVERVIEW_MEMBERS
    overview = arch.model("overview")
    assert set(members) == {n["id"] for n in overview["nodes"]}
    for src, dst in edges(overview):
        frontier, seen, found = set(members[src]), set(), False
        while frontier and not found:
            node = frontier.pop()
            seen.add(node)
            for nxt in succ.get(node, ()):
                if nxt in members[dst]:
                    found = True
                elif nxt in transit and nxt not in seen:
                    frontier.add(nxt)
        assert found, f"overview draws {src} -> {dst}, the detailed picture has no such flow"


def test_the_picture_shows_what_it_must(arch: ModuleType) -> None:
    data = arch.model("detailed")
    nodes = {n["id"]: n for n in data["nodes"]}
    labels = " ".join(n["label"] for n in data["nodes"]).lower()
    clusters = " ".join(c["label"] for c in data["clusters"].values()).lower()
    assert "vpc" in clusters and "no nat" in clusters and "endpoints" in clusters
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
    drawn = set(edges(data))
    assert ("gha", "s3-dags") in drawn and ("sync-worker", "efs") in drawn  # the DAG path
    assert ("worker", "ep-s3") in drawn and ("ep-s3", "s3-logs") in drawn  # task logs
    assert ("scaler", "ep-if") in drawn and ("ep-if", "cw") in drawn  # metrics
    assert ("users", "alb") in drawn and ("alb", "api-server") in drawn and ("alb", "healthcheck") in drawn


def test_the_overview_is_small(arch: ModuleType) -> None:
    data = arch.model("overview")
    assert len(data["nodes"]) <= 15 and len(data["edges"]) <= 25
    assert all(n["label"].count("\n") <= 2 for n in data["nodes"])
    assert data["style"]["node_fontsize"] >= 2 * arch.model("detailed")["style"]["node_fontsize"] - 4


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="graphviz is installed by make test (ensure-system-packages)"
)
@pytest.mark.parametrize("view", ["overview", "detailed"])
def test_render_produces_a_stamped_png(arch: ModuleType, tmp_path: Path, view: str) -> None:
    out = tmp_path / "architecture.png"
    arch.render(arch.model(view), out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 100_000
    assert arch.png_text(data)[arch.PNG_KEY] == arch.fingerprint(arch.model(view))
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 1500 and height > 800
    if view == "overview":  # readable at README width: its labels are a large share of the picture
        assert width < 2600, width
