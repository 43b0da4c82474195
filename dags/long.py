"""long: one task that runs longer than Fargate's 120 s stopTimeout. See dags/README.md."""

from __future__ import annotations

import time

from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="long",
    schedule=None,
    catchup=False,
    tags=["synthetic"],
    params={"seconds": Param(135, type="number", minimum=0)},
    # A retry would hide a killed attempt: the run must end failed if the task is ever interrupted.
    default_args={"retries": 0},
):

    @task
    def sleep_long(params: dict | None = None) -> float:
        seconds = float((params or {}).get("seconds", 135))
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 5.0))
        return seconds

    sleep_long()
