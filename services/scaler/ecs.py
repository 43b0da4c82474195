"""ECS: read and set the worker service's desiredCount; scale-in protection for busy worker tasks.

Busy = a worker task whose hostname runs a task instance (``task_instance.hostname``). Airflow records
``socket.getfqdn()`` there; on Fargate (awsvpc) that is the task ENI's private DNS name (``ip-10-0-1-23.ec2.internal``)
or its IP. A task is matched by any of: private IPv4, private DNS name, its short ``ip-a-b-c-d`` form, the task id,
or a container's runtime id (bridge-mode containers report the container id as hostname).
See docs/adr/0002-scaling.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from platform_common.aws import AwsApis, client_config, sync_client

AWS_APIS: AwsApis = {
    "ecs": frozenset(
        {
            "DescribeServices",
            "UpdateService",
            "ListTasks",
            "DescribeTasks",
            "UpdateTaskProtection",
            "GetTaskProtection",
        }
    )
}

log = logging.getLogger("scaler.ecs")
PROTECTION_BATCH = 10  # UpdateTaskProtection takes at most 10 tasks per call
DESCRIBE_BATCH = 100


class EcsError(Exception):
    pass


def host_aliases(name: str) -> set[str]:
    """Forms a hostname can be matched under: itself, its first label."""
    low = name.strip().lower().rstrip(".")
    return {low, low.split(".")[0]} if low else set()


def task_aliases(task: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    arn = str(task.get("taskArn", ""))
    if arn:
        names.add(arn.rsplit("/", 1)[-1].lower())
    for attachment in task.get("attachments", []):
        for detail in attachment.get("details", []):
            value = str(detail.get("value", ""))
            if detail.get("name") == "privateIPv4Address" and value:
                names.add(value)
                names.add("ip-" + value.replace(".", "-"))
            elif detail.get("name") == "privateDnsName" and value:
                names |= host_aliases(value)
    for container in task.get("containers", []):
        runtime = str(container.get("runtimeId") or "")
        if runtime:
            names.add(runtime.lower())
            names.add(runtime.lower()[:12])  # docker's short id, the default container hostname
        for ni in container.get("networkInterfaces", []):
            ip = ni.get("privateIpv4Address")
            if ip:
                names.add(ip)
                names.add("ip-" + ip.replace(".", "-"))
    return names


def busy_task_arns(tasks: Iterable[dict[str, Any]], busy_hosts: Iterable[str]) -> tuple[set[str], set[str]]:
    """(ARNs of tasks running task instances, hostnames that matched no task)."""
    index: dict[str, str] = {}
    for task in tasks:
        for alias in task_aliases(task):
            index.setdefault(alias, task["taskArn"])
    busy: set[str] = set()
    unmatched: set[str] = set()
    for host in busy_hosts:
        hits = {index[a] for a in host_aliases(host) if a in index}
        busy |= hits
        if not hits:
            unmatched.add(host)
    return busy, unmatched


@dataclass
class ProtectionResult:
    ok: bool
    protected: set[str] = field(default_factory=set)  # busy tasks now protected
    cleared: set[str] = field(default_factory=set)  # idle tasks whose protection we removed this cycle
    unmatched_hosts: set[str] = field(default_factory=set)
    error: str | None = None


class EcsService:
    def __init__(self, cluster: str, service: str, protection_minutes: int = 60) -> None:
        self.cluster = cluster
        self.service = service
        self.protection_minutes = protection_minutes
        # Few quick retries: a cycle must not stall; the next cycle retries.
        self.client = sync_client("ecs", client_config(max_attempts=3, read_timeout=10))
        self.protected_until: dict[str, float] = {}  # task ARN -> expiry (unix), as set by us
        self.synced = False

    # --- desired count --------------------------------------------------------------------------------
    def current(self) -> int:
        resp = self.client.describe_services(cluster=self.cluster, services=[self.service])
        services = resp.get("services", [])
        if not services:
            reason = (resp.get("failures") or [{}])[0].get("reason", "not found")
            raise EcsError(f"service {self.service} in cluster {self.cluster}: {reason}")
        return int(services[0]["desiredCount"])

    def set_desired(self, count: int) -> None:
        self.client.update_service(cluster=self.cluster, service=self.service, desiredCount=count)

    # --- tasks --------------------------------------------------------------------------------------------
    def tasks(self) -> list[dict[str, Any]]:
        """The service's running tasks (filtered on ``group == service:<name>``, which ECS sets)."""
        arns: list[str] = []
        paginator = self.client.get_paginator("list_tasks")
        for page in paginator.paginate(
            cluster=self.cluster, serviceName=self.service, desiredStatus="RUNNING"
        ):
            arns += page.get("taskArns", [])
        out: list[dict[str, Any]] = []
        for i in range(0, len(arns), DESCRIBE_BATCH):
            resp = self.client.describe_tasks(cluster=self.cluster, tasks=arns[i : i + DESCRIBE_BATCH])
            out += resp.get("tasks", [])
        group = f"service:{self.service}"
        return [t for t in out if t.get("group", group) == group]

    def _sync_protection(self, arns: list[str], now: float) -> None:
        """Learn protections set before this process started, so idle ones get cleared too."""
        for i in range(0, len(arns), DESCRIBE_BATCH):
            resp = self.client.get_task_protection(cluster=self.cluster, tasks=arns[i : i + DESCRIBE_BATCH])
            for item in resp.get("protectedTasks", []):
                if item.get("protectionEnabled"):
                    exp = item.get("expirationDate")
                    self.protected_until[item["taskArn"]] = exp.timestamp() if exp else now + 3600
        self.synced = True

    def _update(self, arns: list[str], enabled: bool) -> set[str]:
        done: set[str] = set()
        for i in range(0, len(arns), PROTECTION_BATCH):
            batch = arns[i : i + PROTECTION_BATCH]
            kwargs: dict[str, Any] = {"cluster": self.cluster, "tasks": batch, "protectionEnabled": enabled}
            if enabled:
                kwargs["expiresInMinutes"] = self.protection_minutes
            resp = self.client.update_task_protection(**kwargs)
            done |= {t["taskArn"] for t in resp.get("protectedTasks", [])}
            for failure in resp.get("failures", []):
                log.warning(
                    "task protection failed", extra={"task": failure.get("arn"), "why": failure.get("reason")}
                )
        return done

    def protect(self, busy_hosts: Iterable[str], now: float) -> ProtectionResult:
        """Protect busy tasks (renewed when half the expiry has passed) and clear protection on idle ones."""
        try:
            tasks = self.tasks()
            live = {t["taskArn"] for t in tasks}
            if not self.synced and live:
                self._sync_protection(sorted(live), now)
            busy, unmatched = busy_task_arns(tasks, busy_hosts)
            renew_before = now + self.protection_minutes * 30  # half the expiry, in seconds
            to_protect = sorted(a for a in busy if self.protected_until.get(a, 0) < renew_before)
            to_clear = sorted(a for a in self.protected_until if a in live and a not in busy)
            for gone in [a for a in self.protected_until if a not in live]:
                del self.protected_until[gone]
            if to_protect:
                for arn in self._update(to_protect, True):
                    self.protected_until[arn] = now + self.protection_minutes * 60
            cleared = self._update(to_clear, False) if to_clear else set()
            for arn in cleared:
                self.protected_until.pop(arn, None)
            missing = busy - set(self.protected_until)
            if missing:
                return ProtectionResult(
                    False, busy, cleared, unmatched, f"could not protect {len(missing)} busy task(s)"
                )
            return ProtectionResult(True, busy, cleared, unmatched)
        except Exception as exc:  # botocore errors, EcsError: the caller holds any scale-in
            return ProtectionResult(False, error=f"ecs protection: {type(exc).__name__}: {exc}")
