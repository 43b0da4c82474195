"""A whole local stack on free ports for the e2e tests, brought up and torn down through the same CLI as make local."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from devtools.localstack.client import AirflowClient
from devtools.localstack.config import StackConfig
from devtools.localstack.procs import Supervisor

REPO = Path(__file__).resolve().parent.parent.parent


def offhours_schedule(now: datetime | None = None) -> str:
    """An active window 12 h away from now, so the whole test runs off-hours (scaler min = 0)."""
    start = (now or datetime.now(UTC)) + timedelta(hours=12)
    end = start + timedelta(minutes=30)
    return f"Daily {start:%H}:00-{end:%H}:30"


@dataclass
class Stack:
    cfg: StackConfig
    source: Path  # the local DAG folder the tests publish
    api: AirflowClient
    figures: dict[str, Any]
    runs: dict[str, str] = field(default_factory=dict)

    @property
    def sup(self) -> Supervisor:
        return Supervisor(self.cfg.state_dir)

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "devtools.localstack", "--state-dir", str(self.cfg.state_dir), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        print(proc.stdout, proc.stderr, flush=True)
        return proc

    def aws_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=self.cfg.aws_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
        )
        return env

    def publish(self) -> float:
        """``dagsync publish`` the test's DAG folder; returns when it finished (unix time)."""
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "dagsync"),
                "publish",
                "--source",
                str(self.source),
                "--dest",
                f"s3://{self.cfg.bucket}/{self.cfg.dags_prefix}",
            ],
            env=self.aws_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return time.time()

    def boto(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.cfg.aws_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def status(self) -> dict[str, Any]:
        r = httpx.get(f"http://127.0.0.1:{self.cfg.ports['healthcheck']}/status", timeout=30)
        r.raise_for_status()
        return dict(r.json())

    def decision(self) -> dict[str, Any]:
        r = httpx.get(f"http://127.0.0.1:{self.cfg.ports['scaler']}/decision", timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def reconciler(self) -> dict[str, Any]:
        return dict(json.loads((self.cfg.state_dir / "run" / "reconciler.json").read_text()))

    def events(self) -> list[dict[str, Any]]:
        path = self.cfg.state_dir / "reconciler-events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def record(self, name: str, value: Any) -> None:
        self.figures[name] = value
        print(f"FIGURE {name} = {value}", flush=True)
        (self.cfg.state_dir / "e2e-figures.json").write_text(json.dumps(self.figures, indent=2))


def wait_for(check: Any, timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError, ValueError) as exc:  # a component restarting
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not under pytest's basetemp: concurrent pytest sessions reset /tmp/pytest-of-<user> to 0700, and the
    # Postgres server (running as `postgres` when we are root) must traverse to its data dir.
    root = Path(tempfile.mkdtemp(prefix="e2e-stack-"))
    os.chmod(root, 0o755)
    source = root / "dags-src"
    shutil.copytree(REPO / "dags", source)
    state = root / "state"
    overrides = {
        "dag_source": str(source),
        "worker_concurrency": 4,
        "max_workers": 2,
        "min_workers": 0,
        "scaler_interval": 2.0,
        "scaler_cooldown": 10.0,
        "scaler_schedule": offhours_schedule(),
        "scaler_active_min": 1,  # inside active hours the floor would be 1: off-hours it is 0
        "dagsync_interval": 2.0,
        "reconcile_interval": 1.0,
        # Fargate's stopTimeout (max 120 s) scaled to the test: far shorter than the 135 s `long` task, so only
        # scale-in protection can save a busy worker picked for scale-in.
        "worker_stop_timeout": 15.0,
        # A dead scheduler shows within ~20 s (default 30 s); not lower: heartbeats lag on a loaded machine.
        "airflow_extra_env": {"AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "20"},
    }
    cmd = [sys.executable, "-m", "devtools.localstack", "--state-dir", str(state)]
    up = subprocess.run(
        [*cmd, "up", "--ports", "auto", "--config", json.dumps(overrides)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(up.stdout, up.stderr, flush=True)
    cfg = StackConfig.load(state)
    st = Stack(cfg, source, AirflowClient(cfg.api_url), {})
    try:
        assert up.returncode == 0, f"local stack did not come up: {up.stderr[-3000:]}"
        assert "SKIPPED" not in up.stdout, "a component's CLI is missing (see the output above)"
        yield st
    finally:
        st.api.close()
        down = subprocess.run([*cmd, "down"], cwd=REPO, capture_output=True, text=True, timeout=300)
        print(down.stdout, down.stderr, flush=True)
        leftovers = [n for n in Supervisor(state).names() if Supervisor(state).running(n)]
        for name in leftovers:  # never leave processes behind, even if down failed
            Supervisor(state).stop(name, signal.SIGKILL, timeout=5)
        assert not leftovers, f"still running after down: {leftovers}"
        keep = os.environ.get("E2E_KEEP_STATE")  # for debugging: logs stay in the state dir
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"e2e state kept in {state}", flush=True)
