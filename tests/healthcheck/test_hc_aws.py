"""ECS running vs desired, CloudWatch alarms in ALARM, and publishing health to CloudWatch: against the moto server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from healthcheck.config import Settings
from healthcheck.model import Snapshot, Status
from healthcheck.probes import Probes
from healthcheck.runner import Runner
from tests.support.healthcheck import PROBES_OFF, hc_env, run_service_tasks, wait_until

OFF = PROBES_OFF


def round_of(**kw: Any) -> Snapshot:
    s = Settings(**{**OFF, **kw})

    async def main() -> Snapshot:
        async with Probes(s) as probes:
            return await Runner(probes.probes(), s.rule()).run_once()

    return asyncio.run(main())


def make_services(ecs: Any, cluster: str, desired: dict[str, int]) -> None:
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=f"{cluster}-td",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "app", "image": "busybox", "cpu": 256, "memory": 512, "essential": True}
        ],
    )
    for name, count in desired.items():
        ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=f"{cluster}-td", desiredCount=count
        )


def test_ecs_running_vs_desired(aws_env: str) -> None:
    ecs = boto3.client("ecs")
    cluster = f"hc-{uuid.uuid4().hex[:8]}"
    make_services(ecs, cluster, {"airflow-api": 1, "airflow-worker": 3, "airflow-idle": 0})
    run_service_tasks(cluster, "airflow-api", f"{cluster}-td", 1)
    kw = {"ecs_enabled": True, "ecs_cluster": cluster, "ecs_worker_service": "airflow-worker"}

    comp = round_of(**kw, ecs_services="airflow-api,airflow-worker,airflow-idle").components["ecs"]
    # no worker task runs or starts: the worker service is down
    assert comp.status is Status.DOWN, comp.detail
    assert "airflow-worker 0/3 running" in comp.detail and "airflow-api 1/1 running" in comp.detail

    run_service_tasks(cluster, "airflow-worker", f"{cluster}-td", 1)
    comp = round_of(**kw, ecs_services="airflow-api,airflow-worker,airflow-idle").components["ecs"]
    assert comp.status is Status.DEGRADED, comp.detail  # short of its desired count
    assert comp.facts["workers"] == {"desired": 3, "running": 1, "pending": 0}

    run_service_tasks(cluster, "airflow-worker", f"{cluster}-td", 1)
    ecs.update_service(cluster=cluster, service="airflow-worker", desiredCount=2)
    comp = round_of(**kw, ecs_services="airflow-api,airflow-worker,airflow-idle").components["ecs"]
    assert comp.status is Status.OK and comp.facts["workers"]["running"] == 2
    assert comp.detail == "airflow-api 1/1 running; airflow-worker 2/2 running; airflow-idle 0/0 running"

    comp = round_of(**kw, ecs_services="airflow-api,airflow-gone").components["ecs"]
    assert comp.status is Status.DOWN and "airflow-gone missing" in comp.detail

    many = {f"svc-{i:02d}": 0 for i in range(12)}  # more than one DescribeServices call (10 per call)
    make_services(ecs, cluster + "-m", many)
    comp = round_of(ecs_enabled=True, ecs_cluster=cluster + "-m", ecs_services=",".join(many)).components[
        "ecs"
    ]
    assert comp.status is Status.OK and len(comp.facts["services"]) == 12


def test_cloudwatch_alarms_by_prefix(aws_env: str) -> None:
    cw = boto3.client("cloudwatch")
    prefix = f"hc{uuid.uuid4().hex[:6]}-"
    for name in ("queue-age", "api-5xx", "rds-cpu"):
        cw.put_metric_alarm(
            AlarmName=prefix + name,
            MetricName="M",
            Namespace="Test",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    cw.put_metric_alarm(
        AlarmName="other-" + prefix, MetricName="M", Namespace="Test", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cw.set_alarm_state(AlarmName="other-" + prefix, StateValue="ALARM", StateReason="test")
    comp = round_of(alarms_enabled=True, alarms_prefix=prefix).components["cloudwatch_alarms"]
    assert comp.status is Status.OK and comp.facts["in_alarm"] == 0, comp.detail

    for name in ("api-5xx", "rds-cpu"):
        cw.set_alarm_state(AlarmName=prefix + name, StateValue="ALARM", StateReason="test")
    comp = round_of(alarms_enabled=True, alarms_prefix=prefix).components["cloudwatch_alarms"]
    assert comp.status is Status.DEGRADED
    assert comp.detail == f"2 in ALARM: {prefix}api-5xx, {prefix}rds-cpu"


def test_aws_unreachable_is_down(aws_env: str, monkeypatch: Any) -> None:
    from devtools.servers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    snap = round_of(
        ecs_enabled=True,
        ecs_cluster="c",
        ecs_services="s",
        ecs_timeout=2,
        alarms_enabled=True,
        alarms_prefix="p",
    )
    assert snap.components["ecs"].status is Status.DOWN
    assert snap.components["cloudwatch_alarms"].status is Status.DOWN
    for name in ("ecs", "cloudwatch_alarms"):  # refused (or still retrying when the timeout hit)
        detail = snap.components[name].detail
        assert "Could not connect" in detail or "no answer within" in detail, detail


def test_publishes_component_health_to_cloudwatch(aws_env: str, live_app: Any, tmp_path: Path) -> None:
    cluster = f"hc-{uuid.uuid4().hex[:8]}"
    ecs = boto3.client("ecs")
    make_services(ecs, cluster, {"airflow-worker": 1})
    run_service_tasks(cluster, "airflow-worker", f"{cluster}-td", 1)
    namespace = f"HcTest/{uuid.uuid4().hex[:6]}"
    env = hc_env(
        ecs_enabled=True, ecs_cluster=cluster, ecs_services="airflow-worker,airflow-missing",
        dagsync_enabled=True, dagsync_state_dirs=str(tmp_path / "none"),
        publish_enabled=True, publish_namespace=namespace, publish_interval=1, publish_env="test",
    )  # fmt: skip
    app = live_app(env)
    cw = boto3.client("cloudwatch")

    def published() -> dict[str, float]:
        out = {}
        for m in cw.list_metrics(Namespace=namespace)["Metrics"]:
            dims = {d["Name"]: d["Value"] for d in m["Dimensions"]}
            stats = cw.get_metric_statistics(
                Namespace=namespace, MetricName=m["MetricName"], Dimensions=m["Dimensions"],
                StartTime=time.time() - 600, EndTime=time.time() + 60, Period=60, Statistics=["Maximum"],
            )["Datapoints"]  # fmt: skip
            if stats:
                out[dims.get("Component", m["MetricName"])] = max(p["Maximum"] for p in stats)
            assert dims.get("Env") == "test"
        return out

    got = wait_until(lambda: (p := published()) and len(p) == 5 and p, 60, what="published metrics")
    assert got == {
        "ecs": 2.0,
        "dagsync": 2.0,
        "OverallStatus": 1.0,
        "DagFreshnessSamples": 1.0,  # the DAG freshness SLI: one sample per round, bad while dagsync is not ok
        "DagFreshnessBad": 1.0,
    }  # down, down; both degrade-only -> degraded
    assert httpx.get(f"{app.url}/status").json()["status"] == "degraded"


def test_real_dagsync_status_files(aws_env: str, tmp_path: Path) -> None:
    """The real `dagsync sync` writes the per-sidecar status files; the probe reads them."""
    import subprocess
    import sys

    bucket = f"hc-dags-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="prod/hello.py", Body=b"# a DAG file\n")
    dest = tmp_path / "dags"
    dagsync = str(Path(sys.executable).parent / "dagsync")

    def sync(sidecar: str, source: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [dagsync, "sync", "--source", source, "--dest", str(dest), "--sidecar-id", sidecar, "--no-fsync",
             "--max-attempts", "1"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    ok = sync("task-a", f"s3://{bucket}/prod/")
    assert ok.returncode == 0, ok.stderr[-2000:]
    state = tmp_path / ".dagsync-dags"  # dagsync's default: <dest parent>/.dagsync-<dest name>
    assert (state / "sidecars" / "task-a.json").exists()
    kw = {"dagsync_enabled": True, "dagsync_state_dirs": str(state), "dagsync_max_age": 300}
    comp = round_of(**kw).components["dagsync"]
    assert comp.status is Status.OK, comp.detail
    assert comp.detail.startswith("1 sidecars; last sync ") and comp.facts["sidecars"] == 1

    bad = sync("task-b", f"s3://{bucket}-missing/prod/")
    assert bad.returncode != 0
    comp = round_of(**kw).components["dagsync"]
    assert comp.status is Status.DEGRADED and "task-b never synced" in comp.detail, comp.detail


def test_postgres_probe_reads_the_db_secret(aws_env: str, postgres_server: Any) -> None:
    """HEALTHCHECK_POSTGRES_SECRET_ARN: RDS-managed secret (username/password) + host/port/name settings; the
    secret is read again after a failed connect (rotation), and its value never shows."""
    sm = boto3.client("secretsmanager", endpoint_url=aws_env, region_name="us-east-1")
    pg = urlsplit(postgres_server.url)
    managed = {"username": "postgres", "password": "Managed-pw-91"}
    arn = sm.create_secret(Name=f"rds!db-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(managed))["ARN"]
    common: dict[str, Any] = {"postgres_enabled": True, "postgres_secret_arn": arn, "postgres_port": pg.port}

    snap = round_of(**common, postgres_host=pg.hostname, postgres_name=pg.path.lstrip("/"))
    assert snap.components["postgres"].status is Status.OK, snap.components["postgres"].detail

    # No host anywhere: down, with what to set, and no password in the status.
    snap = round_of(**common)
    comp = snap.components["postgres"]
    assert comp.status is Status.DOWN and "HEALTHCHECK_POSTGRES_HOST" in comp.detail
    assert "Managed-pw-91" not in json.dumps(snap.to_json())

    # A stale secret (database gone), then "rotated": the same Probes object reads it again after the failure.
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({**managed, "dbname": "rotated_away"}))
    s = Settings(**{**OFF, **common, "postgres_host": pg.hostname})

    async def two_rounds() -> tuple[Snapshot, Snapshot]:
        async with Probes(s) as probes:
            runner = Runner(probes.probes(), s.rule())
            first = await runner.run_once()
            sm.put_secret_value(
                SecretId=arn, SecretString=json.dumps({**managed, "dbname": pg.path.lstrip("/")})
            )
            return first, await runner.run_once()

    first, second = asyncio.run(two_rounds())
    assert first.components["postgres"].status is Status.DOWN
    assert second.components["postgres"].status is Status.OK, second.components["postgres"].detail
    assert "Managed-pw-91" not in json.dumps(first.to_json()) + json.dumps(second.to_json())


def test_postgres_secret_arn_is_validated() -> None:
    with pytest.raises(ValueError, match="Secrets Manager ARN"):
        Settings(**{**OFF, "postgres_secret_arn": "db-secret"})
