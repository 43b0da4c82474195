"""Whole cycles against real Redis, the real Airflow schema and moto (CloudWatch, ECS, Secrets Manager) over HTTP."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from celery import Celery

from tests.support.aws import AwsProxy
from tests.support.scaler import AirflowRows, ecs_workers, make_scaler, metric_stats

pytestmark = pytest.mark.airflow


def send(redis_url: str, queue: str, n: int) -> None:
    app = Celery("producer", broker=redis_url)
    for _ in range(n):
        app.send_task("dags.do_work", queue=queue)


def test_publishes_one_batch_with_every_metric(
    aws_proxy: AwsProxy, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    rows.add("queued", 6)
    rows.add("running", 3, hostname="h1")
    send(redis_url, "default", 9)
    scaler = make_scaler(redis_url, airflow_db_url, "default", namespace)
    result = scaler.cycle()
    assert result.errors == []
    d = result.decision
    assert (d.queued, d.running, d.broker_depth, d.desired) == (6, 3, 9, 3)
    assert aws_proxy.ops().count("PutMetricData") == 1  # one batched call per cycle
    got = {
        name: metric_stats(aws_proxy.upstream, namespace, name)
        for name in ("QueuedTasks", "RunningTasks", "BrokerDepth", "DesiredWorkers", "ScalerErrors")
    }
    assert {k: v["Maximum"] for k, v in got.items()} == {
        "QueuedTasks": 6,
        "RunningTasks": 3,
        "BrokerDepth": 9,
        "DesiredWorkers": 3,
        "ScalerErrors": 0,
    }
    # the Prometheus endpoint carries the same figures
    text = scaler.metrics.render()[0].decode()
    for line in (
        "scaler_queued_tasks 6.0",
        "scaler_running_tasks 3.0",
        "scaler_broker_depth 9.0",
        "scaler_desired_workers 3.0",
    ):
        assert line in text
    scaler.close()


def test_ecs_mode_sets_desired_count_and_publishes_shortfall_at_zero_workers(
    aws_env: str, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    workers = ecs_workers(aws_env, n_tasks=0, desired=0)
    send(redis_url, "default", 10)  # a broker backlog while the DB says 0
    scaler = make_scaler(
        redis_url,
        airflow_db_url,
        "default",
        namespace,
        apply="ecs",
        ecs_cluster=workers.cluster,
        ecs_service=workers.service,
    )
    result = scaler.cycle()
    assert result.errors == [], result.errors
    assert result.decision.current == 0 and result.decision.desired == 3 and result.applied == 3
    assert workers.desired() == 3
    assert metric_stats(aws_env, namespace, "WorkerShortfall")["Maximum"] == 3  # defined at 0 workers
    assert metric_stats(aws_env, namespace, "CurrentWorkers")["Maximum"] == 0
    scaler.close()


def test_busy_tasks_protected_before_scale_in_and_cleared_when_idle(
    aws_proxy: AwsProxy, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    workers = ecs_workers(aws_proxy.upstream, n_tasks=3, desired=3)
    a, b, c = workers.tasks
    # A runs a long task (longer than Fargate's 120 s stopTimeout); TI hostnames as Airflow records them.
    long_ti = rows.add("running", 1, hostname=a.dns)
    b_ti = rows.add("running", 1, hostname=b.ip)
    scaler = make_scaler(
        redis_url,
        airflow_db_url,
        "default",
        namespace,
        apply="ecs",
        ecs_cluster=workers.cluster,
        ecs_service=workers.service,
        cooldown=0,
        protection_minutes=90,
    )
    result = scaler.cycle()
    assert result.errors == [], result.errors
    assert result.decision.desired == 1 and result.applied == 1  # 2 running / 4 per worker
    assert workers.desired() == 1
    assert workers.protection() == {a.arn: True, b.arn: True, c.arn: False}
    # ordering: both busy tasks were protected before the scale-in went out
    ops = aws_proxy.ops()
    assert ops.index("UpdateTaskProtection") < ops.index("UpdateService")
    first = json.loads(aws_proxy.calls[ops.index("UpdateTaskProtection")][2])
    assert first["protectionEnabled"] is True and sorted(first["tasks"]) == sorted([a.arn, b.arn])
    assert first["expiresInMinutes"] == 90

    # B's task finishes: its protection is cleared; A (still running) stays protected.
    rows.set_state(b_ti, "success")
    result = scaler.cycle()
    assert result.errors == []
    assert workers.protection() == {a.arn: True, b.arn: False, c.arn: False}
    rows.set_state(long_ti, "success")
    scaler.cycle()
    assert workers.protection() == {a.arn: False, b.arn: False, c.arn: False}
    scaler.close()


def test_scale_in_held_when_protection_fails(
    aws_proxy: AwsProxy, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    workers = ecs_workers(aws_proxy.upstream, n_tasks=2, desired=2)
    rows.add("running", 1, hostname=workers.tasks[0].dns)
    aws_proxy.fail["UpdateTaskProtection"] = "500"
    scaler = make_scaler(
        redis_url,
        airflow_db_url,
        "default",
        namespace,
        apply="ecs",
        ecs_cluster=workers.cluster,
        ecs_service=workers.service,
        cooldown=0,
    )
    result = scaler.cycle()
    assert "UpdateService" not in aws_proxy.ops()
    assert workers.desired() == 2
    assert any("held" in e for e in result.errors)
    assert metric_stats(aws_proxy.upstream, namespace, "ScalerErrors")["Maximum"] >= 1
    aws_proxy.fail.clear()  # protection works again: the scale-in goes out, after it
    result = scaler.cycle()
    assert result.applied == 1 and workers.desired() == 1
    assert workers.protection()[workers.tasks[0].arn] is True
    scaler.close()


def test_cloudwatch_throttling_does_not_stop_the_cycle(
    aws_proxy: AwsProxy, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    workers = ecs_workers(aws_proxy.upstream, n_tasks=0, desired=0)
    rows.add("queued", 8)
    aws_proxy.fail["PutMetricData"] = "throttle"
    scaler = make_scaler(
        redis_url,
        airflow_db_url,
        "default",
        namespace,
        apply="ecs",
        ecs_cluster=workers.cluster,
        ecs_service=workers.service,
    )
    result = scaler.cycle()
    assert any("cloudwatch" in e and "Throttling" in e for e in result.errors), result.errors
    assert aws_proxy.ops().count("PutMetricData") == 1
    assert aws_proxy.attempts.count("PutMetricData") >= 2  # `standard` mode retried the throttled call
    assert result.applied == 2 and workers.desired() == 2  # scaling went on regardless
    assert metric_stats(aws_proxy.upstream, namespace, "DesiredWorkers") == {}
    aws_proxy.fail.clear()
    result = scaler.cycle()
    assert not any("cloudwatch" in e for e in result.errors)
    assert metric_stats(aws_proxy.upstream, namespace, "DesiredWorkers")["Maximum"] == 2
    # the throttled cycle's error is counted in the next publish
    assert metric_stats(aws_proxy.upstream, namespace, "ScalerErrors")["Maximum"] >= 1
    scaler.close()


def test_db_url_from_secrets_manager(
    aws_env: str, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    sm = boto3.client("secretsmanager", endpoint_url=aws_env, region_name="us-east-1")
    host_port = airflow_db_url.split("@", 1)[1].split("/", 1)[0]
    secret = {
        "engine": "postgres",
        "username": "postgres",
        "password": "p@ss/word",
        "host": host_port.split(":")[0],
        "port": int(host_port.split(":")[1]),
        "dbname": airflow_db_url.rsplit("/", 1)[1],
    }
    arn = sm.create_secret(Name=f"airflow/db-{namespace[-8:]}", SecretString=json.dumps(secret))["ARN"]
    rows.add("queued", 5)
    scaler = make_scaler(redis_url, None, "default", namespace, db_secret_arn=arn)  # type: ignore[arg-type]
    result = scaler.cycle()
    assert result.errors == [] and result.decision.queued == 5
    assert "p@ss" not in json.dumps(scaler.last)
    scaler.close()

    # An RDS-managed master secret holds only username/password: host, port and name come from SCALER_DB_*.
    managed = {"username": "postgres", "password": "rds-managed-pw"}
    arn2 = sm.create_secret(Name=f"rds!db-{namespace[-8:]}", SecretString=json.dumps(managed))["ARN"]
    scaler = make_scaler(
        redis_url,
        None,
        "default",
        namespace,
        db_secret_arn=arn2,
        db_host=host_port.split(":")[0],  # type: ignore[arg-type]
        db_port=int(host_port.split(":")[1]),
        db_name=airflow_db_url.rsplit("/", 1)[1],
    )
    result = scaler.cycle()
    assert result.errors == [] and result.decision.queued == 5
    scaler.close()
    scaler = make_scaler(redis_url, None, "default", namespace, db_secret_arn=arn2)  # type: ignore[arg-type]
    result = scaler.cycle()  # no host anywhere: a clear error, and the cycle holds
    assert not result.measured and any("SCALER_DB_HOST" in e for e in result.errors)
    assert "rds-managed-pw" not in json.dumps(scaler.last)
    scaler.close()


@pytest.mark.airflow
def test_secret_is_read_again_after_a_db_failure(
    aws_env: str, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    """Like an RDS password rotation: the cached URL stops working, the next cycle reads the secret again."""
    sm = boto3.client("secretsmanager", endpoint_url=aws_env, region_name="us-east-1")
    stale = airflow_db_url.rsplit("/", 1)[0] + "/rotated_away"
    arn = sm.create_secret(Name=f"airflow/rot-{namespace[-8:]}", SecretString=stale)["ARN"]
    rows.add("queued", 3)
    scaler = make_scaler(redis_url, None, "default", namespace, db_secret_arn=arn)  # type: ignore[arg-type]
    assert not scaler.cycle().measured
    sm.put_secret_value(SecretId=arn, SecretString=airflow_db_url)
    result = scaler.cycle()
    assert result.measured and result.decision.queued == 3
    scaler.close()


def test_scale_in_held_while_a_busy_host_matches_no_task(
    aws_env: str, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    workers = ecs_workers(aws_env, n_tasks=2, desired=2)
    rows.add("running", 1, hostname="laptop.example.org")  # a hostname no worker task has
    common = {
        "apply": "ecs",
        "ecs_cluster": workers.cluster,
        "ecs_service": workers.service,
        "cooldown": 0,
    }
    scaler = make_scaler(redis_url, airflow_db_url, "default", namespace, **common)
    result = scaler.cycle()
    assert result.decision.desired == 1 and result.applied is None and workers.desired() == 2
    assert any("match no worker task" in e for e in result.errors)
    assert scaler.last is not None and scaler.last["unmatched_busy_hosts"] == ["laptop.example.org"]
    scaler.close()
    lenient = make_scaler(redis_url, airflow_db_url, "default", namespace, unmatched_hosts="ignore", **common)
    assert lenient.cycle().applied == 1 and workers.desired() == 1
    lenient.close()


def test_off_hours_drains_running_work_then_scales_to_zero(
    aws_env: str, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    import datetime as dt

    # active only on the day after tomorrow: now is off-hours, even if the clock passes midnight meanwhile
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%a")
    workers = ecs_workers(aws_env, n_tasks=2, desired=2)
    a = workers.tasks[0]
    ti = rows.add("running", 1, hostname=a.ip)
    scaler = make_scaler(
        redis_url,
        airflow_db_url,
        "default",
        namespace,
        apply="ecs",
        ecs_cluster=workers.cluster,
        ecs_service=workers.service,
        cooldown=0,
        min_workers=2,
        schedule=f"{later} 00:00-24:00",
        timezone="UTC",
    )
    result = scaler.cycle()
    assert result.decision.window == "off-hours" and (result.decision.min, result.decision.desired) == (0, 1)
    assert workers.desired() == 1 and workers.protection()[a.arn] is True  # draining, the busy task protected
    rows.set_state(ti, "success")
    result = scaler.cycle()
    assert result.decision.desired == 0 and result.applied == 0 and workers.desired() == 0
    assert workers.protection()[a.arn] is False
    assert metric_stats(aws_env, namespace, "DesiredWorkers")["Minimum"] == 0
    scaler.close()


def test_moto_task_protection_patch_behaves_like_ecs(aws_env: str) -> None:
    from botocore.exceptions import ClientError

    workers = ecs_workers(aws_env, n_tasks=2, desired=2)
    ecs, (a, b) = workers.client, workers.tasks
    resp = ecs.update_task_protection(
        cluster=workers.cluster, tasks=[a.arn], protectionEnabled=True, expiresInMinutes=30
    )
    (item,) = resp["protectedTasks"]
    assert item["protectionEnabled"] is True and item["taskArn"] == a.arn
    left = item["expirationDate"].timestamp() - time.time()
    assert 29 * 60 < left <= 30 * 60
    assert workers.protection() == {a.arn: True, b.arn: False}
    bad = ecs.get_task_protection(cluster=workers.cluster, tasks=[a.arn.rsplit("/", 1)[0] + "/nope"])
    assert bad["failures"][0]["reason"] == "TASK_NOT_VALID"
    with pytest.raises(ClientError, match="expiresInMinutes"):
        ecs.update_task_protection(
            cluster=workers.cluster, tasks=[a.arn], protectionEnabled=True, expiresInMinutes=0
        )
    ecs.update_task_protection(cluster=workers.cluster, tasks=[a.arn], protectionEnabled=False)
    assert workers.protection() == {a.arn: False, b.arn: False}


def test_protection_is_renewed_at_half_life_not_every_cycle(aws_proxy: AwsProxy) -> None:
    from scaler.ecs import EcsService

    workers = ecs_workers(aws_proxy.upstream, n_tasks=2, desired=2)
    a = workers.tasks[0]
    svc = EcsService(workers.cluster, workers.service, protection_minutes=60)
    now = time.time()
    assert svc.protect([a.dns], now).ok
    svc.protect([a.dns], now + 15)
    svc.protect([a.dns], now + 29 * 60)
    assert aws_proxy.ops().count("UpdateTaskProtection") == 1  # still more than half the expiry left
    svc.protect([a.dns], now + 31 * 60)
    assert aws_proxy.ops().count("UpdateTaskProtection") == 2  # renewed
    assert workers.protection()[a.arn] is True


def test_publishes_the_slis_with_the_dimensions_the_alarms_use(
    aws_env: str, redis_url: str, rows: AirflowRows, airflow_db_url: str, namespace: str
) -> None:
    """Queued work at zero workers -> the first task running: ScaleUps/ScaleUpSeconds, OldestQueuedAge and the
    start counts on {env, service}; per-queue latency on {env, service, queue} (docs/slo.md)."""
    workers = ecs_workers(aws_env, n_tasks=0, desired=0)
    ids = rows.add("queued", 2)
    scaler = make_scaler(
        redis_url, airflow_db_url, "default", namespace,
        apply="ecs", ecs_cluster=workers.cluster, ecs_service=workers.service,
    )  # fmt: skip
    first = scaler.cycle()
    assert first.errors == [], first.errors
    assert first.sli["scale_up"]["waiting_since"] is not None and first.sli["scale_up"]["events"] == 0
    time.sleep(1.1)
    rows.conn.execute(
        "UPDATE task_instance SET state = 'running', start_date = now() WHERE id = %s",
        (ids[0],),
    )
    second = scaler.cycle()
    assert second.errors == [], second.errors
    up = second.sli["scale_up"]
    assert up["events"] == 1 and up["late"] == 0 and up["seconds"] >= 1, up
    assert metric_stats(aws_env, namespace, "ScaleUps")["Sum"] == 1
    assert metric_stats(aws_env, namespace, "ScaleUpsLate")["Sum"] == 0
    assert metric_stats(aws_env, namespace, "ScaleUpSeconds")["SampleCount"] == 1
    assert metric_stats(aws_env, namespace, "OldestQueuedAge")["Maximum"] >= 1
    assert metric_stats(aws_env, namespace, "TasksStarted")["SampleCount"] == 2  # 0s are published too
    assert metric_stats(aws_env, namespace, "TasksStartedLate")["Sum"] == 0
    cw = boto3.client("cloudwatch", endpoint_url=aws_env, region_name="us-east-1")
    dims = [{"Name": "env", "Value": "test"}, {"Name": "service", "Value": "workers"}]
    per_queue = cw.get_metric_statistics(
        Namespace=namespace, MetricName="OldestQueuedAge", Dimensions=[*dims, {"Name": "queue", "Value": "default"}],
        StartTime=time.time() - 600, EndTime=time.time() + 60, Period=3600, Statistics=["SampleCount"],
    )["Datapoints"]  # fmt: skip
    assert sum(p["SampleCount"] for p in per_queue) == 2
    doc = second.as_dict(0.0)
    assert doc["sli"]["queues"]["default"]["start_p95_s"] is not None
    assert "scaler_scale_ups_total 1.0" in scaler.metrics.render()[0].decode()
    scaler.close()
