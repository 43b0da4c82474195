"""The HTML page in headless Chromium (Debian's chromium, driven by Playwright): each row's state, the headline
figures, auto refresh, no external requests; a screenshot is saved (HC_SCREENSHOT_COPY=path copies it)."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from playwright.sync_api import sync_playwright

from devtools.servers import LOOPBACK, Server, free_port
from tests.support.healthcheck import JsonServer, hc_env, run_service_tasks

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COLORS = {"ok": "rgb(26, 127, 55)", "degraded": "rgb(212, 167, 44)", "down": "rgb(207, 34, 46)"}


def write_sidecar(state: Path, sid: str, success_age: float) -> None:
    (state / "sidecars").mkdir(parents=True, exist_ok=True)
    now = time.time()
    doc = {"sidecar_id": sid, "source": "s3://dags/prod/", "dest": "/opt/airflow/dags", "last_success": now - success_age,
           "last_attempt": now - 2, "version": "v128", "commit": "3f2c1e9", "last_error": None, "consecutive_failures": 0}  # fmt: skip
    (state / "sidecars" / f"{sid}.json").write_text(json.dumps(doc))


@pytest.fixture
def page_app(
    live_app: Any, aws_env: str, redis_server: Server, json_server: JsonServer, tmp_path: Path
) -> Any:
    cluster = f"hc-{uuid.uuid4().hex[:8]}"
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family="w", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "w", "image": "busybox", "cpu": 256, "memory": 512}],
    )  # fmt: skip
    for name, count in (("airflow-api-server", 1), ("airflow-scheduler", 1), ("airflow-worker", 3)):
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition="w", desiredCount=count)
        run_service_tasks(cluster, name, "w", count)
    state = tmp_path / "dagsync-state"
    write_sidecar(state, "worker-task-1a2b", 8)
    write_sidecar(state, "scheduler-task-3c4d", 200)
    write_sidecar(state, "worker-task-5e6f", 1500)  # stale -> dagsync degraded
    json_server.routes["/decision"] = (
        200,
        {"desired": 3, "current": 3, "queued": 9, "running": 14, "broker_depth": 9, "reason": "steady",
         "decided_at": time.time() - 4},
    )  # fmt: skip
    return live_app(
        hc_env(redis_enabled=True, redis_url=redis_server.url,
               postgres_enabled=True, postgres_url=f"postgresql://airflow:pw@{LOOPBACK}:{free_port()}/airflow",
               dagsync_enabled=True, dagsync_state_dirs=str(state), dagsync_max_age=600,
               scaler_enabled=True, scaler_url=json_server.url,
               ecs_enabled=True, ecs_cluster=cluster, ecs_services="airflow-api-server,airflow-scheduler,airflow-worker",
               ecs_worker_service="airflow-worker",
               alarms_enabled=True, alarms_prefix=f"hc-page-{uuid.uuid4().hex[:6]}-", page_refresh=10)
    )  # fmt: skip


def test_page_in_headless_chromium(page_app: Any, tmp_path: Path) -> None:
    expected = {
        "redis": "ok",
        "postgres": "down",
        "dagsync": "degraded",
        "scaler": "ok",
        "ecs": "ok",
        "cloudwatch_alarms": "ok",
    }
    shot = tmp_path / "healthcheck-page.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{page_app.url}/", wait_until="load", timeout=60_000)

            assert page.title().startswith("DOWN")
            overall = page.locator("#overall")
            assert overall.inner_text().strip().lower() == "down"
            assert overall.evaluate("e => getComputedStyle(e).backgroundColor") == COLORS["down"]

            rows = page.locator("#components tbody tr")
            shown = {}
            for i in range(rows.count()):
                row = rows.nth(i)
                name = row.locator("td.name").inner_text().strip()
                badge = row.locator(".badge")
                state = badge.inner_text().strip().lower()
                assert row.get_attribute("data-status") == state
                assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == COLORS[state], name
                shown[name] = state
            assert shown == expected

            sync_age = (
                page.locator("#card-dagsync .v").inner_text().strip()
            )  # the newest sidecar's: 8 s + time since
            assert sync_age.endswith(" s ago") and 8 <= int(sync_age.split()[0]) < 200, sync_age
            assert page.locator("#card-queue .v").inner_text().strip().startswith("0 (unacked")
            assert page.locator("#card-workers .v").inner_text().strip() == "3 / 3"
            dagsync_detail = page.locator('tr[data-component="dagsync"] td.detail').inner_text()
            assert "worker-task-5e6f last success 25 min ago" in dagsync_detail
            assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "10"
            assert all(u.startswith(page_app.url) for u in requests), requests  # no external assets
            assert "pw@" not in page.content()

            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("HC_SCREENSHOT_COPY"):
        shutil.copyfile(shot, os.environ["HC_SCREENSHOT_COPY"])
