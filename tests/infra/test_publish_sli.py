"""The dag-sync workflow's publish -> visible SLI (docs/slo.md): scripts/wait_dag_visible.py writes the MetricData
that the workflow's `sli` job sends with `aws cloudwatch put-metric-data`, for a visible and a late publish."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.servers import LOOPBACK

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "scripts" / "wait_dag_visible.py")


@pytest.fixture
def status_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A /status answering with whatever `state["dagsync"]` says."""
    state: dict[str, Any] = {"dagsync": "degraded"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"status": "ok", "components": {"dagsync": {"status": state["dagsync"]}}}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}/status", state
    server.shutdown()
    server.server_close()


def run(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, SCRIPT, "--status-url", url, "--interval", "0.2", "--metric-out", str(out),
         "--metric-env", "prod", *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_visible_publish_is_timed_from_the_publish(
    status_server: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    url, state = status_server
    state["dagsync"] = "ok"
    out = tmp_path / "sli.json"
    r = run(url, out, "--since", str(time.time() - 12), "--timeout", "5")
    assert r.returncode == 0, r.stderr
    data = {d["MetricName"]: d for d in json.loads(out.read_text())}
    assert data["DagPublishes"]["Value"] == 1 and data["DagPublishesLate"]["Value"] == 0
    assert 12 <= data["PublishToVisibleSeconds"]["Value"] < 30
    assert all(d["Dimensions"] == [{"Name": "Env", "Value": "prod"}] for d in data.values())
    slow = run(
        url, out, "--since", str(time.time() - 90), "--timeout", "5"
    )  # visible, but 90 s after publish
    assert slow.returncode == 0
    assert {d["MetricName"]: d["Value"] for d in json.loads(out.read_text())}["DagPublishesLate"] == 1


def test_not_visible_is_a_late_publish_and_the_data_is_accepted_by_cloudwatch(
    status_server: tuple[str, dict[str, Any]], tmp_path: Path, aws_env: str
) -> None:
    url, _ = status_server
    out = tmp_path / "sli.json"
    r = run(url, out, "--timeout", "1")
    assert r.returncode == 1 and "not visible" in r.stderr
    data = json.loads(out.read_text())
    assert {d["MetricName"]: d["Value"] for d in data} == {"DagPublishes": 1.0, "DagPublishesLate": 1.0}
    cw = boto3.client("cloudwatch", endpoint_url=aws_env, region_name="us-east-1")
    cw.put_metric_data(Namespace="Airflow/DagSync", MetricData=data)  # what the workflow's sli job sends
    got = cw.get_metric_statistics(
        Namespace="Airflow/DagSync", MetricName="DagPublishesLate", Dimensions=[{"Name": "Env", "Value": "prod"}],
        StartTime=time.time() - 600, EndTime=time.time() + 60, Period=60, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert sum(p["Sum"] for p in got) >= 1


def test_since_in_the_future_is_refused(status_server: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    url, _ = status_server
    r = run(url, tmp_path / "x.json", "--since", str(time.time() + 3600))
    assert r.returncode == 2 and "in the future" in r.stderr
