"""Each service installs with only its own extra (pyproject.toml) and its console script runs there.

One venv per service, built once per session under pytest's tmp dir from a copy of the sources (the working tree
stays untouched), pinned by requirements/lock.txt, exactly as images/*/Dockerfile install them. Every non-stdlib
module the service's code imports (module level or lazily inside a function) must be importable in its venv, and
the other services' heavy dependencies must not be there. The installed size is printed (README: image sizes).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]

# service package -> (extra, console script, distributions that must NOT be installed with it)
SERVICES = {
    "dagsync": (
        "dagsync",
        "dagsync",
        {"fastapi", "uvicorn", "psycopg", "redis", "croniter", "httpx", "regopy"},
    ),
    "scaler": ("scaler", "scaler", {"fastapi", "uvicorn", "httpx", "watchfiles", "regopy"}),
    "healthcheck": ("healthcheck", "healthcheck", {"croniter", "watchfiles", "regopy"}),
    "infractl": (
        "infra",
        "infra",
        {"fastapi", "uvicorn", "psycopg", "redis", "prometheus-client", "watchfiles"},
    ),
}
FIRST_PARTY = {"platform_common", "dagsync", "scaler", "healthcheck", "infractl"}

pytestmark = pytest.mark.slow


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(top-level names, platform_common modules) of every absolute import in one file, lazy ones included."""
    tops: set[str] = set()
    common: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                tops.add(a.name.split(".")[0])
                if a.name.startswith("platform_common."):
                    common.add(a.name.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0:
                tops.add(node.module.split(".")[0])
            parts = node.module.split(".")
            if node.level == 0 and parts[0] == "platform_common":
                common.update(parts[1:2] or [a.name for a in node.names])
            elif node.level == 1 and path.parent.name == "platform_common":
                common.update(parts[:1] or [a.name for a in node.names])
    return tops, common


def imported_modules(package: str) -> set[str]:
    """Top-level names of every absolute import in ``services/<package>`` and in the ``platform_common`` modules it
    uses (followed transitively: a module no service of this extra imports needs none of its dependencies)."""
    out: set[str] = set()
    todo: set[str] = set()
    for path in (REPO / "services" / package).rglob("*.py"):
        tops, common = _imports(path)
        out |= tops
        todo |= common
    done: set[str] = {"__init__"}
    while todo - done:
        name = (todo - done).pop()
        done.add(name)
        path = REPO / "services" / "platform_common" / f"{name}.py"
        if path.exists():
            tops, common = _imports(path)
            out |= tops
            todo |= common
    return out - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}


@pytest.fixture(scope="session")
def service_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {}


def venv_for(service: str, cache: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    if service in cache:
        return cache[service]
    root = tmp_path_factory.mktemp(f"venv-{service}")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "services",
        src / "services",
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "*.pyc"),
    )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    extra = SERVICES[service][0]
    r = subprocess.run(
        [
            *PIP,
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-warn-script-location",
            "-c",
            str(REPO / "requirements" / "lock.txt"),
            f"{src}[{extra}]",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    cache[service] = venv
    return venv


def installed(venv: Path) -> dict[str, int]:
    """distribution name -> installed bytes (sizes from each distribution's RECORD, as pip wrote them)."""
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): "
        "sum(f.size or 0 for f in (d.files or ())) for d in m.distributions()}))"
    )
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(r.stdout))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_console_script_runs_with_only_its_extra(
    service: str, service_venvs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    venv = venv_for(service, service_venvs, tmp_path_factory)
    _, script, forbidden = SERVICES[service]
    r = subprocess.run([str(venv / "bin" / script), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "usage" in r.stdout.lower(), r.stdout + r.stderr

    mods = sorted(imported_modules(service))
    probe = (
        "import importlib.util, sys; print([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None])"
    )
    r = subprocess.run([str(venv / "bin" / "python"), "-c", probe, *mods], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", (
        f"{service}: not installed with its extra: {r.stdout}"
    )
    # every module of the package imports (module-level dependencies)
    walk = (
        f"import importlib, pkgutil, {service} as p;"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]"
    )
    r = subprocess.run([str(venv / "bin" / "python"), "-c", walk], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]

    dists = installed(venv)
    assert not forbidden & set(dists), (
        f"{service} venv holds other services' dependencies: {forbidden & set(dists)}"
    )
    total = sum(dists.values())
    print(
        f"\n{service} (extra [{SERVICES[service][0]}]): {len(dists)} distributions, {total / 1e6:.1f} MB installed"
    )


def test_import_scan_sees_lazy_imports() -> None:
    """The scan must see imports inside functions, or a lazily imported dependency could be missed."""
    assert {"watchfiles", "prometheus_client", "aiohttp"} <= imported_modules("dagsync")
    assert "regopy" in imported_modules("infractl")
    assert not {"os", "json", "dagsync", "platform_common"} & imported_modules("dagsync")
    # platform_common modules are followed from what a service imports: scaler uses platform_common.prometheus
    assert "prometheus_client" in imported_modules("scaler") and "botocore" in imported_modules("infractl")
    assert "prometheus_client" not in imported_modules("infractl")
