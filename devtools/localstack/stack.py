"""`make local`: the deploy path, run against emulated AWS. ``up`` (idempotent), ``down``, ``status``, ``clean``.

1. The stand-ins: the moto server (AWS), Postgres with SSL (RDS), Redis with TLS and AUTH (ElastiCache), and the
   data-store sync that makes them serve what the emulator's RDS/ElastiCache say (devtools/localstack/datastores.py).
2. ``infra --emulated apply local``: the same root module as dev and prod with the emulator's settings
   (infra/envs/local). Once the data stores exist, the local Fargate runner (devtools/fargate) starts and runs the
   task definitions the apply registers, as ECS would, including the migration task the apply ends with.
3. The deploy path's DAG publish (``dagsync publish`` to ``s3://<org>-airflow-dags/<env>/``).
4. Wait until the services answer through the runner's fronts.

Nothing here says how a platform process runs: that is the task definitions' job. See
docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devtools.localstack import tls
from devtools.localstack.config import REPO, StackConfig
from devtools.localstack.procs import Supervisor
from devtools.servers import _pg_bin, initdb_command, postgres_command, redis_binary, run_as

VENV_BIN = Path(sys.executable).parent
AIRFLOW_VENV = REPO / ".venv-airflow"
Say = Callable[[str], None]
SERVERS = ("moto", "postgres", "redis", "datastores")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MIRROR_CONFIG = "tf-cli.hcl"  # infra/tf-cli.hcl: the offline provider mirror of this project's test machines


def _say(msg: str) -> None:
    print(msg, flush=True)


class StackError(RuntimeError):
    """One line for the user, saying what to do next."""


def base_env() -> dict[str, str]:
    """This process's environment without AWS/Airflow/service settings (the stand-ins get only what they need)."""
    prefixes = ("AWS_", "AIRFLOW", "SCALER_", "HEALTHCHECK_", "DAGSYNC_", "TF_VAR_", "INFRA_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO)
    return env


def aws_env(cfg: StackConfig) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": cfg.aws_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def boto(cfg: StackConfig, service: str) -> Any:
    import boto3

    env = aws_env(cfg)
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


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


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


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


# --- the stand-ins -------------------------------------------------------------------------------------------------
def start_moto(cfg: StackConfig, sup: Supervisor) -> None:
    env = base_env()
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    cmd = [sys.executable, "-m", "devtools.moto_launcher", "-H", "127.0.0.1", "-p", str(cfg.ports["moto"])]
    sup.spawn("moto", cmd, env, cwd=REPO)
    wait_until(lambda: http_ok(f"{cfg.aws_url}/moto-api/"), 60, "http", sup, "moto")


def start_postgres(cfg: StackConfig, sup: Supervisor, certs: tls.TlsFiles) -> None:
    """Postgres 15 like RDS with rds.force_ssl: TCP only with SSL and a password; the superuser only on the socket."""
    pgdir = cfg.pg_socket_dir
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
    if not (data / "PG_VERSION").exists():
        r = subprocess.run(  # type: ignore[call-overload]
            initdb_command(data), capture_output=True, text=True, env=env, cwd=pgdir, **run_as(user)
        )
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["?"])[-1]
            raise StackError(
                f"initdb failed: {last} (the state dir must be traversable by the postgres user)"
            )
    (data / "pg_hba.conf").write_text(
        "# written by devtools/localstack/stack.py: SSL and a password over TCP, like RDS with rds.force_ssl\n"
        "local all postgres trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostnossl all all 0.0.0.0/0 reject\n"
    )
    key = pgdir / "server.key"
    shutil.copyfile(certs.key, key)
    shutil.copyfile(certs.cert, pgdir / "server.crt")
    os.chmod(key, 0o600)
    if user:
        pw = pwd.getpwnam(user)
        for f in (data / "pg_hba.conf", key, pgdir / "server.crt"):
            os.chown(f, pw.pw_uid, pw.pw_gid)
    cmd = postgres_command(data, cfg.ports["postgres"], pgdir, max_connections=300)
    cmd += ["-c", "ssl=on", "-c", f"ssl_cert_file={pgdir / 'server.crt'}", "-c", f"ssl_key_file={key}"]
    cmd += ["-c", "password_encryption=scram-sha-256"]
    sup.spawn("postgres", cmd, env, cwd=pgdir, user=user)
    psql = [
        _pg_bin("psql"),
        "-h",
        str(pgdir),
        "-p",
        str(cfg.ports["postgres"]),
        "-U",
        "postgres",
        "-Atc",
        "SELECT 1",
    ]
    wait_until(
        lambda: subprocess.run(psql, capture_output=True, env=env).returncode == 0,
        60,
        "psql",
        sup,
        "postgres",
    )


def start_redis(cfg: StackConfig, sup: Supervisor, certs: tls.TlsFiles) -> None:
    """Redis with TLS only, like ElastiCache with in-transit encryption; the AUTH token comes from datastores."""
    rdir = cfg.state_dir / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    cmd = [redis_binary(), "--port", "0", "--tls-port", str(cfg.ports["redis"]), "--bind", "127.0.0.1"]
    cmd += [
        "--tls-cert-file",
        str(certs.cert),
        "--tls-key-file",
        str(certs.key),
        "--tls-ca-cert-file",
        str(certs.ca),
    ]
    cmd += [
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(rdir),
        "--daemonize",
        "no",
    ]
    sup.spawn("redis", cmd, base_env(), cwd=rdir)
    wait_until(lambda: port_open(cfg.ports["redis"]), 30, "port", sup, "redis")


def start_datastores(cfg: StackConfig, sup: Supervisor) -> None:
    cmd = [sys.executable, "-m", "devtools.localstack.datastores", "--state-dir", str(cfg.state_dir)]
    sup.spawn("datastores", cmd, base_env(), cwd=REPO)


# --- the deploy path -------------------------------------------------------------------------------------------------
def bootstrap(cfg: StackConfig, certs: tls.TlsFiles) -> str:
    """What infra/bootstrap and the account provide before an env: the org's DAG bucket and the UI certificate."""
    s3 = boto(cfg, "s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=cfg.dags_bucket)
    acm = boto(cfg, "acm")
    arns = [c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]]
    if arns:
        return str(arns[0])
    return str(
        acm.import_certificate(
            Certificate=certs.cert.read_bytes(),
            PrivateKey=certs.key.read_bytes(),
            CertificateChain=certs.ca.read_bytes(),
        )["CertificateArn"]
    )


def mirror_env(cfg: StackConfig) -> dict[str, str]:
    """INFRA_TF_MIRROR as the user set it; when unset, on while the mirror that infra/tf-cli.hcl names exists on this
    machine (the project's test machines have no registry access); a laptop without it uses the normal registry."""
    if "INFRA_TF_MIRROR" in os.environ:
        return {"INFRA_TF_MIRROR": os.environ["INFRA_TF_MIRROR"]}
    text = (cfg.infra_dir / MIRROR_CONFIG).read_text() if (cfg.infra_dir / MIRROR_CONFIG).exists() else ""
    m = re.search(r'path\s*=\s*"([^"]+)"', text)
    return {"INFRA_TF_MIRROR": "1"} if m and Path(m.group(1)).is_dir() else {}


def apply_command(cfg: StackConfig) -> list[str]:
    cmd = [str(VENV_BIN / "infra"), "--emulated", "--yes"]
    for name, value in sorted(cfg.tf_vars.items()):
        cmd += ["--var", f"{name}={value}"]
    return [*cmd, "apply", cfg.env]


def apply_env(cfg: StackConfig, certificate_arn: str) -> dict[str, str]:
    return {
        **base_env(),
        **aws_env(cfg),
        **mirror_env(cfg),
        "INFRA_DIR": str(cfg.infra_dir),
        "INFRA_TF_PARALLELISM": "30",
        "INFRA_MIGRATE_TIMEOUT": str(cfg.migrate_timeout),
        "TF_VAR_org": cfg.org,
        "TF_VAR_certificate_arn": certificate_arn,
    }


def runner_config(cfg: StackConfig, stores: dict[str, Any], certs: tls.TlsFiles) -> dict[str, Any]:
    """The translation table's local half: AWS host names -> the stand-ins, and the fronts."""
    api = f"127.0.0.1:{cfg.ports['api']}"
    return {
        "endpoint_url": cfg.aws_url,
        "region": "us-east-1",
        "cluster": cfg.cluster,
        "state_dir": str(cfg.runner_dir),
        "interval": cfg.runner_interval,
        "hosts": {
            f"{stores['rds']['address']}:{stores['rds']['port']}": f"127.0.0.1:{cfg.ports['postgres']}",
            f"{stores['redis']['address']}:{stores['redis']['port']}": f"127.0.0.1:{cfg.ports['redis']}",
            f"api-server.{cfg.name_prefix}.internal:8080": api,  # Cloud Map (docs/adr/0011)
        },
        "fronts": {
            f"{cfg.service('api-server')}:8080": api,
            f"{cfg.service('healthcheck')}:8000": f"127.0.0.1:{cfg.ports['healthcheck']}",
            f"{cfg.service('scaler')}:9102": f"127.0.0.1:{cfg.ports['scaler']}",
        },
        "trust_bundle": str(certs.bundle),
    }


def start_runner(cfg: StackConfig, sup: Supervisor, config: dict[str, Any]) -> None:
    path = cfg.state_dir / "fargate.json"
    path.write_text(json.dumps(config, indent=2))
    env = base_env()
    env.pop("AWS_CA_BUNDLE", None)
    sup.spawn(
        "fargate", [sys.executable, "-m", "devtools.fargate", "run", "--config", str(path)], env, cwd=REPO
    )


def read_stores(cfg: StackConfig) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        return dict(json.loads((cfg.state_dir / "datastores.json").read_text()))
    return {}


def apply(cfg: StackConfig, sup: Supervisor, certs: tls.TlsFiles, say: Say) -> None:
    """`infra apply local`; the runner joins once the data stores exist (the apply ends with the migration task)."""
    certificate_arn = bootstrap(cfg, certs)
    log = sup.log_file("infra-apply")
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            apply_command(cfg),
            env=apply_env(cfg, certificate_arn),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    last = 0.0
    while proc.poll() is None:
        if sup.running("fargate") is None:
            stores = read_stores(cfg)
            if stores.get("rds") and stores.get("redis"):
                start_runner(cfg, sup, runner_config(cfg, stores, certs))
                say(
                    f"==>         fargate runner        started ({time.monotonic() - t0:.0f}s into the apply)"
                )
        if time.monotonic() - last >= 20:
            last = time.monotonic()
            lines = [ANSI.sub("", ln).strip() for ln in tail(log, 40).splitlines()]
            lines = [ln for ln in lines if ln and ln not in "│╵╷"]
            say(
                f"==>         infra apply {cfg.env:<10} {time.monotonic() - t0:4.0f}s  {(lines or [''])[-1][:90]}"
            )
        time.sleep(1)
    if proc.returncode != 0:
        raise StackError(f"infra apply {cfg.env} failed (exit {proc.returncode}): see {log}\n{tail(log, 25)}")
    if sup.running("fargate") is None:  # nothing changed (stores already known): the runner was not needed
        stores = read_stores(cfg)
        if not (stores.get("rds") and stores.get("redis")):
            raise StackError(f"the emulator has no RDS/ElastiCache for {cfg.name_prefix}: see {log}")
        start_runner(cfg, sup, runner_config(cfg, stores, certs))
    say(
        f"==>         infra apply {cfg.env:<10} done in {time.monotonic() - t0:.0f}s (migration task included)"
    )


def publish(cfg: StackConfig, sup: Supervisor) -> None:
    """The deploy path's DAG publish (the dag-sync workflow's step): only changed files upload."""
    cmd = [str(VENV_BIN / "dagsync"), "publish", "--source", str(cfg.dag_source)]
    cmd += ["--dest", f"s3://{cfg.dags_bucket}/{cfg.dags_prefix}"]
    with open(sup.log_file("dagsync-publish"), "ab") as out:
        r = subprocess.run(
            cmd, env={**base_env(), **aws_env(cfg)}, stdout=out, stderr=subprocess.STDOUT, timeout=300
        )
    if r.returncode != 0:
        raise StackError(f"dagsync publish {cfg.dag_source} failed: see {sup.log_file('dagsync-publish')}")


def fronts_ready(cfg: StackConfig) -> dict[str, bool]:
    return {
        "api-server": http_ok(f"{cfg.api_url}/api/v2/monitor/health"),
        "healthcheck": http_ok(f"{cfg.healthcheck_url}/health"),
        "scaler": http_ok(f"{cfg.scaler_url}/metrics"),
    }


def services_not_ready(cfg: StackConfig) -> list[str]:
    """Services not at steady state by the runner's view: desired tasks RUNNING and HEALTHY (ECS's definition for
    tasks whose containers have health checks)."""
    try:
        status = json.loads((cfg.runner_dir / "status.json").read_text())
    except (OSError, ValueError):
        return ["(runner status not written yet)"]
    waiting = []
    for name, svc in sorted(status.get("services", {}).items()):
        tasks = [
            t for t in status.get("tasks", []) if t.get("service") == name and t.get("status") == "RUNNING"
        ]
        healthy = [
            t
            for t in tasks
            if t.get("health") == "HEALTHY" or not any(c.get("health") for c in t["containers"])
        ]
        if len(healthy) < int(svc.get("desired", 0)):
            waiting.append(f"{name.removeprefix(cfg.name_prefix + '-')} {len(healthy)}/{svc.get('desired')}")
    return waiting


def wait_healthy(cfg: StackConfig, sup: Supervisor, say: Say, timeout: float = 600) -> None:
    t0 = time.monotonic()
    last = 0.0
    while time.monotonic() - t0 < timeout:
        waiting = services_not_ready(cfg)
        waiting += [f"{k} front" for k, ok in fronts_ready(cfg).items() if not ok]
        if not waiting:
            say(
                f"==>         every service healthy in {time.monotonic() - t0:.0f}s (tasks HEALTHY, fronts answer)"
            )
            return
        if sup.running("fargate") is None:
            raise StackError(
                f"the fargate runner exited: see {sup.log_file('fargate')}\n{tail(sup.log_file('fargate'))}"
            )
        if time.monotonic() - last >= 15:
            last = time.monotonic()
            say(f"==>         waiting for {', '.join(waiting)} ({time.monotonic() - t0:.0f}s)")
        time.sleep(2)
    raise StackError(
        f"services not healthy after {timeout:.0f}s: `python -m devtools.fargate status --state-dir {cfg.runner_dir}` "
        f"shows each task's containers and stop reasons; logs in {cfg.runner_dir}"
    )


def check_prereqs() -> None:
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        raise StackError(
            f"{AIRFLOW_VENV}/bin/airflow not found: run `make airflow-venv` (make local does it)"
        )
    redis_binary()
    _pg_bin("initdb")


def up(cfg: StackConfig, say: Say = _say) -> None:
    check_prereqs()
    sup = Supervisor(cfg.state_dir)
    t_all = time.monotonic()
    certs = tls.ensure(cfg.tls_dir)
    fresh_moto = sup.running("moto") is None
    if fresh_moto:
        # moto keeps everything in memory: a new server means a new (empty) account, so the old state goes too
        for old in (cfg.infra_dir / "envs" / cfg.env / ".infra").glob("emulated.tfstate*"):
            old.unlink()
    steps: list[tuple[str, Callable[[], None]]] = [
        ("moto", lambda: start_moto(cfg, sup)),
        ("postgres", lambda: start_postgres(cfg, sup, certs)),
        ("redis", lambda: start_redis(cfg, sup, certs)),
        ("datastores", lambda: start_datastores(cfg, sup)),
    ]
    for i, (name, start) in enumerate(steps, 1):
        prefix = f"==> [{i}/7] {name:<22}"
        info = sup.running(name)
        if info is not None:
            say(f"{prefix} already running (pid {info.pid})")
            continue
        if name in cfg.ports and port_open(cfg.ports[name]):
            raise StackError(
                f"port {cfg.ports[name]} ({name}) is in use by another process: stop it, or set "
                f"LOCAL_{name.upper()}_PORT and run `make local-clean` first"
            )
        t0 = time.monotonic()
        start()
        say(f"{prefix} started in {time.monotonic() - t0:4.1f}s")
    say(f"==> [5/7] infra apply {cfg.env} (emulated; the Fargate runner runs its task definitions)")
    apply(cfg, sup, certs, say)
    t0 = time.monotonic()
    publish(cfg, sup)
    say(
        f"==> [6/7] dagsync publish          {cfg.dag_source} -> s3://{cfg.dags_bucket}/{cfg.dags_prefix} in {time.monotonic() - t0:.1f}s"
    )
    say("==> [7/7] waiting for the services")
    wait_healthy(cfg, sup, say)
    say(f"==> stack up in {time.monotonic() - t_all:.0f}s")


def down(cfg: StackConfig, say: Say = _say, timeout: float = 180.0) -> list[str]:
    """The runner first (it stops its tasks as ECS would: SIGTERM, stopTimeout, SIGKILL), then any task process
    left behind (by PID file), then the stand-ins."""
    sup = Supervisor(cfg.state_dir)
    stopped: list[str] = []

    def stop(s: Supervisor, name: str, sig: int = signal.SIGTERM, wait: float = 30.0) -> None:
        t0 = time.monotonic()
        if s.stop(name, sig, wait):
            stopped.append(name)
            say(f"==> stopped {name:<44} in {time.monotonic() - t0:4.1f}s")

    stop(sup, "fargate", wait=timeout)
    tasks = Supervisor(cfg.runner_dir)
    for name in tasks.names():
        tasks.send(name, signal.SIGTERM)
    for name in tasks.names():
        stop(tasks, name, wait=30)
    stop(sup, "datastores")
    stop(sup, "redis")
    stop(sup, "postgres", signal.SIGINT)
    stop(sup, "moto")
    for stray in sup.names():
        stop(sup, stray)
    return stopped


def status(cfg: StackConfig) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for sup in (Supervisor(cfg.state_dir), Supervisor(cfg.runner_dir)):
        for name in sup.names():
            info = sup.running(name)
            rows.append(
                {
                    "name": name,
                    "state": "running" if info else "stopped",
                    "pid": info.pid if info else None,
                    "port": cfg.ports.get(name),
                    "log": str(sup.log_file(name)),
                }
            )
    return rows


def clean(cfg: StackConfig, say: Say = _say) -> None:
    sup = Supervisor(cfg.state_dir)
    if any(sup.running(n) for n in sup.names()):
        down(cfg, say)
    shutil.rmtree(cfg.state_dir, ignore_errors=True)
    for old in (cfg.infra_dir / "envs" / cfg.env / ".infra").glob("emulated.tfstate*"):
        old.unlink()
    say(f"==> removed {cfg.state_dir} and the emulated state of infra/envs/{cfg.env}")


def login(cfg: StackConfig, kind: str = "admin") -> tuple[str, str]:
    """(username, password) of a FAB user from the emulator's secret, as the migration task read it: ``admin`` or
    ``ci`` (infra/modules/compute/auth.tf)."""
    name = f"{cfg.name_prefix}-airflow-{kind}"
    try:
        value = json.loads(boto(cfg, "secretsmanager").get_secret_value(SecretId=name)["SecretString"])
        return str(value["username"]), str(value["password"])
    except Exception as exc:
        raise StackError(
            f"cannot read the {kind} login from secret {name} ({type(exc).__name__}): is the stack up (`make local`)?"
        ) from None


def summary(cfg: StackConfig) -> str:
    secret = f"{cfg.name_prefix}-airflow-admin"
    try:
        user = login(cfg)[0]
    except StackError:
        user = "?"
    lines = [
        "",
        "Local Airflow platform is up: infra/envs/local applied to emulated AWS, its task definitions running.",
        f"  Airflow UI      {cfg.api_url}/auth/login/   (front of ECS service {cfg.service('api-server')})",
        f"                  user {user}; password: python -m devtools.localstack --state-dir {cfg.state_dir} login",
        f"                  (secret {secret} in the emulator; the migration task created the user from it)",
        f"  /status         {cfg.healthcheck_url}/status   (page: {cfg.healthcheck_url}/)",
        f"  scaler          {cfg.scaler_url}/decision",
        f"  AWS (moto)      {cfg.aws_url}   cluster {cfg.cluster}",
        f"  DAGs            {cfg.dag_source} -> s3://{cfg.dags_bucket}/{cfg.dags_prefix}",
        "                  republish: .venv/bin/dagsync publish --source dags "
        f"--dest s3://{cfg.dags_bucket}/{cfg.dags_prefix}  (with AWS_ENDPOINT_URL={cfg.aws_url})",
        f"  tasks           python -m devtools.fargate status --state-dir {cfg.runner_dir}",
        f"  state           {cfg.state_dir}",
        "  stop            make local-down      (remove all state: make local-clean)",
    ]
    return "\n".join(lines)


def dump_status(cfg: StackConfig) -> str:
    out = [f"{'process':<56} {'state':<8} {'pid':>7} {'port':>6}  log"]
    for r in status(cfg):
        out.append(
            f"{r['name']!s:<56} {r['state']!s:<8} {r['pid'] or '-'!s:>7} {r['port'] or '-'!s:>6}  {r['log']}"
        )
    return "\n".join(out)
