"""external_sensor: waits for quick.done at the same logical date. See dags/README.md."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk import DAG, task

with DAG(
    dag_id="external_sensor",
    schedule=None,
    catchup=False,
    tags=["synthetic"],
    default_args={"retries": 0},
):
    wait = ExternalTaskSensor(
        task_id="wait_for_quick",
        external_dag_id="quick",
        external_task_id="done",
        allowed_states=["success"],
        failed_states=["failed", "upstream_failed"],
        mode="reschedule",  # frees the worker slot between pokes
        poke_interval=5,
        timeout=int(timedelta(minutes=10).total_seconds()),
    )

    @task
    def after_quick() -> str:
        return "quick is done"

    wait >> after_quick()
