"""The `scaler` command as a process: config errors, `decide` JSON, `run` with /metrics and /decision, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from celery import Celery

from devtools.airflow import airflow_env, db_migrate
from devtools.servers import free_port, start_postgres, start_redis
from tests.support.scaler import AirflowRows, ecs_workers, metric_stats

DECISION_KEYS = {"queued", "running", "broker_depth", "desired", "current", "bounds", "window", "reason"}


def run_cli(
    scaler_bin: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SCALER_")}
    full.update(env or {})
    return subprocess.run([scaler_bin, *args], capture_output=True, text=True, env=full, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--min", "5", "--max", "2"], {}, "min workers (5) > max workers (2)"),
        (["--timezone", "Mars/Olympus"], {}, "unknown timezone 'Mars/Olympus'"),
        (
            ["--concurrency", "0"],
            {},
            "worker_concurrency (SCALER_WORKER_CONCURRENCY): Input should be greater than or equal to 1",
        ),
        ([], {"SCALER_WORKER_CONCURRENCY": "0"}, "SCALER_WORKER_CONCURRENCY"),
        (["--redis-url", "amqp://guest@localhost//"], {}, "unsupported URL scheme 'amqp'"),
        (["--db-url", "mysql://u:secretpw@h/db"], {}, "unsupported URL scheme 'mysql'"),
        (["--schedule", "weekdays 9-5"], {}, "bad schedule window"),
        (["--apply", "ecs"], {}, "apply=ecs needs --cluster and --service"),
        ([], {"SCALER_DB_URL": ""}, "no metadata DB"),
    ],
)
def test_bad_config_fails_at_start_with_one_line(
    scaler_bin: str, args: list[str], env: dict[str, str], needle: str
) -> None:
    base = (
        []
        if "SCALER_DB_URL" in env or any(a == "--db-url" for a in args)
        else ["--db-url", "postgresql://u@127.0.0.1:1/db"]
    )
    for command in ("decide", "run"):
        out = run_cli(scaler_bin, command, *base, *args, env=env)
        assert out.returncode == 2, out
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], out.stderr
        assert "secretpw" not in out.stderr


@pytest.mark.airflow
def test_decide_prints_one_json_object(
    scaler_bin: str, redis_url: str, rows: AirflowRows, airflow_db_url: str
) -> None:
    rows.add("queued", 5)
    rows.add("running", 2, hostname="h")
    app = Celery("producer", broker=redis_url)
    for prio in (0, 5, 9):
        app.send_task("dags.do_work", queue="default", priority=prio)
    out = run_cli(
        scaler_bin,
        "decide",
        "--redis-url",
        redis_url,
        "--concurrency",
        "4",
        "--min",
        "1",
        "--max",
        "5",
        env={"SCALER_DB_URL": airflow_db_url},
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) >= DECISION_KEYS
    assert (doc["queued"], doc["running"], doc["broker_depth"], doc["desired"]) == (5, 2, 3, 2)
    assert doc["bounds"] == {"min": 1, "max": 5} and doc["window"] == "always" and doc["current"] is None


def test_decide_exits_non_zero_when_it_cannot_measure(scaler_bin: str) -> None:
    dead = free_port()
    out = run_cli(
        scaler_bin,
        "decide",
        "--redis-url",
        f"redis://127.0.0.1:{dead}/0",
        "--db-url",
        f"postgresql://u:pw@127.0.0.1:{dead}/x",
    )
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert doc["desired"] is None and "redis" in doc["error"] and "db" in doc["error"]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not measure" in lines[0] and "SCALER_REDIS_URL" in lines[0]
    assert ":pw@" not in out.stdout + out.stderr


def wait_for(pred, timeout: float = 120.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


@pytest.mark.airflow
def test_run_loop_holds_on_missing_data_and_stops_on_sigterm(
    scaler_bin: str, aws_env: str, tmp_path: Path, namespace: str
) -> None:
    """`scaler run --apply ecs` against moto with its own Redis and Postgres, which we then stop by PID."""
    redis_srv = start_redis(tmp_path / "redis")
    pg = start_postgres()
    try:
        db_migrate(airflow_env(tmp_path / "home", pg.url))
        rows = AirflowRows(pg.url)
        rows.add("running", 3, hostname="worker-a")
        rows.add("queued", 6)
        workers = ecs_workers(aws_env, n_tasks=0, desired=1)
        port = free_port()
        env = {
            "SCALER_REDIS_URL": redis_srv.url,
            "SCALER_DB_URL": pg.url,
            "SCALER_WORKER_CONCURRENCY": "2",
            "SCALER_MIN_WORKERS": "0",
            "SCALER_COOLDOWN": "0",
            "SCALER_CW_NAMESPACE": namespace,
            "SCALER_CW_ENV": "test",
            "SCALER_CW_SERVICE": "workers",
            "SCALER_METRICS_HOST": "127.0.0.1",
            "SCALER_METRICS_PORT": str(port),
        }
        proc = subprocess.Popen(
            [
                scaler_bin,
                "run",
                "--interval",
                "0.5",
                "--apply",
                "ecs",
                "--cluster",
                workers.cluster,
                "--service",
                workers.service,
            ],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("SCALER_")}, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            first = wait_for(
                lambda: (d := httpx.get(f"{base}/decision").json()).get("desired") == 5 and d,
                what="desired 5",
            )
            assert DECISION_KEYS | {"decided_at"} <= set(first) and "error" not in first
            wait_for(lambda: workers.desired() == 5, what="UpdateService desiredCount=5")
            metrics = httpx.get(f"{base}/metrics").text
            assert "scaler_desired_workers 5.0" in metrics and "scaler_queued_tasks 6.0" in metrics

            # Redis goes away: the desired count holds (never to 0), an error goes out, the loop keeps running.
            redis_srv.stop()
            rows.clear()  # (after Redis is gone) with data, this would now scale to 0
            held = wait_for(
                lambda: "redis" in (d := httpx.get(f"{base}/decision").json()).get("error", "") and d,
                what="redis error",
            )
            assert held["desired"] == 5 and "hold" in held["reason"]
            time.sleep(1.5)
            assert workers.desired() == 5
            wait_for(
                lambda: metric_stats(aws_env, namespace, "ScalerErrors").get("Maximum", 0) >= 1,
                what="ScalerErrors",
            )
            assert 'scaler_errors_total{source="redis"}' in httpx.get(f"{base}/metrics").text

            # The DB goes too: still holding.
            pg.stop()
            both = wait_for(
                lambda: "db" in (d := httpx.get(f"{base}/decision").json()).get("error", "") and d,
                what="db error",
            )
            assert both["desired"] == 5 and workers.desired() == 5
            assert proc.poll() is None

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr = proc.stderr.read() if proc.stderr else ""
        logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        assert any(line.get("msg") == "desiredCount set" for line in logs)
    finally:
        redis_srv.stop()
        pg.stop()


def test_run_fails_with_one_line_when_the_metrics_port_is_taken(scaler_bin: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli(
            scaler_bin,
            "run",
            "--db-url",
            "postgresql://u@127.0.0.1:1/x",
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(port),
            "--no-cloudwatch",
            "--max-cycles",
            "1",
        )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0]
