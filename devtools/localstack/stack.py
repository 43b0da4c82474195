"""The whole platform as supervised local processes: ``up`` (idempotent), ``down``, ``status``, ``clean``.

Every component starts through the same entrypoint script its image uses (images/*/entrypoint.sh), with the
environment an ECS task definition would give it. See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.airflow import AIRFLOW_VENV, entrypoint_cmd, entrypoint_env
from devtools.localstack.config import REPO, StackConfig
from devtools.localstack.procs import Supervisor
from devtools.localstack.reconciler import WORKER_PREFIX
from devtools.servers import _pg_bin, initdb_command, postgres_command, redis_binary, run_as

VENV_BIN = Path(sys.executable).parent
DAGSYNC_ENTRYPOINT = REPO / "images" / "dagsync" / "entrypoint.sh"
SERVICES_ENTRYPOINT = REPO / "images" / "services" / "entrypoint.sh"
AIRFLOW_ROLES = ("api-server", "scheduler", "dag-processor", "triggerer")

Say = Callable[[str], None]


def _say(msg: str) -> None:
    print(msg, flush=True)


class StackError(RuntimeError):
    """One line for the user, saying what to do next."""


# --- environments (what an ECS task definition would pass) ---------------------------------------------------------
def aws_env(cfg: StackConfig) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": cfg.aws_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "AIRFLOW", "SCALER_", "HEALTHCHECK_"))
    }
    env = {k: v for k, v in env.items() if not k.startswith("DAGSYNC_")}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def airflow_env(cfg: StackConfig) -> dict[str, str]:
    extra = {
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(cfg.worker_concurrency),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(cfg.ports["scheduler_health"]),
        "AIRFLOW__LOGGING__TRIGGERER_LOG_SERVER_PORT": str(cfg.ports["triggerer_log"]),
        "AIRFLOW_WAIT_FOR_MIGRATIONS": "false",  # `up` migrates before starting anything
        **cfg.airflow_extra_env,
    }
    env = entrypoint_env(
        cfg.airflow_home,
        db_port=cfg.ports["postgres"],
        redis_port=cfg.ports["redis"],
        api_port=cfg.ports["api"],
        jwt_secret=cfg.jwt_secret,
        dags_folder=cfg.dags_dir,
        plugins_folder=cfg.plugins_dir,
        log_bucket=cfg.bucket,
        aws_endpoint=cfg.aws_url,
        extra=extra,
        create_folders=False,
    )
    env.pop("AWS_CA_BUNDLE", None)  # plain-HTTP moto
    return env


def dagsync_env(cfg: StackConfig, kind: str) -> dict[str, str]:
    dest = cfg.dags_dir if kind == "dags" else cfg.plugins_dir
    prefix = cfg.dags_prefix if kind == "dags" else cfg.plugins_prefix
    return {
        **base_env(),
        **aws_env(cfg),
        "DAGSYNC_SOURCE": f"s3://{cfg.bucket}/{prefix}",
        "DAGSYNC_DEST": str(dest),
        "DAGSYNC_INTERVAL": str(cfg.dagsync_interval),
        "DAGSYNC_METRICS_PORT": str(cfg.ports[f"dagsync_{kind}"]),
        "DAGSYNC_SIDECAR_ID": f"local-{kind}",
        "DAGSYNC_HEALTH_MAX_AGE": str(max(30.0, 6 * cfg.dagsync_interval)),
    }


def scaler_env(cfg: StackConfig) -> dict[str, str]:
    return {
        **base_env(),
        **aws_env(cfg),
        "SCALER_DB_URL": cfg.db_url,
        "SCALER_REDIS_URL": cfg.redis_url,
        "SCALER_APPLY": "ecs",
        "SCALER_ECS_CLUSTER": cfg.cluster,
        "SCALER_ECS_SERVICE": cfg.worker_service,
        "SCALER_WORKER_CONCURRENCY": str(cfg.worker_concurrency),
        "SCALER_MIN_WORKERS": str(cfg.scaler_active_min),
        "SCALER_MAX_WORKERS": str(cfg.max_workers),
        "SCALER_COOLDOWN": str(cfg.scaler_cooldown),
        "SCALER_SCHEDULE": cfg.scaler_schedule,
        "SCALER_INTERVAL": str(cfg.scaler_interval),
        "SCALER_METRICS_PORT": str(cfg.ports["scaler"]),
        "SCALER_METRICS_HOST": "127.0.0.1",
        "SCALER_CW_ENV": "local",
        "SERVICE_ROLE_FILE": str(cfg.state_dir / "run" / "scaler.role"),
    }


def healthcheck_env(cfg: StackConfig) -> dict[str, str]:
    return {
        **base_env(),
        **aws_env(cfg),
        "HEALTHCHECK_HOST": "127.0.0.1",
        "HEALTHCHECK_PORT": str(cfg.ports["healthcheck"]),
        "HEALTHCHECK_CACHE_TTL": "2",
        "HEALTHCHECK_STALE_GRACE": "5",
        "HEALTHCHECK_AIRFLOW_URL": cfg.api_url,
        "HEALTHCHECK_REDIS_URL": cfg.redis_url,
        "HEALTHCHECK_POSTGRES_URL": cfg.db_url,
        "HEALTHCHECK_DAGSYNC_ENABLED": "true",
        "HEALTHCHECK_DAGSYNC_STATE_DIRS": ",".join(
            str(cfg.dagsync_state(d)) for d in (cfg.dags_dir, cfg.plugins_dir)
        ),
        "HEALTHCHECK_DAGSYNC_MAX_AGE": str(max(30.0, 6 * cfg.dagsync_interval)),
        "HEALTHCHECK_SCALER_URL": f"http://127.0.0.1:{cfg.ports['scaler']}",
        "HEALTHCHECK_SCALER_MAX_AGE": str(max(30.0, 6 * cfg.scaler_interval)),
        "HEALTHCHECK_ECS_ENABLED": "true",
        "HEALTHCHECK_ECS_CLUSTER": cfg.cluster,
        "HEALTHCHECK_ECS_SERVICES": cfg.worker_service,
        "HEALTHCHECK_ECS_WORKER_SERVICE": cfg.worker_service,
        "SERVICE_ROLE_FILE": str(cfg.state_dir / "run" / "healthcheck.role"),
    }


# --- readiness -----------------------------------------------------------------------------------------------------
def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback http only
            return bool(resp.status == 200)
    except Exception:
        return False


def port_open(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, sup: Supervisor, name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if sup.running(name) is None:
            raise StackError(
                f"{name} exited while starting: see {sup.log_file(name)}\n{tail(sup.log_file(name))}"
            )
        time.sleep(0.2)
    raise StackError(f"{name} not ready after {timeout:.0f}s ({what}): see {sup.log_file(name)}")


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# --- components ----------------------------------------------------------------------------------------------------
@dataclass
class Component:
    name: str
    start: Callable[[StackConfig, Supervisor], None]
    ready: Callable[[StackConfig], bool] | None
    ready_timeout: float = 120.0
    port_key: str | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 30.0
    needs: str | None = None  # console script that must exist in the venv (another issue's service)


def _postgres_start(cfg: StackConfig, sup: Supervisor) -> None:
    pgdir = cfg.state_dir / "postgres"
    data = pgdir / "data"
    pgdir.mkdir(parents=True, exist_ok=True)
    user = None
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = "postgres"
        pw = pwd.getpwnam(user)
        for parent in [pgdir, *pgdir.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)  # traversable by postgres
        os.chown(pgdir, pw.pw_uid, pw.pw_gid)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    extra = run_as(user)
    if not (data / "PG_VERSION").exists():
        r = subprocess.run(  # type: ignore[call-overload]
            initdb_command(data),
            capture_output=True,
            text=True,
            env=env,
            cwd=pgdir,
            **extra,
        )
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["?"])[-1]
            raise StackError(
                f"initdb failed: {last} (the state dir must be traversable by the postgres user)"
            )
    cmd = postgres_command(data, cfg.ports["postgres"], pgdir, max_connections=300)
    sup.spawn("postgres", cmd, env, cwd=pgdir, user=user)
    wait_until(lambda: port_open(cfg.ports["postgres"]), 60, "port", sup, "postgres")
    psql = [_pg_bin("psql"), f"postgresql://postgres@127.0.0.1:{cfg.ports['postgres']}/postgres", "-Atc"]
    for _ in range(200):
        r = subprocess.run(
            [*psql, "SELECT 1 FROM pg_database WHERE datname='airflow'"], capture_output=True, env=env
        )
        if r.returncode == 0:
            if r.stdout.strip() != b"1":
                subprocess.run([*psql, "CREATE DATABASE airflow"], capture_output=True, env=env, check=True)
            return
        time.sleep(0.1)
    raise StackError(f"postgres never accepted queries: see {sup.log_file('postgres')}")


def _redis_start(cfg: StackConfig, sup: Supervisor) -> None:
    rdir = cfg.state_dir / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        redis_binary(),
        "--port",
        str(cfg.ports["redis"]),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
    ]
    cmd += ["no", "--dir", str(rdir), "--daemonize", "no"]
    sup.spawn("redis", cmd, base_env(), cwd=rdir)


def _moto_start(cfg: StackConfig, sup: Supervisor) -> None:
    env = base_env()
    env["PYTHONPATH"] = str(REPO)
    env.pop("AWS_CA_BUNDLE", None)
    cmd = [sys.executable, "-m", "devtools.moto_launcher", "-H", "127.0.0.1", "-p", str(cfg.ports["moto"])]
    sup.spawn("moto", cmd, env, cwd=REPO)


def _airflow_start(role: str) -> Callable[[StackConfig, Supervisor], None]:
    def start(cfg: StackConfig, sup: Supervisor) -> None:
        env = airflow_env(cfg)
        env["AIRFLOW_ROLE_FILE"] = str(sup.run_dir / f"{role}.role")
        sup.spawn(role, entrypoint_cmd(role), env, cwd=cfg.state_dir)

    return start


def _dagsync_start(kind: str) -> Callable[[StackConfig, Supervisor], None]:
    def start(cfg: StackConfig, sup: Supervisor) -> None:
        sup.spawn(
            f"dagsync-{kind}",
            ["bash", str(DAGSYNC_ENTRYPOINT), "run"],
            dagsync_env(cfg, kind),
            cwd=cfg.state_dir,
        )

    return start


def _reconciler_start(cfg: StackConfig, sup: Supervisor) -> None:
    env = base_env()
    env["PYTHONPATH"] = str(REPO)
    env.pop("AWS_CA_BUNDLE", None)
    cmd = [sys.executable, "-m", "devtools.localstack.reconciler", "--state-dir", str(cfg.state_dir)]
    sup.spawn("reconciler", cmd, env, cwd=REPO)


def _scaler_start(cfg: StackConfig, sup: Supervisor) -> None:
    sup.spawn(
        "scaler", ["bash", str(SERVICES_ENTRYPOINT), "scaler", "run"], scaler_env(cfg), cwd=cfg.state_dir
    )


def _healthcheck_start(cfg: StackConfig, sup: Supervisor) -> None:
    cmd = ["bash", str(SERVICES_ENTRYPOINT), "healthcheck", "serve"]
    sup.spawn("healthcheck", cmd, healthcheck_env(cfg), cwd=cfg.state_dir)


COMPONENTS: list[Component] = [
    Component("postgres", _postgres_start, None, port_key="postgres", stop_signal=signal.SIGINT),
    Component("redis", _redis_start, lambda c: port_open(c.ports["redis"]), 30, "redis"),
    Component("moto", _moto_start, lambda c: http_ok(f"{c.aws_url}/moto-api/"), 60, "moto"),
    Component("dagsync-dags", _dagsync_start("dags"), None, needs="dagsync", port_key="dagsync_dags"),
    Component(
        "dagsync-plugins", _dagsync_start("plugins"), None, needs="dagsync", port_key="dagsync_plugins"
    ),
    Component(
        "api-server",
        _airflow_start("api-server"),
        lambda c: http_ok(f"{c.api_url}/api/v2/monitor/health"),
        180,
        "api",
    ),
    Component(
        "scheduler",
        _airflow_start("scheduler"),
        lambda c: http_ok(f"http://127.0.0.1:{c.ports['scheduler_health']}/health"),
        180,
        "scheduler_health",
    ),
    Component("dag-processor", _airflow_start("dag-processor"), None),
    Component("triggerer", _airflow_start("triggerer"), None),
    Component("reconciler", _reconciler_start, None),
    Component(
        "scaler",
        _scaler_start,
        lambda c: http_ok(f"http://127.0.0.1:{c.ports['scaler']}/metrics"),
        60,
        "scaler",
        needs="scaler",
    ),
    Component(
        "healthcheck",
        _healthcheck_start,
        lambda c: http_ok(f"http://127.0.0.1:{c.ports['healthcheck']}/health"),
        60,
        "healthcheck",
        needs="healthcheck",
    ),
]
BY_NAME = {c.name: c for c in COMPONENTS}


def cli_available(script: str) -> bool:
    """Another issue's console script, installed and importable (its package may not have landed yet)."""
    path = VENV_BIN / script
    if not path.exists():
        return False
    r = subprocess.run([str(path), "--help"], capture_output=True, timeout=60)
    return r.returncode == 0


# --- one-shot steps ------------------------------------------------------------------------------------------------
def setup_aws(cfg: StackConfig) -> None:
    """The emulated AWS side: log/DAG bucket, ECS cluster, worker task definition and service (idempotent)."""
    import boto3

    kw = {
        "endpoint_url": cfg.aws_url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    s3 = boto3.client("s3", **kw)  # type: ignore[call-overload]
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=cfg.bucket)
    ec2 = boto3.client("ec2", **kw)  # type: ignore[call-overload]
    subnet, sg = _network(ec2, cfg.cluster)
    ecs = boto3.client("ecs", **kw)  # type: ignore[call-overload]
    ecs.create_cluster(clusterName=cfg.cluster)  # idempotent
    try:
        ecs.describe_task_definition(taskDefinition=cfg.worker_family)
    except ecs.exceptions.ClientException:
        ecs.register_task_definition(
            family=cfg.worker_family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            containerDefinitions=[  # moto's RunTask on FARGATE needs per-container cpu/memory
                {
                    "name": "worker",
                    "image": "airflow-platform-airflow:local",
                    "cpu": 1024,
                    "memory": 2048,
                    "essential": True,
                    "command": ["worker"],
                    "stopTimeout": 120,
                    "healthCheck": {
                        "command": ["CMD", "/usr/local/bin/airflow-entrypoint", "health", "worker"],
                        "interval": 30,
                        "timeout": 20,
                        "retries": 3,
                        "startPeriod": 60,
                    },
                }
            ],
        )
    services = ecs.describe_services(cluster=cfg.cluster, services=[cfg.worker_service]).get("services", [])
    if not [s for s in services if s.get("status") == "ACTIVE"]:
        ecs.create_service(
            cluster=cfg.cluster,
            serviceName=cfg.worker_service,
            taskDefinition=cfg.worker_family,
            desiredCount=cfg.min_workers,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [subnet],
                    "securityGroups": [sg],
                    "assignPublicIp": "DISABLED",
                }
            },
        )


def _network(ec2: Any, name: str) -> tuple[str, str]:
    """A VPC, subnet and security group for awsvpc tasks (found by Name tag, created once)."""

    def tags(kind: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]

    by_name = [{"Name": "tag:Name", "Values": [name]}]
    vpcs = ec2.describe_vpcs(Filters=by_name)["Vpcs"]
    vpc = (
        vpcs[0]["VpcId"]
        if vpcs
        else ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=tags("vpc"))["Vpc"]["VpcId"]
    )
    # moto's awsvpc RunTask reads the ENI's private DNS name, which exists only with DNS hostnames on
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = ec2.describe_subnets(Filters=by_name)["Subnets"]
    subnet = (
        subnets[0]["SubnetId"]
        if subnets
        else ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24", TagSpecifications=tags("subnet"))[
            "Subnet"
        ]["SubnetId"]
    )
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])[
        "SecurityGroups"
    ]
    sg = (
        groups[0]["GroupId"]
        if groups
        else ec2.create_security_group(GroupName=name, Description="local workers", VpcId=vpc)["GroupId"]
    )
    return subnet, sg


def migrate(cfg: StackConfig, sup: Supervisor) -> bool:
    """``entrypoint.sh migrate`` once per database (a marker in AIRFLOW_HOME). True if it ran."""
    marker = cfg.airflow_home / ".migrated"
    if marker.exists():
        return False
    env = airflow_env(cfg)
    env["AIRFLOW_ROLE_FILE"] = str(sup.run_dir / "migrate.role")
    sup.log_dir.mkdir(parents=True, exist_ok=True)
    with open(sup.log_file("airflow-migrate"), "ab") as out:
        r = subprocess.run(
            entrypoint_cmd("migrate"), env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600
        )
    if r.returncode != 0:
        raise StackError(f"airflow db migrate failed: see {sup.log_file('airflow-migrate')}")
    marker.write_text("3.1.8\n")
    return True


def publish(cfg: StackConfig, sup: Supervisor) -> None:
    """``dagsync publish`` the DAG (and plugin) sources to the local bucket."""
    pairs = [(cfg.dag_source, cfg.dags_prefix)]
    plugins = cfg.plugins_source or cfg.state_dir / "plugins-src"
    plugins.mkdir(parents=True, exist_ok=True)
    pairs.append((plugins, cfg.plugins_prefix))
    env = {**base_env(), **aws_env(cfg)}
    for src, prefix in pairs:
        with open(sup.log_file("dagsync-publish"), "ab") as out:
            r = subprocess.run(
                [
                    str(VENV_BIN / "dagsync"),
                    "publish",
                    "--source",
                    str(src),
                    "--dest",
                    f"s3://{cfg.bucket}/{prefix}",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if r.returncode != 0:
            raise StackError(f"dagsync publish {src} failed: see {sup.log_file('dagsync-publish')}")


# --- up / down / status / clean ------------------------------------------------------------------------------------
def check_prereqs() -> None:
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        raise StackError(
            f"{AIRFLOW_VENV}/bin/airflow not found: run `make airflow-venv` (make local does it)"
        )
    redis_binary()
    _pg_bin("initdb")


def up(cfg: StackConfig, only: Iterable[str] = (), say: Say = _say) -> dict[str, str]:
    """Start whatever is not running (PID files decide). Returns {component: 'started'|'running'|'skipped: ...'}."""
    check_prereqs()
    sup = Supervisor(cfg.state_dir)
    wanted = list(only)
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown:
        raise StackError(f"unknown component(s) {', '.join(unknown)}; one of: {', '.join(BY_NAME)}")
    todo = [c for c in COMPONENTS if not wanted or c.name in wanted]
    result: dict[str, str] = {}
    total = len(todo)
    t_all = time.monotonic()
    for i, comp in enumerate(todo, 1):
        prefix = f"==> [{i:2}/{total}] {comp.name:<16}"
        if comp.name == "dagsync-dags" and not wanted:  # the bucket and ECS service exist before any consumer
            setup_aws(cfg)
        if comp.name == "api-server" and not wanted and cli_available("dagsync"):
            t0 = time.monotonic()  # every full `up` republishes, so local edits land (only changes upload)
            publish(cfg, sup)
            say(
                f"==>         dagsync publish      {cfg.dag_source} -> s3://{cfg.bucket}/{cfg.dags_prefix} in {time.monotonic() - t0:.1f}s"
            )
        if comp.name == "api-server" and not wanted:
            t0 = time.monotonic()
            ran = migrate(cfg, sup)
            say(
                f"==>         airflow db migrate   {'done in %.1fs' % (time.monotonic() - t0) if ran else 'already migrated'}"
            )
        info = sup.running(comp.name)
        if info is not None:
            result[comp.name] = "running"
            say(f"{prefix} already running (pid {info.pid})")
            continue
        if comp.needs and not cli_available(comp.needs):
            result[comp.name] = f"skipped: `{comp.needs}` CLI not installed/importable"
            say(f"{prefix} SKIPPED: the `{comp.needs}` CLI is not available yet")
            continue
        if comp.port_key and port_open(cfg.ports[comp.port_key]):
            raise StackError(
                f"port {cfg.ports[comp.port_key]} ({comp.name}) is in use by another process: stop it, or set "
                f"LOCAL_{comp.port_key.upper()}_PORT and run `make local-clean` first"
            )
        t0 = time.monotonic()
        comp.start(cfg, sup)
        if comp.ready is not None:
            ready = comp.ready
            wait_until(lambda ready=ready: ready(cfg), comp.ready_timeout, "ready check", sup, comp.name)  # type: ignore[misc]
        else:
            time.sleep(0.3)
            if sup.running(comp.name) is None:
                raise StackError(
                    f"{comp.name} exited at start: see {sup.log_file(comp.name)}\n{tail(sup.log_file(comp.name))}"
                )
        info = sup.running(comp.name)
        result[comp.name] = "started"
        say(f"{prefix} started in {time.monotonic() - t0:4.1f}s (pid {info.pid if info else '?'})")
    say(f"==> stack up in {time.monotonic() - t_all:.1f}s")
    return result


def stop_order() -> list[str]:
    return [c.name for c in reversed(COMPONENTS)]


def down(cfg: StackConfig, say: Say = _say, worker_timeout: float = 60.0) -> list[str]:
    """Stop every process by its PID file, dependants first. Workers get a warm shutdown (SIGTERM)."""
    sup = Supervisor(cfg.state_dir)
    stopped: list[str] = []

    def stop(name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        t0 = time.monotonic()
        if sup.stop(name, sig, timeout):
            stopped.append(name)
            say(f"==> stopped {name:<28} in {time.monotonic() - t0:4.1f}s")

    for name in ("healthcheck", "scaler", "reconciler"):
        stop(name)
    workers = sup.names(WORKER_PREFIX)
    for name in workers:  # all warm shutdowns at once, then wait for each
        sup.send(name, signal.SIGTERM)
    for name in workers:
        stop(name, timeout=worker_timeout)
    for name in stop_order():
        if name not in ("healthcheck", "scaler", "reconciler"):
            comp = BY_NAME[name]
            stop(name, comp.stop_signal, comp.stop_timeout)
    for stray in sup.names():  # anything else with a PID file
        stop(stray)
    return stopped


def status(cfg: StackConfig) -> list[dict[str, object]]:
    sup = Supervisor(cfg.state_dir)
    rows: list[dict[str, object]] = []
    names = [c.name for c in COMPONENTS] + sup.names(WORKER_PREFIX)
    for name in names:
        info = sup.running(name)
        comp = BY_NAME.get(name)
        port = cfg.ports.get(comp.port_key) if comp and comp.port_key else None
        rows.append(
            {
                "name": name,
                "state": "running" if info else "stopped",
                "pid": info.pid if info else None,
                "port": port,
                "log": str(sup.log_file(name)),
            }
        )
    return rows


def clean(cfg: StackConfig, say: Say = _say) -> None:
    sup = Supervisor(cfg.state_dir)
    if any(sup.running(n) for n in sup.names()):
        down(cfg, say)
    shutil.rmtree(cfg.state_dir, ignore_errors=True)
    say(f"==> removed {cfg.state_dir}")


def summary(cfg: StackConfig) -> str:
    sup = Supervisor(cfg.state_dir)
    lines = [
        "",
        "Local Airflow platform is up.",
        f"  Airflow UI      {cfg.api_url}/   login admin / admin",
        f"  /status         http://127.0.0.1:{cfg.ports['healthcheck']}/status   (page: http://127.0.0.1:{cfg.ports['healthcheck']}/)",
        f"  scaler          http://127.0.0.1:{cfg.ports['scaler']}/decision",
        f"  moto (AWS)      {cfg.aws_url}   bucket s3://{cfg.bucket}, ECS {cfg.cluster}/{cfg.worker_service}",
        f"  DAGs            {cfg.dag_source} -> s3://{cfg.bucket}/{cfg.dags_prefix} -> {cfg.dags_dir}",
        "                  republish on change: .venv/bin/dagsync publish --watch "
        f"--source {cfg.dag_source} --dest s3://{cfg.bucket}/{cfg.dags_prefix}  (with AWS_ENDPOINT_URL={cfg.aws_url})",
        f"  logs            {sup.log_dir}/<component>.log  (workers: worker-<ecs task id>.log)",
        f"  state           {cfg.state_dir}   (PID files in {sup.run_dir})",
        "  status          make local-status",
        "  stop            make local-down      (remove all state: make local-clean)",
    ]
    return "\n".join(lines)


def dump_status(cfg: StackConfig) -> str:
    rows = status(cfg)
    out = [f"{'component':<44} {'state':<8} {'pid':>7} {'port':>6}  log"]
    for r in rows:
        out.append(
            f"{r['name']!s:<44} {r['state']!s:<8} {r['pid'] or '-'!s:>7} {r['port'] or '-'!s:>6}  {r['log']}"
        )
    rec = cfg.state_dir / "run" / "reconciler.json"
    if rec.exists():
        with contextlib.suppress(ValueError):
            data = json.loads(rec.read_text())
            out.append(
                f"workers: desired {data['desired']}, running {len(data['workers'])}, stopping {len(data['stopping'])}"
            )
    return "\n".join(out)
