"""`infra migrate` / the end of `infra apply`: the one-off migration task, against the moto server.

A thread plays the ECS agent (devtools/moto_patches/ecs_container_state_change.py): it reports the container's exit
code, writes the awslogs stream and stops the task, as the local Fargate runner does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from infractl import migrate
from infractl.paths import InfraError

from devtools.servers import Server, start_moto


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_moto(tmp_path_factory.mktemp("moto-migrate"))
    try:
        yield server
    finally:
        server.stop()


def clients(url: str) -> tuple[Any, Any, Any]:
    kw = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "t",
        "aws_secret_access_key": "t",
    }
    return boto3.client("ecs", **kw), boto3.client("logs", **kw), boto3.client("ec2", **kw)


def spec_in(url: str, name: str) -> migrate.MigrateTask:
    ecs, logs, ec2 = clients(url)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=name, Description="t", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=name)
    td = ecs.register_task_definition(
        family=f"{name}-migrate",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        containerDefinitions=[{"name": "migrate", "image": "acme-airflow-airflow:x", "command": ["migrate"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    logs.create_log_group(logGroupName=f"/ecs/{name}/migrate")
    return migrate.MigrateTask.from_output(
        {
            "cluster": name,
            "task_definition": td,
            "container": "migrate",
            "subnets": [subnet],
            "security_groups": [sg],
            "log_group": f"/ecs/{name}/migrate",
            "log_stream": "migrate/migrate",
        }
    )


def agent(url: str, spec: migrate.MigrateTask, exit_code: int, lines: list[str]) -> threading.Thread:
    """Wait for the task, write its log, report the exit code and stop it (what devtools/fargate does)."""

    def run() -> None:
        ecs, logs, _ = clients(url)
        for _ in range(100):
            arns = ecs.list_tasks(cluster=spec.cluster)["taskArns"]
            if arns:
                break
            time.sleep(0.1)
        arn = arns[0]
        stream = f"{spec.log_stream}/{arn.rsplit('/', 1)[-1]}"
        logs.create_log_stream(logGroupName=spec.log_group, logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
        logs.put_log_events(logGroupName=spec.log_group, logStreamName=stream, logEvents=events)
        ecs.submit_container_state_change(
            cluster=spec.cluster, task=arn, containerName="migrate", status="STOPPED", exitCode=exit_code
        )
        ecs.stop_task(cluster=spec.cluster, task=arn, reason="Essential container in task exited")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_outcome_reads_the_container_exit_code() -> None:
    running = {"lastStatus": "RUNNING", "containers": [{"name": "migrate"}]}
    assert migrate.outcome(running, "migrate") == migrate.Outcome(done=False)
    stopped = {
        "lastStatus": "STOPPED",
        "stoppedReason": "x",
        "containers": [{"name": "migrate", "exitCode": 0}],
    }
    assert migrate.outcome(stopped, "migrate").ok
    failed = {**stopped, "containers": [{"name": "migrate", "exitCode": 3}]}
    res = migrate.outcome(failed, "migrate")
    assert res.done and not res.ok and res.exit_code == 3
    no_code = {**stopped, "containers": [{"name": "migrate"}]}  # never started (e.g. a missing secret)
    assert not migrate.outcome(no_code, "migrate").ok


def test_a_successful_migration_returns(moto: Server) -> None:
    spec = spec_in(moto.url, "ok")
    ecs, logs, _ = clients(moto.url)
    said: list[str] = []
    t = agent(moto.url, spec, 0, ["upgraded"])
    took = migrate.run(spec, ecs, logs, timeout=30, say=said.append, sleep=lambda _: time.sleep(0.1))
    t.join(5)
    assert took >= 0 and any("succeeded" in s for s in said)
    (task,) = ecs.describe_tasks(
        cluster="ok", tasks=ecs.list_tasks(cluster="ok", desiredStatus="STOPPED")["taskArns"]
    )["tasks"]
    assert task["startedBy"] == "infra-migrate"


def test_a_failed_migration_stops_the_deploy_with_exit_code_and_log_tail(moto: Server) -> None:
    spec = spec_in(moto.url, "bad")
    ecs, logs, _ = clients(moto.url)
    said: list[str] = []
    t = agent(
        moto.url,
        spec,
        3,
        ["starting migration", "sqlalchemy.exc.OperationalError: password authentication failed"],
    )
    with pytest.raises(InfraError, match="exit code 3") as err:
        migrate.run(spec, ecs, logs, timeout=30, say=said.append, sleep=lambda _: time.sleep(0.1))
    t.join(5)
    assert "infra migrate" in str(err.value) and "\n" not in str(err.value)
    assert any("password authentication failed" in s for s in said), said


def test_a_migration_that_never_stops_times_out_with_what_to_do(moto: Server) -> None:
    spec = spec_in(moto.url, "hung")
    ecs, logs, _ = clients(moto.url)
    with pytest.raises(InfraError, match=r"still running after .*stop-task"):
        migrate.run(spec, ecs, logs, timeout=1, say=lambda _: None, sleep=lambda _: time.sleep(0.2))


def test_incomplete_output_is_one_clear_line() -> None:
    with pytest.raises(InfraError, match="migrate_task is incomplete"):
        migrate.MigrateTask.from_output({"cluster": "c"})


def test_unreachable_ecs_is_one_clear_line(tmp_path: Path) -> None:
    ecs, logs, _ = clients("http://127.0.0.1:9")  # nothing listens on the discard port
    spec = migrate.MigrateTask("c", "td", "migrate", ("s",), ("g",), "/g", "p")
    with pytest.raises(InfraError, match="ECS call for the migration task failed"):
        migrate.run(spec, ecs, logs, timeout=1, say=lambda _: None)
