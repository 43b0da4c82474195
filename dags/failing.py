"""failing: fails deterministically, with retries configured. See dags/README.md."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

with DAG(
    dag_id="failing",
    schedule=None,
    catchup=False,
    tags=["synthetic"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1), "retry_exponential_backoff": False},
):

    @task
    def always_fails() -> None:
        raise RuntimeError("failing DAG: this task fails on purpose")

    always_fails()
