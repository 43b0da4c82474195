"""The synthetic DAG pack (dags/) loads through Airflow 3.1.8's own DagBag with no import errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devtools.airflow import airflow_bin

pytestmark = pytest.mark.airflow

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def load_dagbags(folders: list[Path], tmp: Path) -> dict[str, dict]:
    """DagBag in a subprocess of the Airflow venv (Airflow is not importable from the project venv)."""
    out = tmp / "dagbag.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONDONTWRITEBYTECODE": "1",  # keep __pycache__ out of the published folder
        }
    )
    proc = subprocess.run(
        [airflow_bin("python"), str(HERE / "dagbag_report.py"), str(out), *map(str, folders)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The pack, and a folder with a broken DAG file (so the harness is shown to catch import errors)."""
    tmp = tmp_path_factory.mktemp("dagbag")
    broken = tmp / "broken"
    broken.mkdir()
    (broken / "broken.py").write_text(
        "from airflow.sdk import DAG\nwith DAG(dag_id='broken') as dag:\n    1/0\n"
    )
    return load_dagbags([REPO / "dags", broken], tmp)


@pytest.fixture(scope="module")
def pack(bags: dict[str, dict]) -> dict:
    return bags[str(REPO / "dags")]


def test_pack_has_no_import_errors(pack: dict) -> None:
    assert pack["import_errors"] == {}
    assert set(pack["dags"]) == {"quick", "long", "failing", "external_sensor", "fanout"}
    for dag_id, dag in pack["dags"].items():
        assert dag["schedule"] == "None", f"{dag_id} must only run when triggered"


def test_quick_is_short(pack: dict) -> None:
    quick = pack["dags"]["quick"]
    assert quick["tasks"]["done"]["upstream"] == ["start"]
    assert quick["params"]["seconds"] <= 5


def test_long_outlasts_fargate_stop_timeout_without_retries(pack: dict) -> None:
    long = pack["dags"]["long"]
    assert long["params"]["seconds"] > 120  # longer than Fargate's maximum stopTimeout
    assert [t["retries"] for t in long["tasks"].values()] == [0]  # a killed attempt must show as failed


def test_failing_has_fast_retries(pack: dict) -> None:
    (task,) = pack["dags"]["failing"]["tasks"].values()
    assert task["retries"] >= 1
    assert task["retry_delay_s"] <= 5


def test_external_sensor_waits_on_a_pack_dag(pack: dict) -> None:
    sensor = pack["dags"]["external_sensor"]["tasks"]["wait_for_quick"]
    assert sensor["operator"] == "ExternalTaskSensor"
    assert sensor["external_dag_id"] in pack["dags"]
    assert sensor["external_task_id"] in pack["dags"][sensor["external_dag_id"]]["tasks"]
    assert sensor["mode"] == "reschedule"


def test_fanout_has_at_least_six_parallel_tasks(pack: dict) -> None:
    tasks = pack["dags"]["fanout"]["tasks"]
    roots = [tid for tid, t in tasks.items() if not t["upstream"]]
    assert len(roots) >= 6
    assert pack["dags"]["fanout"]["max_active_tasks"] >= len(roots)


def test_import_errors_are_reported(bags: dict[str, dict]) -> None:
    """The harness itself catches a broken DAG file (so the pack test above can fail)."""
    (bag,) = [b for folder, b in bags.items() if folder.endswith("broken")]
    assert list(bag["import_errors"]) and "ZeroDivisionError" in next(iter(bag["import_errors"].values()))
