"""The local Fargate runner's shell: polls the emulator's ECS API and runs tasks as local process groups.

Decisions come from devtools/fargate/core.py; what a container gets beyond its task definition is declared in
devtools/fargate/translate.py. Each container runs under devtools/localstack/procs.py's PID-file format (so a
``make local-down`` can stop it by PID even if the runner died) with its log in ``<state>/logs/``.

State dir layout: ``run/`` (PID files), ``logs/`` (one log per container), ``tasks/<id>/`` (per-task dirs),
``efs/<fs-id>/<path>`` (EFS volumes shared between tasks), ``events.jsonl`` (starts/stops with reasons),
``status.json`` (read by ``python -m devtools.fargate status``).
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import pwd
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.fargate import core
from devtools.fargate.config import RunnerConfig
from devtools.fargate.endpoints import Front, TaskEndpoints, iso
from devtools.fargate.translate import (
    PROJECT_IMAGES,
    ImageSpec,
    Rewriter,
    SecretRef,
    docker_argv,
    match_image,
    parse_secret_ref,
    paths_table,
    project_image,
    select_json_key,
)
from devtools.localstack.procs import ProcInfo, Supervisor, proc_start_time
from devtools.servers import free_port

log = logging.getLogger("fargate")
PREFIX = "task-"  # PID file names: task-<task id>-<container>
SCHEDULER_REASONS = ("scale-in", "deployment", "runner", "service")


class TaskStartError(Exception):
    """A task that cannot start; the message is its one-line stop reason."""


# --- processes ----------------------------------------------------------------------------------------------------
class ContainerSupervisor(Supervisor):
    """Supervisor's PID-file format, spawning as a numeric uid/gid when asked."""

    def spawn_as(
        self,
        name: str,
        cmd: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        extra: Mapping[str, Any],
        meta: Mapping[str, object],
    ) -> tuple[ProcInfo, subprocess.Popen[bytes]]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        logf = self.log_file(name)
        with open(logf, "ab") as out:
            out.write(
                f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}: {' '.join(cmd)}\n".encode()
            )
            out.flush()
            proc = subprocess.Popen(
                list(cmd),
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **extra,
            )
        start = None
        for _ in range(100):
            start = proc_start_time(proc.pid)
            if start is not None:
                break
            time.sleep(0.01)
        info = ProcInfo(name, proc.pid, start or 0, str(logf), time.time(), dict(meta))
        tmp = self.pid_file(name).with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "pid": info.pid,
                    "start_time": info.start_time,
                    "log": info.log,
                    "started_at": info.started_at,
                    "cmd": list(cmd),
                    "meta": info.meta,
                }
            )
        )
        tmp.replace(self.pid_file(name))
        return info, proc


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def signal_main(pid: int, sig: int) -> None:
    """A container's main process only, as `docker stop` signals PID 1: its children (a Celery worker's running
    tasks) are the main process's to stop, so a warm shutdown can let them finish (docs/adr/0002-scaling.md)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


@dataclass(frozen=True)
class UtsTools:
    """unshare/hostname/setpriv: each task gets its own UTS name, as on Fargate (root only)."""

    unshare: str
    hostname: str
    setpriv: str

    @classmethod
    def probe(cls) -> tuple[UtsTools | None, str]:
        if os.geteuid() != 0:
            return None, f"the runner is not root (uid {os.geteuid()})"
        found = {t: shutil.which(t) for t in ("unshare", "hostname", "setpriv")}
        missing = [t for t, p in found.items() if not p]
        if missing:
            return None, f"{', '.join(missing)} not found (apt-get install util-linux hostname)"
        tools = cls(str(found["unshare"]), str(found["hostname"]), str(found["setpriv"]))
        r = subprocess.run(
            [tools.unshare, "--uts", "--", tools.hostname, "probe.invalid"], capture_output=True
        )
        if r.returncode != 0:
            return None, f"unshare --uts failed: {r.stderr.decode(errors='replace').strip()}"
        return tools, ""

    def wrap(self, argv: Sequence[str], hostname: str, ids: tuple[int, int] | None) -> list[str]:
        """``argv`` in a new UTS namespace named ``hostname``, as ``ids`` if given (exec all the way: same PID)."""
        set_name = f'{shlex.quote(self.hostname)} "$0"'
        if ids is None:
            return [self.unshare, "--uts", "--", "/bin/sh", "-c", f'{set_name} && exec "$@"', hostname, *argv]
        drop = f'{shlex.quote(self.setpriv)} --reuid={ids[0]} --regid={ids[1]} --clear-groups -- "$@"'
        return [self.unshare, "--uts", "--", "/bin/sh", "-c", f"{set_name} && exec {drop}", hostname, *argv]


def launch(
    argv: Sequence[str], hostname: str, ids: tuple[int, int] | None, uts: UtsTools | None
) -> tuple[list[str], dict[str, Any]]:
    """argv and Popen kwargs for a container process or its health check: its task's hostname, its user."""
    if uts is not None:
        return uts.wrap(argv, hostname, ids), {}
    if ids is not None:
        return list(argv), {"user": ids[0], "group": ids[1], "extra_groups": []}
    return list(argv), {}


# --- user ---------------------------------------------------------------------------------------------------------
def resolve_user(spec: str) -> tuple[int, int] | None:
    """ECS ``user``: uid, uid:gid, user, user:group. None if a name is unknown here."""
    name, _, group = spec.partition(":")
    try:
        if name.isdigit():
            uid = int(name)
            try:
                gid = pwd.getpwuid(uid).pw_gid
            except KeyError:
                gid = 0  # like Docker: an unknown uid runs with gid 0
        else:
            pw = pwd.getpwnam(name)
            uid, gid = pw.pw_uid, pw.pw_gid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        return None
    return uid, gid


def _allowed(st: os.stat_result, uid: int, gid: int, bit: int) -> bool:
    if uid == 0:
        return bool(st.st_mode & 0o111) if bit == 1 and not stat.S_ISDIR(st.st_mode) else True
    if st.st_uid == uid:
        return bool(st.st_mode & (bit << 6))
    if st.st_gid == gid:
        return bool(st.st_mode & (bit << 3))
    return bool(st.st_mode & bit)


def can_execute(uid: int, gid: int, program: str, depth: int = 0) -> str:
    """'' if ``uid`` can run ``program`` (every dir on the way, symlinks and a #! interpreter included); else why."""
    if depth > 4:
        return ""
    path = Path(program)
    for p in [path, Path(os.path.realpath(path))]:
        for d in reversed(p.parents):
            try:
                if not _allowed(d.stat(), uid, gid, 1):
                    return f"{d} is not searchable by uid {uid}"
            except OSError:
                return f"{d} does not exist"
    real = Path(os.path.realpath(path))
    try:
        if not _allowed(real.stat(), uid, gid, 1) or not _allowed(real.stat(), uid, gid, 4):
            return f"{real} is not executable by uid {uid}"
        head = real.open("rb").read(256)
    except OSError as exc:
        return f"{real}: {exc.strerror}"
    if head.startswith(b"#!"):
        interp = head[2:].split(b"\n", 1)[0].split()
        if interp and interp[0] != b"/usr/bin/env":
            return can_execute(uid, gid, interp[0].decode(), depth + 1)
    return ""


def which(program: str, path: str) -> str | None:
    if "/" in program:
        return program
    return shutil.which(program, path=path)


# --- task model ---------------------------------------------------------------------------------------------------
@dataclass
class Container:
    name: str
    essential: bool
    depends_on: tuple[tuple[str, str], ...]
    check: core.HealthCheck | None
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    ids: tuple[int, int] | None
    stop_timeout: float
    proc_name: str
    log_config: Mapping[str, str]
    check_desc: str = ""  # the check as the task definition writes it (for stop reasons)
    start_timeout: float = core.DEFAULT_START_TIMEOUT
    phase: core.ContainerPhase = "PENDING"
    exit_code: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    health: core.HealthState = field(default_factory=core.HealthState)
    check_proc: subprocess.Popen[bytes] | None = None
    check_started: float = 0.0
    check_log: Path | None = None
    term_at: float | None = None
    killed: bool = False
    shipped: int = 0  # bytes of the log already sent to CloudWatch Logs

    def view(self) -> core.ContainerView:
        return core.ContainerView(
            self.name,
            self.phase,
            self.exit_code,
            self.essential,
            self.check is not None,
            self.health.status,
            self.health.last_detail,
            self.depends_on,
        )


@dataclass
class Task:
    arn: str
    task_id: str
    service: str | None
    td_arn: str
    family: str
    revision: int
    hostname: str
    ip: str
    dir: Path
    started_at: float  # monotonic
    started_wall: float
    containers: dict[str, Container] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    cred_ids: list[str] = field(default_factory=list)
    stopping: bool = False
    stop_reason: str = ""
    scheduled_stop: bool = False
    waves: list[list[str]] = field(default_factory=list)
    was_ready: bool = False

    def views(self) -> list[core.ContainerView]:
        return [c.view() for c in self.containers.values()]

    def ready(self) -> bool:
        return core.task_ready(self.views())


# --- the runner ---------------------------------------------------------------------------------------------------
class Runner:
    def __init__(self, cfg: RunnerConfig) -> None:
        import boto3

        self.cfg = cfg
        kw: dict[str, Any] = {
            "endpoint_url": cfg.endpoint_url,
            "region_name": cfg.region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        from botocore.config import Config

        bcfg = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        self.ecs = boto3.client("ecs", config=bcfg, **kw)
        self.sm = boto3.client("secretsmanager", config=bcfg, **kw)
        self.ssm = boto3.client("ssm", config=bcfg, **kw)
        self.efs = boto3.client("efs", config=bcfg, **kw)
        self.logs = boto3.client("logs", config=bcfg, **kw)
        sts = boto3.client("sts", config=bcfg, **kw)
        self.state = cfg.state_dir
        self.state.mkdir(parents=True, exist_ok=True)
        self.sup = ContainerSupervisor(self.state)
        self.events_file = self.state / "events.jsonl"
        self.status_file = self.state / "status.json"
        self.images: dict[str, ImageSpec] = {k: project_image(k, r) for k, r in PROJECT_IMAGES.items()}
        self.images.update(cfg.images)
        self.tasks: dict[str, Task] = {}  # arn -> task
        self.history: list[dict[str, Any]] = []  # last stopped tasks
        self.backoff: dict[str, core.Backoff] = {}
        self.td_cache: dict[str, dict[str, Any]] = {}
        self.svc_td: dict[tuple[str, str, str], str] = {}
        self.warned: set[str] = set()
        self.services: dict[str, dict[str, Any]] = {}
        self.foreign_failed: set[str] = set()

        def assume(role: str, session: str) -> Mapping[str, Any]:
            return sts.assume_role(RoleArn=role, RoleSessionName=session)["Credentials"]  # type: ignore[no-any-return]

        self.uts, why = UtsTools.probe()
        if self.uts is None:
            log.warning(
                "tasks share this machine's hostname (%s); each still gets HOSTNAME and a `hostname`", why
            )
        self.endpoints = TaskEndpoints(assume)
        self.fronts: dict[str, Front] = {}
        for key, listen in cfg.fronts.items():
            self.fronts[key] = Front(key, listen)
        self.running = True

    # --- bookkeeping ----------------------------------------------------------------------------------------------
    def event(self, kind: str, **fields: Any) -> None:
        record = {"t": time.time(), "event": kind, **fields}
        with open(self.events_file, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def warn_once(self, key: str, msg: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            log.warning("%s", msg)

    # --- startup / shutdown ---------------------------------------------------------------------------------------
    def stop_leftovers(self) -> None:
        """Container processes of a previous run (PID files): StopTask their tasks, then stop them by PID."""
        names = self.sup.names(PREFIX)
        infos = [i for i in (self.sup.info(n) for n in names) if i is not None]
        for arn in sorted({str(i.meta.get("task_arn", "")) for i in infos} - {""}):
            with contextlib.suppress(Exception):
                self.ecs.stop_task(
                    cluster=self.cfg.cluster, task=arn, reason="Local Fargate runner restarted"
                )
            log.info("stopping leftover task %s (runner restarted)", arn.rsplit("/", 1)[-1])
            self.event("stopped", task_arn=arn, reason="Local Fargate runner restarted")
        for info in infos:
            if info.alive():
                signal_group(info.pid, signal.SIGTERM)
        for info in infos:
            timeout = float(str(info.meta.get("stop_timeout", 10)))
            self.sup.stop(info.name, signal.SIGTERM, timeout=min(timeout, 30))

    def shutdown(self, reason: str = "Local Fargate runner stopped") -> None:
        for task in list(self.tasks.values()):
            if not task.stopping:
                self.begin_stop(task, reason, scheduled=True)
        deadline = time.monotonic() + self.cfg.max_stop_timeout + 10
        while self.tasks and time.monotonic() < deadline:
            for task in list(self.tasks.values()):
                self.poll_task(task, time.monotonic())
            time.sleep(0.1)
        for front in self.fronts.values():
            front.close()
        self.endpoints.close()
        self.write_status()

    # --- ECS reads ------------------------------------------------------------------------------------------------
    def task_definition(self, ref: str) -> dict[str, Any]:
        if ref in self.td_cache:
            return self.td_cache[ref]
        td: dict[str, Any] = self.ecs.describe_task_definition(taskDefinition=ref)["taskDefinition"]
        self.td_cache[td["taskDefinitionArn"]] = td
        if ref.startswith("arn:") or ":" in ref.rsplit("/", 1)[-1]:
            self.td_cache[ref] = td
        return td

    def list_services(self) -> list[dict[str, Any]]:
        arns: list[str] = []
        for page in self.ecs.get_paginator("list_services").paginate(cluster=self.cfg.cluster):
            arns += page.get("serviceArns", [])
        out: list[dict[str, Any]] = []
        for i in range(0, len(arns), 10):
            resp = self.ecs.describe_services(cluster=self.cfg.cluster, services=arns[i : i + 10])
            out += [s for s in resp.get("services", []) if s.get("status") == "ACTIVE"]
        return out

    def service_td(self, svc: dict[str, Any]) -> str:
        """The service's task definition ARN; a bare family resolves once per deployment, like UpdateService."""
        ref = svc["taskDefinition"]
        dep = (svc.get("deployments") or [{}])[0].get("id", "")
        key = (svc["serviceName"], ref, dep)
        if key not in self.svc_td:
            self.svc_td[key] = self.task_definition(ref)["taskDefinitionArn"]
        return self.svc_td[key]

    def protected(self, arns: list[str]) -> set[str]:
        if not arns:
            return set()
        try:
            out: set[str] = set()
            for i in range(0, len(arns), 10):
                resp = self.ecs.get_task_protection(cluster=self.cfg.cluster, tasks=arns[i : i + 10])
                out |= {t["taskArn"] for t in resp.get("protectedTasks", []) if t.get("protectionEnabled")}
            return out
        except Exception as exc:
            self.warn_once("protection", f"GetTaskProtection failed, every task counts as protected: {exc}")
            return set(arns)

    # --- the cycle ------------------------------------------------------------------------------------------------
    def cycle(self) -> None:
        now = time.monotonic()
        services = self.list_services()
        self.services = {s["serviceName"]: s for s in services}
        self.adopt_foreign_tasks()
        for task in list(self.tasks.values()):
            self.poll_task(task, now)
        for svc in services:
            self.schedule(svc, now)
        self.update_fronts()
        self.ship_logs()
        self.write_status()

    def schedule(self, svc: dict[str, Any], now: float) -> None:
        name = svc["serviceName"]
        try:
            td_arn = self.service_td(svc)
        except Exception as exc:
            self.warn_once(f"td:{name}", f"service {name}: cannot read its task definition: {exc}")
            return
        dc = svc.get("deploymentConfiguration") or {}
        backoff = self.backoff.setdefault(name, core.Backoff())
        mine = [t for t in self.tasks.values() if t.service == name]

        def view(protected: set[str]) -> core.ServiceView:
            return core.ServiceView(
                name,
                int(svc.get("desiredCount", 0)),
                td_arn,
                tuple(
                    core.TaskView(
                        t.task_id, t.td_arn, t.started_at, t.ready(), t.arn in protected, t.stopping
                    )
                    for t in mine
                ),
                int(dc.get("minimumHealthyPercent", 100)),
                int(dc.get("maximumPercent", 200)),
                backoff.blocked(now, self.cfg.backoff_base, self.cfg.backoff_cap),
            )

        plan = core.plan_service(view(set()))
        if plan.stop:  # only then does protection matter
            plan = core.plan_service(view(self.protected([t.arn for t in mine if not t.stopping])))
        by_id = {t.task_id: t for t in mine}
        for tid, reason in plan.stop:
            self.begin_stop(by_id[tid], f"Service {name}: {reason}", scheduled=True)
        if plan.held:
            self.warn_once(
                f"held:{name}:{','.join(plan.held)}",
                f"service {name}: protected, kept: {', '.join(plan.held)}",
            )
        if plan.note:
            self.warn_once(
                f"note:{name}:{backoff.failures}", f"service {name}: {plan.note} ({backoff.failures} failed)"
            )
        for _ in range(plan.start):
            self.launch_service_task(svc, td_arn)

    def launch_service_task(self, svc: dict[str, Any], td_arn: str) -> None:
        name = svc["serviceName"]
        resp = self.ecs.run_task(
            cluster=self.cfg.cluster,
            taskDefinition=td_arn,
            launchType="FARGATE",
            count=1,
            group=f"service:{name}",
            startedBy=self.cfg.started_by,
            networkConfiguration=svc.get("networkConfiguration") or {},
        )
        if not resp.get("tasks"):
            self.warn_once(f"runtask:{name}", f"service {name}: RunTask returned {resp.get('failures')}")
            return
        self.start_task(resp["tasks"][0], name)

    def adopt_foreign_tasks(self) -> None:
        """Tasks someone else started with RunTask (e.g. the deploy's migration task) run here too. Tasks of our
        services that we do not know (a previous run's) are stopped."""
        arns: list[str] = []
        for page in self.ecs.get_paginator("list_tasks").paginate(
            cluster=self.cfg.cluster, desiredStatus="RUNNING"
        ):
            arns += page.get("taskArns", [])
        self.stopped_elsewhere(set(arns))
        unknown = [a for a in arns if a not in self.tasks and a not in self.foreign_failed]
        for i in range(0, len(unknown), 100):
            for t in self.ecs.describe_tasks(cluster=self.cfg.cluster, tasks=unknown[i : i + 100]).get(
                "tasks", []
            ):
                group = t.get("group", "")
                if group.startswith("service:") and (
                    t.get("startedBy") == self.cfg.started_by or group[len("service:") :] in self.services
                ):
                    with contextlib.suppress(Exception):
                        self.ecs.stop_task(
                            cluster=self.cfg.cluster,
                            task=t["taskArn"],
                            reason="Task not known to the local Fargate runner (orphaned)",
                        )
                    self.event("stopped", task_arn=t["taskArn"], reason="orphaned")
                    continue
                self.start_task(t, None)

    def stopped_elsewhere(self, running: set[str]) -> None:
        """Our tasks that are no longer RUNNING in ECS (StopTask by someone else) stop here too, with that reason;
        tasks of a service that is gone (deleted, not ACTIVE) stop like ECS stops them."""
        gone = [t for t in self.tasks.values() if not t.stopping and t.arn not in running]
        if gone:
            reasons: dict[str, str] = {}
            with contextlib.suppress(Exception):
                for d in self.ecs.describe_tasks(cluster=self.cfg.cluster, tasks=[t.arn for t in gone]).get(
                    "tasks", []
                ):
                    reasons[d["taskArn"]] = d.get("stoppedReason") or ""
            for t in gone:
                self.begin_stop(
                    t, reasons.get(t.arn) or "Task stopped by StopTask", scheduled=True, call_api=False
                )
        for t in list(self.tasks.values()):
            if t.service and not t.stopping and t.service not in self.services:
                self.begin_stop(t, f"Service {t.service}: the service is no longer ACTIVE", scheduled=True)

    # --- starting a task ------------------------------------------------------------------------------------------
    def start_task(self, desc: dict[str, Any], service: str | None) -> None:
        arn = desc["taskArn"]
        tid = arn.rsplit("/", 1)[-1]
        details = {
            d["name"]: d.get("value", "")
            for a in desc.get("attachments", [])
            if a.get("type") == "ElasticNetworkInterface"
            for d in a.get("details", [])
        }
        ip = details.get("privateIPv4Address", "") or ""
        hostname = details.get("privateDnsName") or (
            f"ip-{ip.replace('.', '-')}" if ip else f"task-{tid[:12]}"
        )
        td_arn = desc["taskDefinitionArn"]
        now = time.monotonic()
        task = Task(
            arn, tid, service, td_arn, "", 0, hostname, ip, self.state / "tasks" / tid, now, time.time()
        )
        self.tasks[arn] = task
        try:
            td = self.task_definition(td_arn)
            task.family, task.revision = td["family"], int(td["revision"])
            self.prepare(task, td, desc)
        except TaskStartError as exc:
            reason = str(exc)
            self.fail_start(task, reason)
            return
        except Exception as exc:  # emulator hiccup: a one-line reason all the same
            self.fail_start(task, f"ResourceInitializationError: {type(exc).__name__}: {exc}".splitlines()[0])
            return
        log.info(
            "started task %s (%s:%s%s) hostname %s",
            tid,
            task.family,
            task.revision,
            f", service {service}" if service else "",
            hostname,
        )
        self.event(
            "started",
            task_arn=arn,
            task_id=tid,
            service=service,
            task_definition=td_arn,
            hostname=hostname,
            ports={str(k): v for k, v in task.ports.items()},
        )

    def fail_start(self, task: Task, reason: str) -> None:
        log.error("task %s (%s) failed to start: %s", task.task_id, task.service or task.family, reason)
        with contextlib.suppress(Exception):
            self.ecs.stop_task(cluster=self.cfg.cluster, task=task.arn, reason=reason[:1024])
        self.event("failed", task_arn=task.arn, task_id=task.task_id, service=task.service, reason=reason)
        self.finish(task, reason)
        if task.service:
            self.backoff.setdefault(task.service, core.Backoff()).failed(time.monotonic(), reason)
        else:
            self.foreign_failed.add(task.arn)

    def resolve_secret(self, value_from: str) -> str:
        ref = parse_secret_ref(value_from)
        if ref.kind == "ssm":
            try:
                return str(
                    self.ssm.get_parameter(Name=ref.secret_id, WithDecryption=True)["Parameter"]["Value"]
                )
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                if value_from.startswith("arn:") or code != "ParameterNotFound":
                    raise TaskStartError(
                        f"ResourceInitializationError: unable to pull secrets: unable to retrieve secrets from ssm: {value_from}: {code}"
                    ) from None
                ref = SecretRef("asm", value_from)  # a bare name that is no parameter: a Secrets Manager name
        kw: dict[str, str] = {}
        if ref.version_stage:
            kw["VersionStage"] = ref.version_stage
        if ref.version_id:
            kw["VersionId"] = ref.version_id
        resp = None
        candidates = [ref.secret_id]
        if ref.secret_id.startswith("arn:"):
            candidates.append(ref.secret_id.split(":secret:", 1)[1])  # a partial ARN: by name
        code = "ResourceNotFoundException"
        for sid in candidates:
            try:
                resp = self.sm.get_secret_value(SecretId=sid, **kw)
                break
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        if resp is None:
            raise TaskStartError(
                f"ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: {ref.secret_id}: {code}"
            )
        value = resp.get("SecretString")
        if value is None:
            raise TaskStartError(
                f"ResourceInitializationError: secret {ref.secret_id} has no SecretString (binary secrets are not supported)"
            )
        if ref.json_key:
            selected = select_json_key(value, ref.json_key)
            if selected is None:
                raise TaskStartError(
                    f"ResourceInitializationError: unable to pull secrets or registry auth: retrieved secret from Secrets Manager did not contain json key {ref.json_key}: {ref.secret_id}"
                )
            value = selected
        return str(value)

    def volume_dir(self, task: Task, vol: Mapping[str, Any]) -> Path:
        efs = vol.get("efsVolumeConfiguration")
        if not efs:
            d = task.dir / "volumes" / str(vol["name"])
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o1777)  # noqa: S103 - a task-local scratch volume any container user may write
            return d
        fs = efs["fileSystemId"]
        root = efs.get("rootDirectory") or "/"
        creation = None
        ap = (efs.get("authorizationConfig") or {}).get("accessPointId")
        if ap:
            try:
                aps = self.efs.describe_access_points(AccessPointId=ap)["AccessPoints"]
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                raise TaskStartError(
                    f"ResourceInitializationError: failed to set up EFS volume {vol['name']}: access point {ap}: {code}"
                ) from None
            rd = aps[0].get("RootDirectory") or {}
            root = rd.get("Path") or "/"
            creation = rd.get("CreationInfo")
        d = self.state / "efs" / str(fs) / str(root).strip("/")
        if not d.exists():
            d.mkdir(parents=True, exist_ok=True)
            if creation and os.geteuid() == 0:
                os.chown(d, int(creation["OwnerUid"]), int(creation["OwnerGid"]))
                os.chmod(d, int(str(creation["Permissions"]), 8))
            elif not creation:
                os.chmod(d, 0o1777)  # noqa: S103 - no owner given: writable like a fresh EFS root for any uid
        return d

    def prepare(self, task: Task, td: Mapping[str, Any], desc: Mapping[str, Any]) -> None:
        cdefs: list[dict[str, Any]] = td["containerDefinitions"]
        overrides = {o.get("name"): o for o in (desc.get("overrides") or {}).get("containerOverrides", [])}
        images: dict[str, ImageSpec] = {}
        for c in cdefs:
            img = match_image(c["image"], self.images)
            if img is None:
                raise TaskStartError(
                    f"CannotPullContainerError: image {c['image']} of container {c['name']} has no local mapping: add its repository to the runner config's images"
                )
            images[c["name"]] = img
        cycle = core.dependency_cycle(
            {c["name"]: [d["containerName"] for d in c.get("dependsOn") or []] for c in cdefs}
        )
        if cycle:
            raise TaskStartError(f"ClientException: dependsOn cycle {' -> '.join(cycle)}")
        secret_values: dict[str, dict[str, str]] = {}
        for c in cdefs:  # every secret first: a missing one fails the task before anything starts
            secret_values[c["name"]] = {
                s["name"]: self.resolve_secret(s["valueFrom"]) for s in c.get("secrets") or []
            }
        volumes = {v["name"]: self.volume_dir(task, v) for v in td.get("volumes") or []}
        # ports: portMappings + the images' implicit listeners, one free host port each per task
        for c in cdefs:
            for pm in c.get("portMappings") or []:
                task.ports.setdefault(int(pm["containerPort"]), free_port())
            for port in images[c["name"]].implicit_ports.values():
                task.ports.setdefault(int(port), free_port())
        mapped = frozenset(int(pm["containerPort"]) for c in cdefs for pm in c.get("portMappings") or [])
        role = td.get("taskRoleArn") or (desc.get("overrides") or {}).get("taskRoleArn")
        cred_env: dict[str, str] = {}
        if role:
            cred_id, token = secrets.token_hex(16), secrets.token_urlsafe(32)
            self.endpoints.add_credentials(cred_id, token, role, f"{task.family}-{task.task_id}")
            task.cred_ids.append(cred_id)
            cred_env = {
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": self.endpoints.url(f"/v2/credentials/{cred_id}"),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
            }
        task.dir.mkdir(parents=True, exist_ok=True)
        for c in cdefs:
            ctr = self.container(
                task,
                c,
                images[c["name"]],
                volumes,
                mapped,
                cred_env,
                secret_values[c["name"]],
                overrides.get(c["name"]) or {},
            )
            task.containers[ctr.name] = ctr

    def container(
        self,
        task: Task,
        c: Mapping[str, Any],
        img: ImageSpec,
        volumes: Mapping[str, Path],
        mapped: frozenset[int],
        cred_env: Mapping[str, str],
        secret_values: Mapping[str, str],
        override: Mapping[str, Any],
    ) -> Container:
        name = c["name"]
        cdir = task.dir / name
        shims = cdir / "bin"
        shims.mkdir(parents=True, exist_ok=True)
        paths: list[tuple[str, str]] = list(img.paths.items())
        for image_path in img.writable:
            local = cdir / "fs" / image_path.strip("/")
            local.mkdir(parents=True, exist_ok=True)
            paths.append((image_path, str(local)))
        for image_path, local in img.executables.items():
            shim = shims / Path(image_path).name
            shim.write_text(f'#!/bin/sh\nexec "{local}" "$@"\n')
            shim.chmod(0o755)
            paths.append((image_path, str(shim)))
        if self.uts is None:  # no UTS namespace: `hostname` still prints the task's name
            host = shims / "hostname"
            host.write_text('#!/bin/sh\necho "$HOSTNAME"\n')
            host.chmod(0o755)
        for mp in c.get("mountPoints") or []:
            if mp.get("sourceVolume") in volumes:
                paths.append((mp["containerPath"], str(volumes[mp["sourceVolume"]])))
        table = paths_table(paths)
        exact = mapped | frozenset(img.implicit_ports.values())
        rw = Rewriter(self.cfg.hosts, task.ports, exact, table)

        meta_id = secrets.token_hex(12)
        task.cred_ids.append(meta_id)

        def meta() -> dict[str, Any]:
            return self.metadata(task, name)

        self.endpoints.add_metadata(meta_id, meta)
        raw: dict[str, str] = dict(img.env)
        raw.update(
            {
                "AWS_REGION": self.cfg.region,
                "AWS_DEFAULT_REGION": self.cfg.region,
                "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
                "HOSTNAME": task.hostname,
            }
        )
        for var, port in img.implicit_ports.items():
            raw.setdefault(var, str(port))
        for e in c.get("environment") or []:
            raw[e["name"]] = str(e.get("value", ""))
        for e in override.get("environment") or []:
            raw[e["name"]] = str(e.get("value", ""))
        env = rw.env(raw)
        env.update({k: rw.secret(v) for k, v in secret_values.items()})
        env.update(cred_env)
        env["ECS_CONTAINER_METADATA_URI_V4"] = self.endpoints.url(f"/v4/{meta_id}")
        env["AWS_ENDPOINT_URL"] = self.cfg.endpoint_url  # declared: the VPC endpoints' private DNS on AWS
        if self.cfg.trust_bundle is not None:
            # declared: the system CAs + the local stand-ins' CA (translate.py). Set after the rewrite: it is a
            # host path (under /tmp in the tests), which the image path map must not turn into a container path.
            env["SSL_CERT_FILE"] = str(self.cfg.trust_bundle)
        env["PATH"] = (
            f"{shims}:{env.get('PATH') or rw.text(img.env.get('PATH', '')) or '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}"
        )
        home = next((p for i, p in table if i == "/opt/airflow"), None)
        env.setdefault("HOME", home or str(cdir / "fs" / "tmp"))
        env.setdefault("LANG", "C.UTF-8")

        command = override.get("command") or c.get("command")
        argv = [rw.arg(a) for a in docker_argv(img, c.get("entryPoint"), command)]
        if not argv:
            raise TaskStartError(
                f"CannotStartContainerError: container {name}: no entryPoint/command and the image has none"
            )
        program = which(argv[0], env["PATH"])
        if program is None:
            raise TaskStartError(
                f"CannotStartContainerError: container {name}: {argv[0]}: executable file not found in $PATH"
            )
        argv[0] = program
        workdir = rw.text(c.get("workingDirectory") or img.workdir or "")
        cwd = Path(workdir) if workdir and Path(workdir).is_dir() else cdir
        ids = self.container_ids(task, name, c.get("user") or img.user, img, program)
        if ids is not None:
            for d in (cdir / "fs").glob("*"):
                for root, dirs, files in os.walk(d):
                    for n in [*dirs, *files]:
                        os.lchown(os.path.join(root, n), *ids)
                os.chown(d, *ids)
        hc = c.get("healthCheck")
        check, check_desc = None, ""
        if hc and hc.get("command"):
            parsed = core.HealthCheck.from_ecs(hc)
            check_desc = parsed.describe()
            check = core.HealthCheck(
                tuple(
                    [
                        parsed.command[0],
                        *[
                            rw.arg(x) if parsed.command[0] == "CMD" else rw.text(x)
                            for x in parsed.command[1:]
                        ],
                    ]
                ),
                parsed.interval,
                parsed.timeout,
                parsed.retries,
                parsed.start_period,
            )
        stop_timeout = min(float(c.get("stopTimeout") or 30), self.cfg.max_stop_timeout)
        lc = c.get("logConfiguration") or {}
        log_opts = dict(lc.get("options") or {}) if lc.get("logDriver") == "awslogs" else {}
        return Container(
            name=name,
            essential=c.get("essential", True) is not False,
            depends_on=tuple((d["containerName"], d["condition"]) for d in c.get("dependsOn") or []),
            check=check,
            argv=argv,
            env=env,
            cwd=cwd,
            ids=ids,
            stop_timeout=stop_timeout,
            proc_name=f"{PREFIX}{task.task_id}-{name}",
            log_config=log_opts,
            check_desc=check_desc,
            start_timeout=float(c.get("startTimeout") or core.DEFAULT_START_TIMEOUT),
        )

    def container_ids(
        self, task: Task, name: str, user: str, img: ImageSpec, program: str
    ) -> tuple[int, int] | None:
        """The container's uid/gid if the runner can apply ``user`` here; else None (logged once per user and
        reason, naming the first container it applies to)."""
        if not user:
            return None
        key = f"user:{user}"
        if os.geteuid() != 0:
            self.warn_once(
                key,
                f"{task.family}/{name}: user {user} not applied: the runner is not root (runs as uid {os.geteuid()})",
            )
            return None
        ids = resolve_user(user)
        if ids is None:
            self.warn_once(key, f"{task.family}/{name}: user {user} not applied: no such user here")
            return None
        # the program and the image's venv interpreters must be reachable for that uid
        programs = [program] + [
            str(Path(p) / "bin" / "python3")
            for p in img.paths.values()
            if (Path(p) / "bin" / "python3").exists()
        ]
        for prog in programs:
            why = can_execute(ids[0], ids[1], prog)
            if why:
                self.warn_once(
                    f"{key}:{why}",
                    f"{task.family}/{name}: user {user} not applied ({why}); it and every other container with "
                    f"user {user} run as uid {os.geteuid()}",
                )
                return None
        return ids

    def metadata(self, task: Task, name: str) -> dict[str, Any]:
        def ctr(c: Container) -> dict[str, Any]:
            return {
                "DockerName": c.proc_name,
                "Name": c.name,
                "KnownStatus": {"PENDING": "PENDING", "RUNNING": "RUNNING", "EXITED": "STOPPED"}[c.phase],
                "ExitCode": c.exit_code,
                "Health": {"status": c.health.status} if c.check else {},
                "Networks": [
                    {"NetworkMode": "awsvpc", "IPv4Addresses": [task.ip], "PrivateDNSName": task.hostname}
                ],
            }

        return {
            "container": ctr(task.containers[name]),
            "task": {
                "Cluster": self.cfg.cluster,
                "TaskARN": task.arn,
                "Family": task.family,
                "Revision": str(task.revision),
                "DesiredStatus": "STOPPED" if task.stopping else "RUNNING",
                "KnownStatus": "RUNNING" if core.task_running(task.views()) else "PENDING",
                "LaunchType": "FARGATE",
                "AvailabilityZone": f"{self.cfg.region}a",
                "PullStartedAt": iso(task.started_wall),
                "Containers": [ctr(c) for c in task.containers.values()],
            },
        }

    # --- running a task -------------------------------------------------------------------------------------------
    def report(self, task: Task, c: Container, status: str, reason: str = "") -> None:
        kw: dict[str, Any] = {
            "cluster": self.cfg.cluster,
            "task": task.arn,
            "containerName": c.name,
            "status": status,
        }
        if c.exit_code is not None:
            kw["exitCode"] = c.exit_code
        if reason:
            kw["reason"] = reason[:255]
        try:
            self.ecs.submit_container_state_change(**kw)
        except Exception as exc:
            self.warn_once(
                "submit", f"SubmitContainerStateChange failed (DescribeTasks will not show exit codes): {exc}"
            )

    def start_container(self, task: Task, c: Container, now: float) -> None:
        try:
            argv, extra = launch(c.argv, task.hostname, c.ids, self.uts)
            info, proc = self.sup.spawn_as(
                c.proc_name,
                argv,
                c.env,
                c.cwd,
                extra,
                {
                    "task_arn": task.arn,
                    "task_id": task.task_id,
                    "container": c.name,
                    "service": task.service,
                    "stop_timeout": c.stop_timeout,
                },
            )
        except OSError as exc:  # like Docker: the container "exits" 126/127 when its program cannot run
            c.phase, c.exit_code, c.started_at = (
                "EXITED",
                127 if isinstance(exc, FileNotFoundError) else 126,
                now,
            )
            log.error(
                "  container %s/%s cannot start: %s: %s", task.task_id[:8], c.name, c.argv[0], exc.strerror
            )
            self.report(task, c, "STOPPED", f"CannotStartContainerError: {c.argv[0]}: {exc.strerror}")
            return
        c.proc, c.phase, c.started_at = proc, "RUNNING", now
        self.event("container", task_arn=task.arn, container=c.name, status="RUNNING", pid=info.pid)
        log.info("  container %s/%s started (pid %d)", task.task_id[:8], c.name, info.pid)
        self.report(task, c, "RUNNING")

    def poll_task(self, task: Task, now: float) -> None:
        for c in task.containers.values():
            if c.phase == "RUNNING" and c.proc is not None:
                code = c.proc.poll()
                if code is not None:
                    c.phase, c.exit_code = "EXITED", code if code >= 0 else 128 - code
                    signal_group(c.proc.pid, signal.SIGKILL)  # as when a container's PID 1 exits
                    self.sup.pid_file(c.proc_name).unlink(missing_ok=True)
                    log.info("  container %s/%s exited %d", task.task_id[:8], c.name, c.exit_code)
                    self.event(
                        "container",
                        task_arn=task.arn,
                        container=c.name,
                        status="STOPPED",
                        exit_code=c.exit_code,
                    )
                    self.report(task, c, "STOPPED")
            self.poll_check(task, c, now)
        if task.stopping:
            self.progress_stop(task, now)
            return
        views = {c.name: c.view() for c in task.containers.values()}
        for c in task.containers.values():
            if c.phase == "PENDING" and core.dependency_state(views[c.name], views).ready:
                self.start_container(task, c, now)
                views[c.name] = c.view()
        reason = core.task_stop_reason(list(views.values())) or next(
            (
                r
                for c in task.containers.values()
                if (
                    r := core.start_timeout_reason(
                        views[c.name], views, now - task.started_at, c.start_timeout
                    )
                )
            ),
            None,
        )
        if reason:
            self.begin_stop(task, reason, scheduled=False)
            return
        if task.ready() and not task.was_ready:
            task.was_ready = True
            if task.service:
                self.backoff.setdefault(task.service, core.Backoff()).succeeded()

    def poll_check(self, task: Task, c: Container, now: float) -> None:
        if c.check is None:
            return
        if c.check_proc is not None:
            code = c.check_proc.poll()
            timed_out = code is None and now - c.check_started > c.check.timeout
            if code is None and not timed_out:
                return
            if timed_out:
                signal_group(c.check_proc.pid, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    c.check_proc.wait(timeout=2)
                detail = f"{c.check_desc} timed out after {c.check.timeout:g}s"
            else:
                detail = f"{c.check_desc} exited {code}"
            ok = code == 0
            before = c.health.status
            c.health = core.health_step(
                c.health, c.check, c.started_at, c.check_started, ok, "" if ok else detail
            )
            c.check_proc = None
            if c.health.status != before:
                log.info(
                    "  container %s/%s %s%s",
                    task.task_id[:8],
                    c.name,
                    c.health.status,
                    "" if ok else f" ({detail})",
                )
                self.event(
                    "health",
                    task_arn=task.arn,
                    container=c.name,
                    status=c.health.status,
                    detail="" if ok else detail,
                )
            return
        if c.phase != "RUNNING" or task.stopping or not core.health_due(c.health, c.check, c.started_at, now):
            return
        kind, *rest = c.check.command
        argv = ["/bin/sh", "-c", " ".join(rest)] if kind == "CMD-SHELL" else list(rest)
        if kind == "CMD" and argv:
            argv[0] = which(argv[0], c.env["PATH"]) or argv[0]
        c.check_log = Path(self.sup.log_file(c.proc_name).with_suffix(".health.log"))
        argv, extra = launch(argv, task.hostname, c.ids, self.uts)
        try:
            with open(c.check_log, "wb") as out:
                c.check_proc = subprocess.Popen(
                    argv,
                    env=c.env,
                    cwd=c.cwd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    **extra,
                )
        except OSError as exc:
            c.health = core.health_step(
                c.health, c.check, c.started_at, now, False, f"{c.check.describe()}: {exc.strerror}"
            )
            c.health = core.HealthState(c.health.status, c.health.failures, now, c.health.last_detail)
            return
        c.check_started = now

    def begin_stop(self, task: Task, reason: str, scheduled: bool, call_api: bool = True) -> None:
        task.stopping, task.stop_reason, task.scheduled_stop = True, reason, scheduled
        self.update_fronts()  # no new connections to it (the ALB deregisters a target first)
        task.waves = core.stop_waves({n: [d for d, _ in c.depends_on] for n, c in task.containers.items()})
        log.info("stopping task %s (%s): %s", task.task_id, task.service or task.family, reason)
        self.event("stopping", task_arn=task.arn, task_id=task.task_id, service=task.service, reason=reason)
        self.ship_logs([task])  # whoever waits for STOPPED reads the log next
        if call_api:
            with contextlib.suppress(Exception):
                self.ecs.stop_task(cluster=self.cfg.cluster, task=task.arn, reason=reason[:1024])
        if not scheduled and task.service and not reason.startswith("Service "):
            self.backoff.setdefault(task.service, core.Backoff()).failed(time.monotonic(), reason)
        self.progress_stop(task, time.monotonic())

    def progress_stop(self, task: Task, now: float) -> None:
        for c in task.containers.values():
            if c.check_proc is not None and c.check_proc.poll() is None:
                signal_group(c.check_proc.pid, signal.SIGKILL)
        while task.waves:
            wave = [task.containers[n] for n in task.waves[0]]
            live = [c for c in wave if c.phase == "RUNNING" and c.proc is not None]
            for c in live:
                if c.term_at is None:
                    c.term_at = now
                    signal_main(c.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
                elif not c.killed and now - c.term_at >= c.stop_timeout:
                    c.killed = True
                    log.info(
                        "  container %s/%s: stopTimeout %gs passed, SIGKILL",
                        task.task_id[:8],
                        c.name,
                        c.stop_timeout,
                    )
                    signal_group(c.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
            if live:  # an exited main process's group was killed when poll_task saw it exit
                return
            task.waves.pop(0)
        self.finish(task, task.stop_reason)

    def finish(self, task: Task, reason: str) -> None:
        self.tasks.pop(task.arn, None)
        self.endpoints.remove(*task.cred_ids)
        for c in task.containers.values():
            self.sup.pid_file(c.proc_name).unlink(missing_ok=True)
            if c.proc is not None:
                with contextlib.suppress(Exception):
                    c.proc.wait(timeout=1)
        self.ship_logs([task])
        record = {
            "task_id": task.task_id,
            "task_arn": task.arn,
            "service": task.service,
            "task_definition": f"{task.family}:{task.revision}",
            "stopped_at": time.time(),
            "reason": reason,
            "containers": {
                c.name: {"exit_code": c.exit_code, "health": c.health.status}
                for c in task.containers.values()
            },
        }
        self.history = [*self.history[-49:], record]
        if task.containers:
            log.info("stopped task %s (%s): %s", task.task_id, task.service or task.family, reason)
            self.event("stopped", **record)
        shutil.rmtree(task.dir, ignore_errors=True)
        self.write_status()

    # --- fronts, logs, status -------------------------------------------------------------------------------------
    def update_fronts(self) -> None:
        for key, front in self.fronts.items():
            svc, _, port = key.rpartition(":")
            backends = []
            for t in self.tasks.values():
                if t.service != svc or t.stopping or int(port) not in t.ports:
                    continue
                views = t.views()
                if (
                    core.task_running(views)
                    and core.task_health(views) != "UNHEALTHY"
                    and (
                        core.task_health(views) == "HEALTHY"
                        or not any(v.has_health_check and v.essential for v in views)
                    )
                ):
                    backends.append(("127.0.0.1", t.ports[int(port)]))
            front.set_backends(backends)

    def ship_logs(self, tasks: Sequence[Task] | None = None) -> None:
        """awslogs: each container's new log lines to <group>/<prefix>/<container>/<task id>, like Fargate."""
        for task in tasks if tasks is not None else list(self.tasks.values()):
            for c in task.containers.values():
                opts = c.log_config
                group, prefix = opts.get("awslogs-group"), opts.get("awslogs-stream-prefix")
                if not group or not prefix or f"logs:{group}" in self.warned:
                    continue
                path = self.sup.log_file(c.proc_name)
                try:
                    with open(path, "rb") as fh:
                        fh.seek(c.shipped)
                        data = fh.read(512 * 1024)
                except OSError:
                    continue
                end = data.rfind(b"\n")
                if end < 0:
                    continue
                lines = [
                    ln
                    for ln in data[: end + 1].decode(errors="replace").splitlines()
                    if ln and not (ln.startswith("=== ") and f" starting {c.proc_name}: " in ln)  # our header
                ]
                stream = f"{prefix}/{c.name}/{task.task_id}"
                try:
                    if c.shipped == 0:
                        with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
                            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
                    if lines:
                        ms = int(time.time() * 1000)
                        self.logs.put_log_events(
                            logGroupName=group,
                            logStreamName=stream,
                            logEvents=[{"timestamp": ms, "message": ln} for ln in lines],
                        )
                    c.shipped += end + 1
                except Exception as exc:
                    self.warn_once(
                        f"logs:{group}", f"awslogs {group}: not shipping logs ({type(exc).__name__}: {exc})"
                    )

    def write_status(self) -> None:
        tasks = []
        for t in self.tasks.values():
            tasks.append(
                {
                    "task_id": t.task_id,
                    "task_arn": t.arn,
                    "service": t.service,
                    "task_definition": f"{t.family}:{t.revision}",
                    "hostname": t.hostname,
                    "status": "STOPPING"
                    if t.stopping
                    else ("RUNNING" if core.task_running(t.views()) else "PENDING"),
                    "health": core.task_health(t.views()),
                    "ports": {str(k): v for k, v in t.ports.items()},
                    "uptime": round(time.monotonic() - t.started_at, 1),
                    "stop_reason": t.stop_reason,
                    "containers": [
                        {
                            "name": c.name,
                            "phase": c.phase,
                            "pid": c.proc.pid if c.proc else None,
                            "exit_code": c.exit_code,
                            "health": c.health.status if c.check else None,
                            "health_detail": c.health.last_detail,
                            "log": str(self.sup.log_file(c.proc_name)),
                        }
                        for c in t.containers.values()
                    ],
                }
            )
        services = {
            name: {
                "desired": s.get("desiredCount"),
                "task_definition": s.get("taskDefinition", "").rsplit("/", 1)[-1],
                "running": sum(1 for t in self.tasks.values() if t.service == name and not t.stopping),
                "launch_failures": self.backoff.get(name, core.Backoff()).failures,
                "last_failures": self.backoff.get(name, core.Backoff()).reasons,
            }
            for name, s in self.services.items()
        }
        data = {
            "t": time.time(),
            "pid": os.getpid(),
            "cluster": self.cfg.cluster,
            "services": services,
            "tasks": tasks,
            "stopped": self.history[-20:],
            "fronts": {
                k: {"listen": f"{f.listen[0]}:{f.listen[1]}", "backends": [f"{h}:{p}" for h, p in f.backends]}
                for k, f in self.fronts.items()
            },
        }
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.status_file)

    # --- main loop ------------------------------------------------------------------------------------------------
    def run(self) -> None:
        self.stop_leftovers()
        errors = 0
        while self.running:
            t0 = time.monotonic()
            try:
                self.cycle()
                errors = 0
            except Exception as exc:  # emulator unreachable: keep the containers, retry
                errors += 1
                if errors in (1, 10) or errors % 60 == 0:
                    log.warning("cycle failed (%d in a row): %s: %s", errors, type(exc).__name__, exc)
                for task in list(self.tasks.values()):
                    with contextlib.suppress(Exception):
                        self.poll_task(task, time.monotonic())
            # fast inner polling between ECS cycles: exits, health checks and stops react within 0.1 s
            while self.running and time.monotonic() - t0 < self.cfg.interval:
                time.sleep(0.1)
                now = time.monotonic()
                for task in list(self.tasks.values()):
                    with contextlib.suppress(Exception):
                        self.poll_task(task, now)
        self.shutdown()
