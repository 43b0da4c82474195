"""scripts/check_dagbag.py (the dag-sync workflow's parse gate) with the real Airflow 3.1.8 from .venv-airflow."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.airflow import airflow_bin

pytestmark = pytest.mark.airflow
REPO = Path(__file__).resolve().parents[2]


def run(folder: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp / "home")
    return subprocess.run(
        [airflow_bin("python"), str(REPO / "scripts" / "check_dagbag.py"), str(folder), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def test_the_pack_parses_and_its_ids_are_listed(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    proc = run(REPO / "dags", tmp_path, "--ids-out", str(ids))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ids.read_text().split() == ["external_sensor", "failing", "fanout", "long", "quick"]
    assert "5 DAG(s) parsed with no import errors" in proc.stderr


def test_an_import_error_fails_the_gate_and_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(REPO / "dags" / "quick.py", folder / "quick.py")
    (folder / "broken.py").write_text("from airflow.sdk import DAG\nimport no_such_module_anywhere\n")
    ids = tmp_path / "ids.txt"
    proc = run(folder, tmp_path, "--ids-out", str(ids))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert any(ln.startswith(f"{folder / 'broken.py'}: ") and "no_such_module_anywhere" in ln for ln in lines)
    assert lines[-1] == "DagBag: 1 file(s) failed to import; fix them before publishing"
    assert not ids.exists()  # nothing to publish from a broken set


def test_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    proc = run(tmp_path / "nope", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: DAG folder {tmp_path / 'nope'} does not exist; pass the folder that holds the DAG files"
    ]
