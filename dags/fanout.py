"""fanout: 8 parallel tasks, then a join. See dags/README.md."""

from __future__ import annotations

import time

from airflow.sdk import DAG, Param, task

WIDTH = 8

with DAG(
    dag_id="fanout",
    schedule=None,
    catchup=False,
    tags=["synthetic"],
    params={"seconds": Param(30, type="number", minimum=0)},
    max_active_tasks=WIDTH,
    default_args={"retries": 0},
):

    @task
    def join() -> int:
        return WIDTH

    done = join()
    for i in range(WIDTH):

        @task(task_id=f"work_{i}")
        def work(params: dict | None = None) -> float:
            seconds = float((params or {}).get("seconds", 30))
            time.sleep(seconds)
            return seconds

        work() >> done
