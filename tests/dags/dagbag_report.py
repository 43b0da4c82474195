"""Run under .venv-airflow: load DAG folders through Airflow's DagBag, write their structure as JSON to a file.

Usage: dagbag_report.py OUT.json FOLDER [FOLDER...]  (one Airflow import for all folders)
"""

from __future__ import annotations

import json
import sys


def report(folder: str) -> dict:
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=folder, include_examples=False, safe_mode=False)
    out = {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dags": {},
    }
    for dag_id, dag in bag.dags.items():
        out["dags"][dag_id] = {
            "fileloc": dag.fileloc,
            "schedule": str(dag.timetable.summary),
            "tasks": {
                t.task_id: {
                    "upstream": sorted(t.upstream_task_ids),
                    "downstream": sorted(t.downstream_task_ids),
                    "retries": t.retries,
                    "retry_delay_s": t.retry_delay.total_seconds(),
                    "operator": type(t).__name__,
                    "external_dag_id": getattr(t, "external_dag_id", None),
                    "external_task_id": getattr(t, "external_task_id", None),
                    "mode": getattr(t, "mode", None),
                }
                for t in dag.tasks
            },
            "params": {k: dag.params[k] for k in dag.params},
            "max_active_tasks": dag.max_active_tasks,
        }
    return out


def main(out_path: str, *folders: str) -> None:
    result = {folder: report(folder) for folder in folders}
    with open(out_path, "w") as fh:  # Airflow logs to stdout, so the report goes to a file
        json.dump(result, fh)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
