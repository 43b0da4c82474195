#!/usr/bin/env python3
"""After `infra apply`: wait until every ECS service in a cluster is stable on the new image tag.

Fails at once when ECS's deployment circuit breaker rolled a service back (its PRIMARY deployment is FAILED,
or runs images without the new tag), and fails when the services are not stable within --timeout.
Only images from this project's ECR repos (`*-airflow-airflow|dagsync|services`) must carry the tag.

Usage: scripts/ecs_rollout_check.py --cluster ORG-airflow-ENV --image-tag GIT_SHA [--timeout 1800]
AWS endpoint/region/credentials come from the standard AWS_* env vars. See docs/adr/0010-ci-cd.md.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platform_common.aws import AwsApis

AWS_APIS: AwsApis = {"ecs": frozenset({"ListServices", "DescribeServices", "DescribeTaskDefinition"})}

OWN_IMAGE = re.compile(r"/[^/:@]*-airflow-(airflow|dagsync|services)(:(?P<tag>[^@]+))?(@.*)?$")


@dataclass(frozen=True)
class Verdict:
    state: str  # "stable" | "pending" | "rolled_back"
    reason: str


def own_images_off_tag(images: Iterable[str], tag: str) -> list[str]:
    """This project's images that do not carry `tag` (other images are not ours to check)."""
    off = []
    for image in images:
        m = OWN_IMAGE.search(image)
        if m and m.group("tag") != tag:
            off.append(image)
    return off


def assess(service: Mapping[str, Any], images_by_taskdef: Mapping[str, list[str]], tag: str) -> Verdict:
    """Pure: one DescribeServices entry (+ the images of its task definitions) -> verdict."""
    deployments = list(service.get("deployments") or [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return Verdict("pending", "no PRIMARY deployment yet")
    why = str(primary.get("rolloutStateReason") or "")
    if primary.get("rolloutState") == "FAILED":
        return Verdict("rolled_back", f"deployment FAILED: {why or 'circuit breaker tripped'}")
    off = own_images_off_tag(images_by_taskdef.get(str(primary.get("taskDefinition")), []), tag)
    if off:
        failed = [d for d in deployments if d.get("rolloutState") == "FAILED"]
        extra = f"; {failed[0].get('rolloutStateReason')}" if failed else ""
        return Verdict("rolled_back", f"PRIMARY runs {', '.join(off)}, not :{tag} (ECS rolled back{extra})")
    if len(deployments) > 1:
        return Verdict("pending", f"{len(deployments)} deployments still active")
    if primary.get("rolloutState") not in (None, "COMPLETED"):
        return Verdict("pending", f"rollout {primary.get('rolloutState')}")
    running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
    if running != desired:
        return Verdict("pending", f"running {running}/{desired}")
    return Verdict("stable", f"running {running}/{desired} on :{tag}")


def describe_all(ecs: Any, cluster: str) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    arns: list[str] = []
    for page in ecs.get_paginator("list_services").paginate(cluster=cluster):
        arns.extend(page.get("serviceArns", []))
    services: list[dict[str, Any]] = []
    for i in range(0, len(arns), 10):  # DescribeServices takes at most 10 services
        services.extend(ecs.describe_services(cluster=cluster, services=arns[i : i + 10])["services"])
    images: dict[str, list[str]] = {}
    for svc in services:
        for dep in svc.get("deployments") or []:
            td = str(dep.get("taskDefinition"))
            if td not in images:
                desc = ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]
                images[td] = [c.get("image", "") for c in desc.get("containerDefinitions", [])]
    return services, images


def wait(
    poll: Callable[[], dict[str, Verdict]],
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    start = clock()
    while True:
        verdicts = poll()
        elapsed = clock() - start
        if not verdicts:
            print("error: the cluster has no services; check --cluster", file=sys.stderr)
            return 1
        rolled = {n: v for n, v in verdicts.items() if v.state == "rolled_back"}
        if rolled:
            for name, v in sorted(rolled.items()):
                print(f"ROLLED BACK {name}: {v.reason}", file=sys.stderr)
            print("deploy failed: ECS rolled back; see docs/runbooks/rollback-deploy.md", file=sys.stderr)
            return 1
        pending = {n: v for n, v in verdicts.items() if v.state != "stable"}
        print(
            f"[{elapsed:5.0f}s] {len(verdicts) - len(pending)}/{len(verdicts)} stable"
            + "".join(f"; {n}: {v.reason}" for n, v in sorted(pending.items())),
            file=sys.stderr,
        )
        if not pending:
            return 0
        if elapsed + interval > timeout:
            print(
                f"deploy failed: not stable within {timeout:.0f}s ({', '.join(sorted(pending))})",
                file=sys.stderr,
            )
            return 1
        sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--image-tag", required=True, help="the tag just deployed (git SHA)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--interval", type=float, default=15.0)
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", args.image_tag):
        print(
            f"error: --image-tag {args.image_tag!r} is not a valid image tag; pass the git SHA",
            file=sys.stderr,
        )
        return 2
    from botocore.exceptions import BotoCoreError, ClientError  # imported late: bad usage answers at once

    from platform_common.aws import sync_client

    ecs = sync_client("ecs")

    def poll() -> dict[str, Verdict]:
        services, images = describe_all(ecs, args.cluster)
        return {str(s["serviceName"]): assess(s, images, args.image_tag) for s in services}

    try:
        return wait(poll, args.timeout, args.interval)
    except (ClientError, BotoCoreError) as err:
        print(
            f"error: ECS call failed: {err}; check the cluster name, region and credentials", file=sys.stderr
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
