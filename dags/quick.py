"""quick: finishes in seconds. See dags/README.md."""

from __future__ import annotations

import time

from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="quick",
    schedule=None,
    catchup=False,
    tags=["synthetic"],
    params={"seconds": Param(1, type="number", minimum=0)},
    default_args={"retries": 0},
):

    @task
    def start(params: dict | None = None) -> float:
        time.sleep(float((params or {}).get("seconds", 1)))
        return time.time()

    @task
    def done(started: float) -> float:
        return time.time() - started

    done(start())
