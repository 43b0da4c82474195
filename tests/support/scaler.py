"""Helpers for the scaler tests: Airflow metadata rows, an ECS worker service on moto, CloudWatch read-back, the
scaler factory. The recording AWS proxy: tests/support/aws.py."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg

from scaler.config import load
from scaler.runner import Scaler

ALL_STATES = (
    None,
    "scheduled",
    "queued",
    "running",
    "success",
    "failed",
    "up_for_retry",
    "up_for_reschedule",
    "upstream_failed",
    "skipped",
    "removed",
    "restarting",
    "deferred",
)


class AirflowRows:
    """Real rows in the real Airflow 3.1.8 schema: dag_bundle -> dag -> dag_version -> dag_run -> task_instance."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.dag_id = f"scaler_dag_{uuid.uuid4().hex[:8]}"
        self.run_id = "manual__scaler_test"
        self.version_id = uuid.uuid4()
        c = self.conn
        c.execute(
            "INSERT INTO dag_bundle (name, active) VALUES ('scaler-tests', true) ON CONFLICT DO NOTHING"
        )
        c.execute(
            "INSERT INTO dag (dag_id, bundle_name, is_paused, max_active_tasks, max_consecutive_failed_dag_runs,"
            " has_task_concurrency_limits) VALUES (%s, 'scaler-tests', false, 16, 0, false)",
            (self.dag_id,),
        )
        c.execute(
            "INSERT INTO dag_version (id, version_number, dag_id, created_at, last_updated)"
            " VALUES (%s, 1, %s, now(), now())",
            (self.version_id, self.dag_id),
        )
        c.execute(
            "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, state, created_dag_version_id)"
            " VALUES (%s, %s, 'manual', now(), 'running', %s)",
            (self.dag_id, self.run_id, self.version_id),
        )
        self.n = 0

    def add(
        self, state: str | None, count: int = 1, hostname: str | None = None, queue: str = "default"
    ) -> list[str]:
        ids = []
        for _ in range(count):
            self.n += 1
            ti_id = uuid.uuid4()
            self.conn.execute(
                "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, state, try_number, hostname,"
                " pool, pool_slots, queue, priority_weight, operator, dag_version_id, queued_dttm, start_date)"
                " VALUES (%s, %s, %s, %s, -1, %s, 1, %s, 'default_pool', 1, %s, 1, 'BashOperator', %s,"
                " now(), CASE WHEN %s = 'running' THEN now() END)",
                (
                    ti_id,
                    f"t{self.n}",
                    self.dag_id,
                    self.run_id,
                    state,
                    hostname,
                    queue,
                    self.version_id,
                    state,
                ),
            )
            ids.append(str(ti_id))
        return ids

    def set_state(self, ti_ids: list[str], state: str) -> None:
        self.conn.execute("UPDATE task_instance SET state = %s WHERE id = ANY(%s::uuid[])", (state, ti_ids))

    def clear(self) -> None:
        self.conn.execute("DELETE FROM task_instance")

    def close(self) -> None:
        self.conn.execute("DELETE FROM dag WHERE dag_id = %s", (self.dag_id,))
        self.conn.close()


@dataclass
class WorkerTask:
    arn: str
    ip: str
    dns: str


@dataclass
class EcsWorkers:
    cluster: str
    service: str
    tasks: list[WorkerTask]
    client: Any

    def desired(self) -> int:
        return int(
            self.client.describe_services(cluster=self.cluster, services=[self.service])["services"][0][
                "desiredCount"
            ]
        )

    def protection(self) -> dict[str, bool]:
        resp = self.client.get_task_protection(cluster=self.cluster, tasks=[t.arn for t in self.tasks])
        return {p["taskArn"]: bool(p["protectionEnabled"]) for p in resp["protectedTasks"]}


def ecs_workers(endpoint: str, n_tasks: int, desired: int) -> EcsWorkers:
    """An ECS cluster with a Fargate worker service and ``n_tasks`` awsvpc tasks in the service's group."""
    kw = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    ec2, ecs = boto3.client("ec2", **kw), boto3.client("ecs", **kw)
    suffix = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # Fargate tasks get DNS names
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    cluster, service = f"airflow-{suffix}", f"workers-{suffix}"
    net = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": []}}
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=f"worker-{suffix}",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        containerDefinitions=[
            {"name": "worker", "image": "airflow", "cpu": 1024, "memory": 2048, "stopTimeout": 120}
        ],
    )
    ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition=f"worker-{suffix}",
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration=net,
    )
    # moto does not start a service's tasks itself: start them in the service's group, like ECS does.
    resp = ecs.run_task(
        cluster=cluster,
        taskDefinition=f"worker-{suffix}",
        count=n_tasks,
        launchType="FARGATE",
        group=f"service:{service}",
        networkConfiguration=net,
    )
    tasks = []
    for t in resp["tasks"]:
        details = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}
        tasks.append(WorkerTask(t["taskArn"], details["privateIPv4Address"], details["privateDnsName"]))
    return EcsWorkers(cluster, service, tasks, ecs)


def metric_stats(
    endpoint: str, namespace: str, name: str, env: str = "test", service: str = "workers"
) -> dict[str, float]:
    """All datapoints of ``name`` from the last hour, read back from CloudWatch (moto), aggregated into one:
    {"Maximum", "Minimum", "Sum", "SampleCount"}; {} when nothing was published."""
    cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")
    now = time.time()
    resp = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": "env", "Value": env}, {"Name": "service", "Value": service}],
        StartTime=now - 3600,
        EndTime=now + 600,
        Period=7200,
        Statistics=["Maximum", "Minimum", "Sum", "SampleCount"],
    )
    points = resp["Datapoints"]
    if not points:
        return {}
    return {
        k: sum(p[k] for p in points)
        if k in ("Sum", "SampleCount")
        else (max if k == "Maximum" else min)(p[k] for p in points)
        for k in ("Maximum", "Minimum", "Sum", "SampleCount")
    }


def make_scaler(redis_url: str, db_url: str, queue: str, namespace: str, **extra: object) -> Scaler:
    """A Scaler with the test defaults (concurrency 4, 0..10 workers, no cooldown, no metrics port); ``extra``
    overrides settings by field name."""
    flags: dict[str, object] = {
        "redis_url": redis_url,
        "db_url": db_url,
        "queues": queue if queue else "default",
        "worker_concurrency": 4,
        "min_workers": 0,
        "max_workers": 10,
        "cooldown": 0,
        "cw_namespace": namespace,
        "cw_env": "test",
        "cw_service": "workers",
        "metrics_port": 0,
    }
    flags.update(extra)
    return Scaler(load(flags))
