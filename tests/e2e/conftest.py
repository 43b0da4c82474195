"""A whole local stack for the e2e tests: infra/envs/local applied to a fresh moto server and its ECS task definitions
run by the local Fargate runner, brought up and torn down through the same CLI as `make local`.

Test tuning goes through the IaC's own inputs (`extra_environment`, `worker_stop_timeout`), never around them.
"""

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

from devtools.infra_copy import copy_infra  # the one private copy of infra/ (no state, no .terraform)
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

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
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
        """``dagsync publish`` the test's DAG folder (the deploy path's step); returns when it finished."""
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "dagsync"),
                "publish",
                "--source",
                str(self.source),
                "--dest",
                f"s3://{self.cfg.dags_bucket}/{self.cfg.dags_prefix}",
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
        r = httpx.get(f"{self.cfg.healthcheck_url}/status", timeout=30)
        r.raise_for_status()
        return dict(r.json())

    def decision(self) -> dict[str, Any]:
        r = httpx.get(f"{self.cfg.scaler_url}/decision", timeout=10)
        r.raise_for_status()
        return dict(r.json())

    # --- the local Fargate runner's view (devtools/fargate) ----------------------------------------------------
    def runner(self) -> dict[str, Any]:
        return dict(json.loads((self.cfg.runner_dir / "status.json").read_text()))

    def tasks(self, component: str) -> list[dict[str, Any]]:
        return [t for t in self.runner()["tasks"] if t.get("service") == self.cfg.service(component)]

    def events(self) -> list[dict[str, Any]]:
        path = self.cfg.runner_dir / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def container_pid(self, component: str, container: str) -> int:
        (task,) = [t for t in self.tasks(component) if t["status"] == "RUNNING"]
        (c,) = [c for c in task["containers"] if c["name"] == container]
        return int(c["pid"])

    def dags_dir(self) -> Path:
        """The shared DAG folder on the local EFS (the runner's dir for the file system's `dags` access point)."""
        (found,) = list((self.cfg.runner_dir / "efs").glob("*/dags/dags"))
        return found

    def record(self, name: str, value: Any) -> None:
        self.figures[name] = value
        print(f"FIGURE {name} = {value}", flush=True)
        (self.cfg.state_dir / "e2e-figures.json").write_text(json.dumps(self.figures, indent=2))


def fab_client(cfg: StackConfig, kind: str = "admin") -> AirflowClient:
    """An API client logged in through the FAB auth manager (POST /auth/token) with a user from the emulator's secret
    (``admin`` or ``ci``; the migration task created both, infra/modules/compute/auth.tf)."""
    from devtools.localstack.stack import login

    user, password = login(cfg, kind)
    return AirflowClient(cfg.api_url, username=user, password=password)


def wait_for(check: Any, timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:  # a component restarting
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


E2E_ENVIRONMENT = {
    # the scaler decides fast and runs off-hours (min 0 now; inside the window it would be 1)
    "scaler": {"SCALER_INTERVAL": "2", "SCALER_COOLDOWN": "10", "SCALER_MIN_WORKERS": "1"},
    "dagsync": {"DAGSYNC_INTERVAL": "2"},
    # a dead scheduler shows within ~20 s (default 30 s); not lower: heartbeats lag on a loaded machine
    "api-server": {"AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "20"},
    "scheduler": {"AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "20"},
    "healthcheck": {"HEALTHCHECK_CACHE_TTL": "2", "HEALTHCHECK_STALE_GRACE": "5"},
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not under pytest's basetemp: concurrent pytest sessions reset /tmp/pytest-of-<user> to 0700, and the
    # Postgres server (running as `postgres` when we are root) must traverse to its data dir.
    root = Path(tempfile.mkdtemp(prefix="e2e-stack-"))
    os.chmod(root, 0o755)
    source = root / "dags-src"
    shutil.copytree(REPO / "dags", source)
    infra = copy_infra(root / "infra")
    state = root / "state"
    env_settings = {k: dict(v) for k, v in E2E_ENVIRONMENT.items()}
    env_settings["scaler"]["SCALER_SCHEDULE"] = offhours_schedule()
    overrides = {
        "dag_source": str(source),
        "infra_dir": str(infra),
        "tf_vars": {
            "extra_environment": json.dumps(env_settings),
            # Fargate's stopTimeout (max 120 s) scaled to the test: far shorter than the 135 s `long` task, so only
            # scale-in protection can save a busy worker picked for scale-in; long enough for a 4 s task that has
            # just started to finish in the warm shutdown on a loaded machine.
            "worker_stop_timeout": "45",
        },
    }
    cmd = [sys.executable, "-m", "devtools.localstack", "--state-dir", str(state)]
    st: Stack | None = None
    try:  # `down` runs even when `up` fails or times out half-way (processes are already running then)
        up = subprocess.run(
            [*cmd, "up", "--ports", "auto", "--config", json.dumps(overrides)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=840,
        )
        print(up.stdout, up.stderr, flush=True)
        cfg = StackConfig.load(state)
        assert up.returncode == 0, f"local stack did not come up: {up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        st = Stack(cfg, source, fab_client(cfg), {})
        yield st
    finally:
        if st is not None:
            st.api.close()
        down = subprocess.run([*cmd, "down"], cwd=REPO, capture_output=True, text=True, timeout=400)
        print(down.stdout, down.stderr, flush=True)
        sups = [Supervisor(state), Supervisor(state / "fargate")]  # StackConfig.runner_dir
        leftovers = [(s, n) for s in sups for n in s.names() if s.running(n)]
        for sup, name in leftovers:  # never leave processes behind, even if down failed
            sup.stop(name, signal.SIGKILL, timeout=5)
        assert not leftovers, f"still running after down: {[n for _, n in leftovers]}"
        if not os.environ.get("E2E_KEEP_STATE"):  # for debugging: logs stay in the state dir
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"e2e state kept in {state}", flush=True)
