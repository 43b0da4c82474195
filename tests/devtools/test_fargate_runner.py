"""The local Fargate runner against a real moto server (devtools.servers.start_moto, with devtools/moto_patches):
small synthetic task definitions whose images map to system binaries. One runner process for the module, one
cluster; each test has its own services."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.fargate.runner import can_execute
from devtools.servers import Server, free_port

REPO = Path(__file__).resolve().parents[2]
CLUSTER = "fg-test"
FRONT_PORT = free_port()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Env:
    def __init__(self, moto: Server, state: Path, proc: subprocess.Popen[bytes], runner_log: Path) -> None:
        kw = {
            "endpoint_url": moto.url,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.ecs = boto3.client("ecs", **kw)  # type: ignore[call-overload]
        self.sm = boto3.client("secretsmanager", **kw)  # type: ignore[call-overload]
        self.iam = boto3.client("iam", **kw)  # type: ignore[call-overload]
        self.efs = boto3.client("efs", **kw)  # type: ignore[call-overload]
        self.logs = boto3.client("logs", **kw)  # type: ignore[call-overload]
        self.ssm = boto3.client("ssm", **kw)  # type: ignore[call-overload]
        ec2 = boto3.client("ec2", **kw)  # type: ignore[call-overload]
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
        self.state = state
        self.proc = proc
        self.runner_log = runner_log

    @property
    def net(self) -> dict[str, Any]:
        return {
            "awsvpcConfiguration": {
                "subnets": [self.subnet],
                "securityGroups": [],
                "assignPublicIp": "DISABLED",
            }
        }

    def register(self, family: str, containers: list[dict[str, Any]], **kw: Any) -> str:
        for c in containers:
            c.setdefault("image", "local/sh")
        td = self.ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=containers,
            **kw,
        )
        return str(td["taskDefinition"]["taskDefinitionArn"])

    def service(self, name: str, td: str, desired: int = 1, **kw: Any) -> None:
        self.ecs.create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition=td,
            desiredCount=desired,
            launchType="FARGATE",
            networkConfiguration=self.net,
            **kw,
        )

    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.state / "status.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {}

    def tasks(self, service: str) -> list[dict[str, Any]]:
        return [t for t in self.status().get("tasks", []) if t["service"] == service]

    def running(self, service: str, n: int = 1, healthy: bool = False) -> list[dict[str, Any]]:
        def ok() -> list[dict[str, Any]] | None:
            live = [
                t
                for t in self.tasks(service)
                if t["status"] == "RUNNING" and (not healthy or t["health"] == "HEALTHY")
            ]
            return live if len(live) == n else None

        return wait_for(f"{n} running task(s) of {service}", ok)  # type: ignore[no-any-return]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        try:
            lines = (self.state / "events.jsonl").read_text().splitlines()
        except OSError:
            return []
        out = [json.loads(ln) for ln in lines if ln.strip()]
        return [e for e in out if kind is None or e["event"] == kind]

    def stopped(self, service: str) -> list[dict[str, Any]]:
        return [e for e in self.events("stopped") if e.get("service") == service]

    def describe(self, arn: str) -> dict[str, Any]:
        return self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]  # type: ignore[no-any-return]

    def scale(self, service: str, n: int) -> None:
        self.ecs.update_service(cluster=CLUSTER, service=service, desiredCount=n)


def pid_of(task: dict[str, Any], container: str) -> int:
    return int(next(c["pid"] for c in task["containers"] if c["name"] == container))


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(x.decode().split("=", 1) for x in raw if b"=" in x)


def environ_owner(env: Env, svc: str, container: str) -> int:
    return Path(f"/proc/{pid_of(env.tasks(svc)[0], container)}").stat().st_uid


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


@pytest.fixture(scope="module")
def env(moto_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("fargate")
    state = base / "state"
    cfg = {
        "endpoint_url": moto_server.url,
        "cluster": CLUSTER,
        "state_dir": str(state),
        "interval": 0.5,
        "restart_backoff": [1, 4],
        "images": {
            "local/sh": {"entrypoint": ["/bin/sh", "-c"]},
            "local/venv-python": {
                "entrypoint": ["/venv/bin/python", "-c"],
                "paths": {"/venv": str(REPO / ".venv")},
            },
            "local/id": {"entrypoint": ["/usr/bin/id"]},
        },
        "hosts": {
            "db.fake.us-east-1.rds.amazonaws.com:5432": "127.0.0.1:25432",
            "redis.fake.cache.amazonaws.com:6379": "127.0.0.1:26379",
        },
        "fronts": {"fronttest:8080": f"127.0.0.1:{FRONT_PORT}"},
        "trust_bundle": "bundle.pem",
    }
    (base / "cfg.json").write_text(json.dumps(cfg))
    boto3.client(
        "ecs",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_cluster(clusterName=CLUSTER)
    runner_log = base / "runner.log"
    penv = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    penv["AWS_ACCESS_KEY_ID"] = "runner-static-key"  # must never reach a container
    penv["AWS_CA_BUNDLE"] = "/etc/ssl/certs/ca-certificates.crt"  # nor this
    penv["PYTHONPATH"] = str(REPO)
    with open(runner_log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devtools.fargate", "run", "--config", str(base / "cfg.json")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=penv,
            cwd=REPO,
            start_new_session=True,
        )
    e = Env(moto_server, state, proc, runner_log)
    try:
        wait_for("the runner's first status", e.status, timeout=30)
        yield e
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        leftovers = [n for n in (state / "run").glob("task-*.pid")]
        assert not leftovers, f"container PID files left: {leftovers}"
        print(runner_log.read_text()[-3000:])


def name() -> str:
    return f"s{uuid.uuid4().hex[:6]}"


# --- tests -------------------------------------------------------------------------------------------------------
def test_rollout_new_revision(env: Env) -> None:
    svc = name()
    check = {"command": ["CMD-SHELL", "true"], "interval": 1, "retries": 1}
    td1 = env.register(svc, [{"name": "app", "command": ["exec sleep 300"], "healthCheck": check}])
    env.service(svc, td1)
    (old,) = env.running(svc, healthy=True)
    old_pid = pid_of(old, "app")
    assert "EXTRA" not in environ(old_pid)
    td2 = env.register(
        svc,
        [
            {
                "name": "app",
                "command": ["exec sleep 300"],
                "healthCheck": check,
                "environment": [{"name": "EXTRA", "value": "two"}],
            }
        ],
    )
    env.ecs.update_service(cluster=CLUSTER, service=svc, taskDefinition=td2)

    def rolled() -> dict[str, Any] | None:
        tasks = env.tasks(svc)
        new = [t for t in tasks if t["task_definition"].endswith(":2") and t["status"] == "RUNNING"]
        return new[0] if new and len(tasks) == 1 else None

    new = wait_for("the rollout to revision 2", rolled)
    assert environ(pid_of(new, "app"))["EXTRA"] == "two"
    wait_for("the old process to be gone", lambda: not alive(old_pid), timeout=10)
    desc = env.describe(old["task_arn"])
    assert desc["lastStatus"] == "STOPPED" and "deployment: replaced by" in desc["stoppedReason"]
    # min 100 %: the old task stopped only after the new one was healthy
    ev = env.events()
    new_healthy = next(
        e["t"]
        for e in ev
        if e["event"] == "health" and e["task_arn"] == new["task_arn"] and e["status"] == "HEALTHY"
    )
    old_stopping = next(e["t"] for e in ev if e["event"] == "stopping" and e["task_arn"] == old["task_arn"])
    assert old_stopping >= new_healthy
    env.scale(svc, 0)


def test_update_service_with_bare_family_rolls_to_latest(env: Env) -> None:
    svc = name()
    env.register(svc, [{"name": "app", "command": ["exec sleep 300"]}])
    env.service(svc, svc)  # bare family
    (old,) = env.running(svc)
    assert env.ecs.describe_services(cluster=CLUSTER, services=[svc])["services"][0][
        "taskDefinition"
    ].endswith(f"{svc}:1")
    env.register(svc, [{"name": "app", "command": ["exec sleep 301"]}])
    env.ecs.update_service(cluster=CLUSTER, service=svc, taskDefinition=svc)
    wait_for("revision 2", lambda: [t["task_definition"] for t in env.tasks(svc)] == [f"{svc}:2"])
    wait_for("the old process to be gone", lambda: not alive(pid_of(old, "app")), timeout=10)
    env.scale(svc, 0)


def test_broken_revision_keeps_the_old_task(env: Env) -> None:
    """min 100 %: a revision whose tasks cannot start never replaces the running one (and is throttled)."""
    svc = name()
    td1 = env.register(svc, [{"name": "app", "command": ["exec sleep 300"]}])
    env.service(svc, td1)
    (old,) = env.running(svc)
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"
    td2 = env.register(
        svc,
        [{"name": "app", "command": ["exec sleep 300"], "secrets": [{"name": "X", "valueFrom": missing}]}],
    )
    env.ecs.update_service(cluster=CLUSTER, service=svc, taskDefinition=td2)
    wait_for(
        "two failed starts",
        lambda: len([e for e in env.events("failed") if e["service"] == svc]) >= 2,
        timeout=20,
    )
    assert [t["task_id"] for t in env.tasks(svc)] == [old["task_id"]]
    assert alive(pid_of(old, "app"))
    env.scale(svc, 0)


def test_unhealthy_task_is_replaced_and_reason_names_check(env: Env) -> None:
    svc = name()
    td = env.register(
        svc,
        [
            {
                "name": "app",
                "command": ["sleep 2; touch /tmp/sick; exec sleep 300"],
                "healthCheck": {
                    "command": ["CMD-SHELL", "test ! -e /tmp/sick"],
                    "interval": 1,
                    "retries": 2,
                    "timeout": 2,
                },
            }
        ],
    )
    env.service(svc, td)
    (first,) = env.running(svc, healthy=True)
    stop = wait_for("the unhealthy task to stop", lambda: env.stopped(svc), timeout=30)[0]
    assert stop["task_id"] == first["task_id"]
    assert (
        stop["reason"] == "Task failed container health checks: container app: test ! -e /tmp/sick exited 1"
    )
    assert env.describe(first["task_arn"])["stoppedReason"] == stop["reason"]
    wait_for("a replacement", lambda: [t for t in env.tasks(svc) if t["task_id"] != first["task_id"]])
    env.scale(svc, 0)


@pytest.mark.slow
def test_missing_secret_fails_with_one_line_and_others_keep_running(env: Env) -> None:
    good, bad = name(), name()
    arn = env.sm.create_secret(
        Name=f"{good}-app", SecretString=json.dumps({"password": "pw-123", "user": "u"})
    )["ARN"]
    td_good = env.register(
        good,
        [
            {
                "name": "app",
                "command": ["exec sleep 300"],
                "secrets": [
                    {"name": "DB_PASSWORD", "valueFrom": f"{arn}:password::"},
                    {"name": "WHOLE", "valueFrom": arn.rsplit("-", 1)[0]},  # partial ARN (no random suffix)
                    {"name": "CURRENT", "valueFrom": f"{arn}:user:AWSCURRENT:"},
                    {
                        "name": "PARAM",
                        "valueFrom": f"arn:aws:ssm:us-east-1:123456789012:parameter/{good}/flag",
                    },
                ],
            }
        ],
    )
    env.ssm.put_parameter(Name=f"/{good}/flag", Value="on", Type="SecureString")
    env.service(good, td_good)
    (running,) = env.running(good)
    pid = pid_of(running, "app")
    e = environ(pid)
    assert e["DB_PASSWORD"] == "pw-123" and json.loads(e["WHOLE"])["user"] == "u" and e["CURRENT"] == "u"
    assert e["PARAM"] == "on"

    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf"
    td_bad = env.register(
        bad,
        [{"name": "app", "command": ["exec sleep 300"], "secrets": [{"name": "X", "valueFrom": missing}]}],
    )
    env.service(bad, td_bad)
    fail = wait_for("the failed start", lambda: [e for e in env.events("failed") if e["service"] == bad])[0]
    assert "\n" not in fail["reason"]
    assert fail["reason"].startswith("ResourceInitializationError: unable to pull secrets")
    assert missing in fail["reason"] and "ResourceNotFoundException" in fail["reason"]
    assert env.describe(fail["task_arn"])["stoppedReason"] == fail["reason"]
    # throttled, not spinning (backoff 1, 2, 4 s); and nothing of the bad task ever ran
    wait_for(
        "a retry", lambda: len([e for e in env.events("failed") if e["service"] == bad]) >= 2, timeout=20
    )
    time.sleep(3)
    fails = [e for e in env.events("failed") if e["service"] == bad]
    assert len(fails) <= 5, len(fails)
    assert not [e for e in env.events("started") if e.get("service") == bad]
    assert alive(pid) and env.running(good)[0]["task_id"] == running["task_id"]
    # a missing json key is a one-line failure too
    td_bad2 = env.register(
        bad,
        [
            {
                "name": "app",
                "command": ["exec sleep 300"],
                "secrets": [{"name": "X", "valueFrom": f"{arn}:nokey::"}],
            }
        ],
    )
    env.ecs.update_service(cluster=CLUSTER, service=bad, taskDefinition=td_bad2)
    fail2 = wait_for(
        "the json-key failure",
        lambda: [e for e in env.events("failed") if e["service"] == bad and "json key nokey" in e["reason"]],
        timeout=15,
    )[0]
    assert "pw-123" not in env.runner_log.read_text() and "pw-123" not in json.dumps(env.events())
    assert "\n" not in fail2["reason"]
    env.scale(good, 0)
    env.scale(bad, 0)


def test_depends_on_order(env: Env) -> None:
    svc = name()

    def mark(n: str) -> str:
        return f'echo "{n} $(date +%s.%N)" >> /shared/order'

    mount = [{"sourceVolume": "shared", "containerPath": "/shared"}]
    check = {
        "command": ["CMD", "test", "-e", "/tmp/ok"],
        "interval": 1,
        "retries": 3,
    }  # CMD: argv, paths mapped
    containers: list[dict[str, Any]] = [
        {"name": "init", "essential": False, "command": [f"{mark('init')}; sleep 1; exit 0"]},
        {"name": "failing", "essential": False, "command": [f"{mark('failing')}; sleep 0.5; exit 3"]},
        {
            "name": "starter",
            "essential": False,
            "command": [f"{mark('starter')}; exec sleep 300"],
            "dependsOn": [{"containerName": "side", "condition": "START"}],
        },
        {
            "name": "side",
            "essential": False,
            "command": [f"{mark('side')}; sleep 1.5; touch /tmp/ok; exec sleep 300"],
            "healthCheck": check,
        },
        {
            "name": "after_fail",
            "essential": False,
            "command": [f"{mark('after_fail')}; exec sleep 300"],
            "dependsOn": [{"containerName": "failing", "condition": "COMPLETE"}],
        },
        {
            "name": "app",
            "command": [f"{mark('app')}; exec sleep 300"],
            "dependsOn": [
                {"containerName": "init", "condition": "SUCCESS"},
                {"containerName": "side", "condition": "HEALTHY"},
            ],
        },
    ]
    for c in containers:
        c["mountPoints"] = mount
    td = env.register(svc, containers, volumes=[{"name": "shared"}])
    env.service(svc, td)
    (task,) = env.running(svc)
    vol = env.state / "tasks" / task["task_id"] / "volumes" / "shared"
    wait_for(
        "app to start", lambda: (vol / "order").exists() and "\napp " in "\n" + (vol / "order").read_text()
    )
    events = [e for e in env.events("health") if e["task_arn"] == task["task_arn"]]
    side_healthy = next(e["t"] for e in events if e["container"] == "side" and e["status"] == "HEALTHY")
    order = {ln.split()[0]: float(ln.split()[1]) for ln in (vol / "order").read_text().splitlines()}
    assert set(order) == {"init", "failing", "side", "starter", "after_fail", "app"}
    started = {
        e["container"]: e["t"]
        for e in env.events("container")
        if e["task_arn"] == task["task_arn"] and e["status"] == "RUNNING"
    }
    assert started["starter"] >= started["side"]  # START: once the process is started (not its first line)
    assert order["after_fail"] >= order["failing"] + 0.5  # COMPLETE (exit 3 is fine)
    assert order["app"] >= order["init"] + 1.0  # SUCCESS
    assert order["app"] >= side_healthy - 0.2  # HEALTHY
    desc = env.describe(task["task_arn"])
    codes = {c["name"]: c.get("exitCode") for c in desc["containers"]}
    assert codes["init"] == 0 and codes["failing"] == 3
    env.scale(svc, 0)


def test_success_dependency_that_fails_stops_task(env: Env) -> None:
    svc = name()
    td = env.register(
        svc,
        [
            {"name": "init", "essential": False, "command": ["exit 4"]},
            {
                "name": "app",
                "command": ["exec sleep 300"],
                "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
            },
        ],
    )
    env.service(svc, td)
    stop = wait_for("the task to stop", lambda: env.stopped(svc))[0]
    assert stop["reason"].startswith("CannotStartContainerError") and "code 4" in stop["reason"]
    assert stop["containers"]["app"]["exit_code"] is None  # never started
    env.scale(svc, 0)


def test_stop_order_dependants_first(env: Env) -> None:
    svc = name()

    def trapping(linger: float) -> str:
        return (
            f"trap 'echo \"TERM $(date +%s.%N)\"; sleep {linger}; exit 0' TERM; while :; do sleep 0.1; done"
        )

    td = env.register(
        svc,
        [
            {"name": "db", "command": [trapping(0)]},
            {
                "name": "app",
                "command": [trapping(1)],
                "dependsOn": [{"containerName": "db", "condition": "START"}],
            },
        ],
    )
    env.service(svc, td)
    (task,) = env.running(svc)
    logs = {c["name"]: Path(c["log"]) for c in task["containers"]}
    time.sleep(0.5)
    env.scale(svc, 0)
    wait_for("the task to stop", lambda: env.stopped(svc), timeout=20)
    at = {
        n: float(next(ln for ln in p.read_text().splitlines() if ln.startswith("TERM ")).split()[1])
        for n, p in logs.items()
    }
    assert at["db"] >= at["app"] + 0.9  # db got SIGTERM only after app (1 s to exit) was gone


def test_stop_signals_the_main_process_only(env: Env) -> None:
    """As `docker stop` does with PID 1: the main process gets SIGTERM and its children do not, so it can let them
    finish (a Celery worker's warm shutdown, docs/adr/0002-scaling.md). As when a container's PID 1 exits, its
    other processes die with the main process, even one that ignores SIGTERM."""
    svc = name()
    main = (
        "trap 'echo main TERM; wait $child; echo main done; exit 0' TERM;"
        " (sleep 2 && echo child done) & child=$!;"
        " while :; do sleep 0.1; done"
    )
    side = "(trap '' TERM; exec sleep 300) & echo orphan $!; sleep 0.5"  # exits 0, leaving the sleep behind
    td = env.register(
        svc, [{"name": "app", "command": [main]}, {"name": "side", "essential": False, "command": [side]}]
    )
    env.service(svc, td)
    (task,) = env.running(svc)
    logs = {c["name"]: Path(c["log"]) for c in task["containers"]}
    found = wait_for(
        "the side container's child", lambda: re.search(r"^orphan (\d+)$", logs["side"].read_text(), re.M)
    )
    wait_for("the side container's child to die with it", lambda: not alive(int(found.group(1))), timeout=10)
    assert env.running(svc), "the task (app essential, side not) keeps running"
    env.scale(svc, 0)
    stop = wait_for("the task to stop", lambda: env.stopped(svc), timeout=20)[0]
    lines = logs["app"].read_text().splitlines()
    assert lines.index("main TERM") < lines.index("child done") < lines.index("main done"), lines
    assert stop["containers"]["app"]["exit_code"] == 0


def test_start_timeout_stops_task(env: Env) -> None:
    svc = name()
    td = env.register(
        svc,
        [
            {
                "name": "side",
                "essential": False,
                "command": ["exec sleep 300"],
                "healthCheck": {"command": ["CMD-SHELL", "exit 1"], "interval": 1, "retries": 10},
            },
            {
                "name": "app",
                "command": ["exec sleep 300"],
                "startTimeout": 2,
                "dependsOn": [{"containerName": "side", "condition": "HEALTHY"}],
            },
        ],
    )
    env.service(svc, td)
    stop = wait_for("the task to give up", lambda: env.stopped(svc), timeout=20)[0]
    assert (
        stop["reason"]
        == "CannotStartContainerError: container app: dependencies not met after startTimeout 2s: side HEALTHY"
    )
    env.scale(svc, 0)


def test_stop_task_from_outside_and_deleted_service(env: Env) -> None:
    svc = name()
    td = env.register(svc, [{"name": "app", "command": ["exec sleep 300"]}])
    env.service(svc, td)
    (task,) = env.running(svc)
    pid = pid_of(task, "app")
    env.ecs.stop_task(cluster=CLUSTER, task=task["task_arn"], reason="stopped by an operator")
    wait_for("the process to stop", lambda: not alive(pid), timeout=15)
    stop = wait_for("the stop event", lambda: env.stopped(svc))[0]
    assert stop["reason"] == "stopped by an operator"
    assert env.describe(task["task_arn"])["stoppedReason"] == "stopped by an operator"  # not overwritten
    (second,) = env.running(svc)  # the service replaces it
    env.ecs.delete_service(cluster=CLUSTER, service=svc, force=True)
    wait_for("the deleted service's task to stop", lambda: not alive(pid_of(second, "app")), timeout=15)
    wait_for("no task of the deleted service", lambda: not env.tasks(svc), timeout=5)
    assert env.stopped(svc)[-1]["reason"] == f"Service {svc}: the service is no longer ACTIVE"


def test_essential_exit_replaces_task(env: Env) -> None:
    svc = name()
    td = env.register(
        svc,
        [
            {"name": "app", "command": ["sleep 1; exit 3"]},
            {"name": "side", "essential": False, "command": ["exec sleep 300"]},
        ],
    )
    env.service(svc, td)
    stop = wait_for("the task to stop", lambda: env.stopped(svc))[0]
    assert stop["reason"] == "Essential container in task exited"
    desc = env.describe(stop["task_arn"])
    assert desc["stoppedReason"] == "Essential container in task exited"
    assert {c["name"]: c.get("exitCode") for c in desc["containers"]}["app"] == 3
    wait_for("a replacement", lambda: [t for t in env.tasks(svc) if t["task_id"] != stop["task_id"]])
    env.scale(svc, 0)


@pytest.mark.slow
def test_stop_timeout_sigkill(env: Env) -> None:
    svc = name()
    td = env.register(
        svc,
        [
            {
                "name": "app",
                "stopTimeout": 2,
                "command": ["trap 'echo got TERM' TERM; while :; do sleep 0.2; done"],
            }
        ],
    )
    env.service(svc, td)
    (task,) = env.running(svc)
    pid = pid_of(task, "app")
    time.sleep(0.5)
    t0 = time.monotonic()
    env.scale(svc, 0)
    wait_for("SIGTERM", lambda: "got TERM" in Path(task["containers"][0]["log"]).read_text(), timeout=10)
    t_term = time.monotonic()
    wait_for("the process to be killed", lambda: not alive(pid), timeout=15)
    took = time.monotonic() - t_term
    assert 1.2 <= took <= 8.0, (
        took
    )  # stopTimeout 2 s after SIGTERM, then SIGKILL (slack for a loaded machine)
    assert time.monotonic() - t0 < 10
    stop = wait_for("the stop event", lambda: env.stopped(svc))[0]
    assert stop["containers"]["app"]["exit_code"] == 137 and "scale-in" in stop["reason"]


def test_task_role_credentials_from_endpoint(env: Env) -> None:
    svc = name()
    role = env.iam.create_role(
        RoleName=f"{svc}-task",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    code = (
        "import boto3, json, os; s = boto3.Session(); c = s.get_credentials();"
        "ident = s.client('sts').get_caller_identity();"
        "print('RESULT ' + json.dumps({'method': c.method, 'key': c.access_key, 'arn': ident['Arn'],"
        " 'static': sorted(k for k in os.environ if k in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_CA_BUNDLE'))}), flush=True);"
        "import time; time.sleep(300)"
    )
    td = env.register(
        svc, [{"name": "app", "image": "local/venv-python", "command": [code]}], taskRoleArn=role
    )
    nocred = env.register(
        f"{svc}-none",
        [
            {
                "name": "app",
                "command": [
                    "echo UTS $(hostname); python3 -c 'import socket; print(\"FQDN\", socket.getfqdn())'; exec sleep 300"
                ],
            }
        ],
    )
    env.service(svc, td)
    env.service(f"{svc}-none", nocred)
    (task,) = env.running(svc)
    logf = Path(task["containers"][0]["log"])
    line = wait_for(
        "the container's result",
        lambda: [ln for ln in logf.read_text().splitlines() if ln.startswith("RESULT ")],
        timeout=30,
    )[0]
    res = json.loads(line[len("RESULT ") :])
    assert res["method"] == "container-role"
    assert res["key"] not in ("testing", "runner-static-key") and res["static"] == []
    assert ":assumed-role/" in res["arn"] and f"{svc}-task" in res["arn"]
    e = environ(pid_of(task, "app"))
    assert e["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    # the endpoint checks the token
    import httpx

    url = e["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "wrong"}).status_code == 401
    body = httpx.get(url, headers={"Authorization": e["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}).json()
    assert (
        set(body) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}
        and body["RoleArn"] == role
    )
    meta = httpx.get(e["ECS_CONTAINER_METADATA_URI_V4"] + "/task").json()
    assert meta["TaskARN"] == task["task_arn"] and meta["Family"] == svc
    (plain,) = env.running(f"{svc}-none")
    pe = environ(pid_of(plain, "app"))
    assert not {k for k in pe if k.startswith("AWS_CONTAINER_")}
    assert pe["SSL_CERT_FILE"] == str(env.state.parent / "bundle.pem")
    assert (
        "AWS_ACCESS_KEY_ID" not in pe
        and pe["AWS_REGION"] == "us-east-1"
        and re.fullmatch(r"ip-\d+-\d+-\d+-\d+\.ec2\.internal", pe["HOSTNAME"])
    )
    plain_log = Path(plain["containers"][0]["log"])
    assert wait_for("hostname", lambda: f"UTS {pe['HOSTNAME']}" in plain_log.read_text(), timeout=10)
    if os.geteuid() == 0:  # its own UTS namespace: what Python (Airflow's hostname_callable) sees too
        assert wait_for("getfqdn", lambda: f"FQDN {pe['HOSTNAME']}" in plain_log.read_text(), timeout=10)
    env.scale(svc, 0)
    env.scale(f"{svc}-none", 0)


def test_efs_volume_shared_between_tasks(env: Env) -> None:
    svc = name()
    fs = env.efs.create_file_system(CreationToken=svc)["FileSystemId"]
    ap = env.efs.create_access_point(
        FileSystemId=fs,
        RootDirectory={
            "Path": "/dags",
            "CreationInfo": {"OwnerUid": 50000, "OwnerGid": 0, "Permissions": "775"},
        },
    )["AccessPointId"]
    td = env.register(
        svc,
        [
            {
                "name": "app",
                "command": ['echo "$HOSTNAME" > "/mnt/shared/$HOSTNAME"; exec sleep 300'],
                "mountPoints": [{"sourceVolume": "dags", "containerPath": "/mnt/shared"}],
            }
        ],
        volumes=[
            {
                "name": "dags",
                "efsVolumeConfiguration": {
                    "fileSystemId": fs,
                    "transitEncryption": "ENABLED",
                    "authorizationConfig": {"accessPointId": ap, "iam": "ENABLED"},
                },
            }
        ],
    )
    env.service(svc, td, desired=2)
    tasks = env.running(svc, n=2)
    shared = env.state / "efs" / fs / "dags"
    names = wait_for(
        "both tasks' files",
        lambda: sorted(p.name for p in shared.iterdir()) if len(list(shared.iterdir())) == 2 else None,
    )
    assert names == sorted(t["hostname"] for t in tasks) and len(set(names)) == 2
    if os.geteuid() == 0:
        st = shared.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (50000, 0o775)
    env.scale(svc, 0)


def test_scale_in_respects_protection(env: Env) -> None:
    svc = name()
    td = env.register(svc, [{"name": "app", "command": ["exec sleep 300"]}])
    env.service(svc, td, desired=2)
    a, b = sorted(env.running(svc, n=2), key=lambda t: t["uptime"], reverse=True)  # a is the oldest
    env.ecs.update_task_protection(
        cluster=CLUSTER, tasks=[a["task_arn"]], protectionEnabled=True, expiresInMinutes=5
    )
    env.scale(svc, 0)
    wait_for(
        "the unprotected task to stop", lambda: [e for e in env.stopped(svc) if e["task_id"] == b["task_id"]]
    )
    time.sleep(2)
    assert [t["task_id"] for t in env.tasks(svc)] == [a["task_id"]]  # the protected (oldest) one stays
    env.ecs.update_task_protection(cluster=CLUSTER, tasks=[a["task_arn"]], protectionEnabled=False)
    wait_for("the unprotected task to stop", lambda: not env.tasks(svc))


def test_user_applied_for_system_binary(env: Env) -> None:
    if os.geteuid() != 0:
        pytest.skip("applying a container user needs a root runner")
    svc = name()
    td = env.register(
        svc,
        [
            {"name": "app", "image": "local/id", "user": "65534:65534", "essential": False},
            {"name": "keep", "command": ["exec sleep 300"]},
        ],
    )
    env.service(svc, td)
    (task,) = env.running(svc)
    logf = Path(next(c["log"] for c in task["containers"] if c["name"] == "app"))
    out = wait_for("id's output", lambda: "uid=" in logf.read_text() and logf.read_text())
    assert "uid=65534" in out and "gid=65534" in out
    env.scale(svc, 0)


def test_status_cli_and_bad_config(env: Env, tmp_path: Path) -> None:
    fam = name()
    td = env.register(fam, [{"name": "once", "command": ["exit 0"]}])
    arn = env.ecs.run_task(
        cluster=CLUSTER, taskDefinition=td, launchType="FARGATE", networkConfiguration=env.net
    )["tasks"][0]["taskArn"]
    wait_for("the one-off task to stop", lambda: [e for e in env.events("stopped") if e["task_arn"] == arn])
    out = subprocess.run(
        [sys.executable, "-m", "devtools.fargate", "status", "--state-dir", str(env.state)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    ).stdout
    assert f"cluster {CLUSTER}" in out and "last stopped tasks:" in out
    assert f"{arn.rsplit('/', 1)[-1]} ({fam}:1): Essential container in task exited" in out
    (tmp_path / "bad.json").write_text(json.dumps({"cluster": "c"}))
    r = subprocess.run(
        [sys.executable, "-m", "devtools.fargate", "run", "--config", str(tmp_path / "bad.json")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "endpoint_url is required" in r.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        cfg = {
            "endpoint_url": "http://127.0.0.1:1",
            "cluster": "c",
            "state_dir": "st",
            "fronts": {"web:80": f"127.0.0.1:{port}"},
        }
        (tmp_path / "busy.json").write_text(json.dumps(cfg))
        r = subprocess.run(
            [sys.executable, "-m", "devtools.fargate", "run", "--config", str(tmp_path / "busy.json")],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    assert r.returncode == 1 and "front's listen address is in use" in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_standalone_run_task_exit_code_and_awslogs(env: Env) -> None:
    """A task someone else starts with RunTask (the deploy's migration task) runs, reports its exit code and
    ships its log to CloudWatch Logs like the awslogs driver."""
    fam = name()
    group = f"/ecs/{fam}"
    env.logs.create_log_group(logGroupName=group)
    lc = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": group,
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "migrate",
        },
    }
    td = env.register(
        fam,
        [{"name": "migrate", "command": ["echo migrating; echo step two; exit 5"], "logConfiguration": lc}],
    )
    arn = env.ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=td,
        launchType="FARGATE",
        startedBy="infra-migrate",
        networkConfiguration=env.net,
    )["tasks"][0]["taskArn"]
    desc = wait_for("the task to stop", lambda: (d := env.describe(arn))["lastStatus"] == "STOPPED" and d)
    assert desc["stoppedReason"] == "Essential container in task exited"
    assert {c["name"]: c.get("exitCode") for c in desc["containers"]} == {"migrate": 5}
    stream = f"migrate/migrate/{arn.rsplit('/', 1)[-1]}"
    events = env.logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]
    assert [e["message"] for e in events] == ["migrating", "step two"]
    # a standalone task is not restarted
    time.sleep(1.5)
    assert len([e for e in env.events("started") if e.get("task_definition") == td]) == 1


def test_project_images_run_from_the_checkout(env: Env) -> None:
    """The real images' ENTRYPOINT/ENV from their Dockerfiles, the shim, the path map and the host map; the
    image/task ``user`` 50000 is not applied when the venv interpreter is out of its reach (logged once)."""
    svc = name()
    airflow_env = [
        {"name": "AIRFLOW_DB_HOST", "value": "db.fake.us-east-1.rds.amazonaws.com"},
        {"name": "AIRFLOW_DB_PORT", "value": "5432"},
        {"name": "AIRFLOW_REDIS_HOST", "value": "redis.fake.cache.amazonaws.com"},
        {"name": "AIRFLOW_JWT_SECRET", "value": "not-a-secret"},
        {"name": "AIRFLOW__LOGGING__REMOTE_LOGGING", "value": "False"},
    ]
    td = env.register(
        svc,
        [
            {
                "name": "setting",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-airflow-airflow:1",
                "essential": False,
                "user": "50000",
                "command": ["print-setting", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                "environment": airflow_env,
            },
            {
                "name": "envfile",
                "image": "acme-airflow-airflow:1",
                "essential": False,
                "command": ["print-setting", "AIRFLOW__CORE__EXECUTOR"],
                "environment": airflow_env,
            },
            {
                "name": "dagsync",
                "image": "acme-airflow-dagsync:1",
                "essential": False,
                "command": ["check", "--help"],
            },
            {"name": "keep", "command": ["exec sleep 300"]},
        ],
    )
    env.service(svc, td)
    (task,) = env.running(svc)

    def output(container: str) -> str:
        def done() -> str | None:
            t = env.tasks(svc)[0]
            c = next(c for c in t["containers"] if c["name"] == container)
            return Path(c["log"]).read_text() if c["phase"] == "EXITED" else None

        return wait_for(f"{container} to exit", done, timeout=40)  # type: ignore[no-any-return]

    assert "postgresql+psycopg2://airflow:@127.0.0.1:25432/airflow" in output("setting")
    assert "CeleryExecutor" in output("envfile")  # images/airflow/airflow.env through the path map
    assert "--max-age" in output("dagsync")
    desc = env.describe(task["task_arn"])
    assert {c["name"]: c.get("exitCode") for c in desc["containers"]}["dagsync"] == 0
    notes = [
        ln for ln in env.runner_log.read_text().splitlines() if f"{svc}/setting: user 50000 not applied" in ln
    ]
    blocked = os.geteuid() != 0 or can_execute(50000, 0, str(REPO / ".venv-airflow" / "bin" / "python3"))
    assert len(notes) == (1 if blocked else 0), notes
    if blocked:  # ran as the runner's user
        assert environ_owner(env, svc, "keep") == os.geteuid()
    env.scale(svc, 0)


def _start_runner(moto: Server, base: Path, cluster: str) -> subprocess.Popen[bytes]:
    cfg = {
        "endpoint_url": moto.url,
        "cluster": cluster,
        "state_dir": "state",
        "interval": 0.5,
        "images": {"local/sh": {"entrypoint": ["/bin/sh", "-c"]}},
    }
    (base / "cfg.json").write_text(json.dumps(cfg))
    with open(base / "runner.log", "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "devtools.fargate", "run", "--config", str(base / "cfg.json")],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            start_new_session=True,
        )


@pytest.mark.slow
def test_front_follows_rollout(env: Env) -> None:
    """A front is the stable address of a service: it reaches each healthy task, and keeps answering through a
    rollout."""
    import httpx

    svc = "fronttest"
    serve = 'echo "$VERSION $HOSTNAME" > index.html; exec python3 -m http.server "$PORT" --bind 127.0.0.1'
    check = {
        "command": [
            "CMD-SHELL",
            "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/')\"",
        ],
        "interval": 1,
        "retries": 2,
    }

    def td(version: str) -> str:
        return env.register(
            svc,
            [
                {
                    "name": "web",
                    "command": [serve],
                    "portMappings": [{"containerPort": 8080}],
                    "environment": [{"name": "PORT", "value": "8080"}, {"name": "VERSION", "value": version}],
                    "healthCheck": check,
                }
            ],
        )

    env.service(svc, td("v1"), desired=2)
    env.running(svc, n=2, healthy=True)
    url = f"http://127.0.0.1:{FRONT_PORT}/"
    wait_for(
        "both tasks behind the front", lambda: len(env.status()["fronts"][f"{svc}:8080"]["backends"]) == 2
    )
    seen = {httpx.get(url, timeout=5).text.split()[1] for _ in range(10)}
    assert len(seen) == 2  # round robin over the two tasks
    env.ecs.update_service(cluster=CLUSTER, service=svc, taskDefinition=td("v2"))
    failures, versions = 0, set()
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        try:
            versions.add(httpx.get(url, timeout=5).text.split()[0])
        except httpx.HTTPError:
            failures += 1
        tasks = env.tasks(svc)
        if len(tasks) == 2 and all(
            t["task_definition"].endswith(":2") and t["health"] == "HEALTHY" for t in tasks
        ):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"rollout did not finish: {env.tasks(svc)}")
    wait_for(
        "only v2 behind the front",
        lambda: {httpx.get(url, timeout=5).text.split()[0] for _ in range(6)} == {"v2"},
        timeout=10,
    )
    assert failures <= 2, failures
    assert versions <= {"v1", "v2"}
    env.scale(svc, 0)


@pytest.mark.slow
def test_restart_stops_leftovers(moto_server: Server, tmp_path: Path) -> None:
    cluster = "fg-restart"
    ecs = boto3.client(
        "ecs",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ecs.create_cluster(clusterName=cluster)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    td = ecs.register_task_definition(
        family="restart",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "local/sh", "command": ["exec sleep 300"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=cluster,
        serviceName="restart",
        taskDefinition=td,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [], "assignPublicIp": "DISABLED"}
        },
    )
    state = tmp_path / "state"

    def status() -> dict[str, Any]:
        try:
            return json.loads((state / "status.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {}

    first = _start_runner(moto_server, tmp_path, cluster)
    try:
        old = wait_for(
            "a task", lambda: [t for t in status().get("tasks", []) if t["status"] == "RUNNING"], timeout=30
        )[0]
        pid = int(old["containers"][0]["pid"])
        first.kill()  # the runner dies; its container does not
        first.wait()
        assert alive(pid)
        second = _start_runner(moto_server, tmp_path, cluster)
        try:
            wait_for("the leftover to be stopped", lambda: not alive(pid), timeout=20)
            d = wait_for(
                "StopTask of the leftover",
                lambda: (
                    (t := ecs.describe_tasks(cluster=cluster, tasks=[old["task_arn"]])["tasks"][0])[
                        "lastStatus"
                    ]
                    == "STOPPED"
                    and t
                ),
                timeout=10,
            )
            assert d["stoppedReason"] == "Local Fargate runner restarted"
            new = wait_for(
                "a new task",
                lambda: [
                    t
                    for t in status().get("tasks", [])
                    if t["status"] == "RUNNING" and t["task_id"] != old["task_id"]
                ],
                timeout=30,
            )
            assert len(new) == 1
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=40)
    finally:
        if first.poll() is None:
            first.kill()
    assert not list((state / "run").glob("task-*.pid"))
