"""scripts/ecs_rollout_check.py: the pure verdict, and the CLI against ECS on the moto server over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scripts.ecs_rollout_check import Verdict, assess, own_images_off_tag, wait

REPO = Path(__file__).resolve().parents[2]
REG = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
NEW, OLD = "c0ffee1", "deadbee"


def svc(*deployments: dict, running: int = 1, desired: int = 1) -> dict:
    return {
        "serviceName": "s",
        "deployments": list(deployments),
        "runningCount": running,
        "desiredCount": desired,
    }


IMAGES = {
    "td:new": [f"{REG}/acme-airflow-airflow:{NEW}", f"{REG}/acme-airflow-dagsync:{NEW}"],
    "td:old": [f"{REG}/acme-airflow-airflow:{OLD}", f"{REG}/acme-airflow-dagsync:{OLD}"],
}


def test_stable_on_the_new_tag() -> None:
    v = assess(
        svc({"status": "PRIMARY", "taskDefinition": "td:new", "rolloutState": "COMPLETED"}), IMAGES, NEW
    )
    assert v == Verdict("stable", f"running 1/1 on :{NEW}")


def test_circuit_breaker_failure_is_a_rollback() -> None:
    v = assess(
        svc(
            {"status": "PRIMARY", "taskDefinition": "td:old", "rolloutState": "IN_PROGRESS"},
            {
                "status": "ACTIVE",
                "taskDefinition": "td:new",
                "rolloutState": "FAILED",
                "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
            },
        ),
        IMAGES,
        NEW,
    )
    assert v.state == "rolled_back"
    assert "circuit breaker" in v.reason and f":{OLD}" in v.reason


def test_failed_primary_is_a_rollback() -> None:
    v = assess(svc({"status": "PRIMARY", "taskDefinition": "td:new", "rolloutState": "FAILED"}), IMAGES, NEW)
    assert v.state == "rolled_back"


@pytest.mark.parametrize(
    ("service", "reason"),
    [
        (
            svc({"status": "PRIMARY", "taskDefinition": "td:new", "rolloutState": "IN_PROGRESS"}),
            "rollout IN_PROGRESS",
        ),
        (
            svc(
                {"status": "PRIMARY", "taskDefinition": "td:new"},
                {"status": "ACTIVE", "taskDefinition": "td:old"},
            ),
            "2 deployments still active",
        ),
        (svc({"status": "PRIMARY", "taskDefinition": "td:new"}, running=1, desired=3), "running 1/3"),
        (svc(), "no PRIMARY deployment yet"),
    ],
)
def test_pending_states(service: dict, reason: str) -> None:
    assert assess(service, IMAGES, NEW) == Verdict("pending", reason)


@given(
    st.sampled_from(["airflow", "dagsync", "services"]), st.text("abcdef0123456789", min_size=7, max_size=40)
)
def test_only_own_images_need_the_tag(repo: str, tag: str) -> None:
    ours = f"{REG}/acme-airflow-{repo}:{tag}"
    theirs = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"
    assert own_images_off_tag([ours, theirs], tag) == []
    assert own_images_off_tag([ours], tag + "x") == [ours]


def test_wait_stops_at_the_first_rollback_and_times_out_on_pending() -> None:
    t = [0.0]
    seq = iter([{"a": Verdict("pending", "x")}, {"a": Verdict("rolled_back", "y")}])
    assert (
        wait(lambda: next(seq), 100, 10, clock=lambda: t[0], sleep=lambda s: t.__setitem__(0, t[0] + s)) == 1
    )
    t[0] = 0.0
    assert (
        wait(
            lambda: {"a": Verdict("pending", "x")},
            30,
            10,
            clock=lambda: t[0],
            sleep=lambda s: t.__setitem__(0, t[0] + s),
        )
        == 1
    )
    assert t[0] <= 30
    assert wait(lambda: {"a": Verdict("stable", "ok")}, 30, 10) == 0


# ------------------------------------------------------------------ against ECS on the moto server
def run_cli(cluster: str, tag: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'services'}"}
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "ecs_rollout_check.py"),
            "--cluster",
            cluster,
            "--image-tag",
            tag,
            "--timeout",
            "2",
            "--interval",
            "0.5",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_against_moto_ecs(aws_env: str) -> None:
    # Services at desiredCount 0 (workers scaled to zero, a normal state): stock moto reports their deployment
    # COMPLETED; with desired > 0 it never starts tasks, so rollouts stay IN_PROGRESS (covered by the pure tests).
    ecs = boto3.client("ecs", endpoint_url=aws_env, region_name="us-east-1")
    cluster = f"acme-airflow-dev-{uuid.uuid4().hex[:6]}"
    ecs.create_cluster(clusterName=cluster)

    def taskdef(family: str, tag: str) -> str:
        return ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "main", "image": f"{REG}/acme-airflow-airflow:{tag}", "cpu": 128, "memory": 256},
                {"name": "dagsync", "image": f"{REG}/acme-airflow-dagsync:{tag}", "cpu": 128, "memory": 256},
            ],
        )["taskDefinition"]["taskDefinitionArn"]

    for name in ("scheduler", "api-server"):
        ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=taskdef(f"{cluster}-{name}", NEW),
            desiredCount=0,
            launchType="FARGATE",
        )
    ok = run_cli(cluster, NEW)
    assert ok.returncode == 0, ok.stderr
    assert "2/2 stable" in ok.stderr

    # a service whose PRIMARY deployment still runs the previous images: what a circuit-breaker rollback leaves
    ecs.create_service(
        cluster=cluster,
        serviceName="worker",
        taskDefinition=taskdef(f"{cluster}-worker", OLD),
        desiredCount=1,
        launchType="FARGATE",
    )
    bad = run_cli(cluster, NEW)
    assert bad.returncode == 1
    assert f"ROLLED BACK worker: PRIMARY runs {REG}/acme-airflow-airflow:{OLD}" in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("deploy failed: ECS rolled back")


def test_cli_bad_cluster_and_bad_tag(aws_env: str) -> None:
    proc = run_cli("no-such-cluster", NEW)
    assert proc.returncode in (1, 2)
    assert len(proc.stderr.strip().splitlines()) == 1
    bad = run_cli("x", "bad tag!")
    assert bad.returncode == 2 and "is not a valid image tag" in bad.stderr
