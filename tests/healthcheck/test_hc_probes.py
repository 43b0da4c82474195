"""Probes against the real parts: Redis with real Celery messages, Postgres, dagsync files, the real scaler."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from celery import Celery
from kombu import Connection

from devtools.servers import LOOPBACK, Server, free_port, start_postgres, start_redis, stop_pid, wait_for_port
from healthcheck.config import Settings
from healthcheck.model import Snapshot, Status
from healthcheck.probes import Probes
from healthcheck.runner import Runner
from tests.support.healthcheck import PROBES_OFF, HungServer, wait_until

OFF = PROBES_OFF


def settings(**kw: Any) -> Settings:
    return Settings(**{**OFF, **kw})


def round_of(s: Settings) -> Snapshot:
    async def main() -> Snapshot:
        async with Probes(s) as probes:
            return await Runner(probes.probes(), s.rule()).run_once()

    return asyncio.run(main())


def test_redis_queue_depth_from_real_celery_messages(redis_server: Server) -> None:
    url = redis_server.url
    queue = f"hcq{os.getpid()}"
    app = Celery("hc", broker=url)
    app.conf.broker_transport_options = {
        "priority_steps": list(range(10)),
        "queue_order_strategy": "priority",
    }
    for i in range(7):
        app.send_task(
            "airflow.providers.celery.executors.celery_executor_utils.execute_command",
            args=[["x"]],
            queue=queue,
            priority=i % 4,
        )
    r = redis.Redis.from_url(url)
    assert any(k.startswith(f"{queue}\x06\x16".encode()) for k in r.keys(f"{queue}*")), (
        "kombu priority lists in use"
    )

    s = settings(redis_enabled=True, redis_url=url, redis_queues=f"{queue},other{os.getpid()}")
    comp = round_of(s).components["redis"]
    assert comp.status is Status.OK
    assert comp.facts["queue_depth"] == 7 and comp.facts["queues"][queue] == 7
    unacked_before = comp.facts["unacked"]

    with Connection(url) as conn:  # a consumer takes one message and does not ack it
        sq = conn.SimpleQueue(queue)
        msg = sq.get(timeout=10)
        comp = round_of(s).components["redis"]
        assert comp.facts["queue_depth"] == 6
        assert comp.facts["unacked"] == unacked_before + 1
        msg.ack()
        sq.close()
    r.delete(*r.keys(f"{queue}*"))

    backlog = round_of(
        settings(redis_enabled=True, redis_url=url, redis_queues=queue, redis_backlog_degraded=1)
    )
    assert backlog.components["redis"].status is Status.OK  # emptied again


def test_redis_stopped_and_password_redacted(tmp_path: Path) -> None:
    pw = "s3cr3t-Redis-pw"
    own = start_redis(tmp_path / "redis", password=pw)  # our own: stopping it spares the shared one
    try:
        good = settings(redis_enabled=True, redis_url=own.url, critical="redis")
        snap = round_of(good)
        assert snap.components["redis"].status is Status.OK and snap.status is Status.OK

        wrong = settings(redis_enabled=True, redis_url=own.url.replace(pw, "wrong-pw-123"), critical="redis")
        comp = round_of(wrong).components["redis"]
        assert comp.status is Status.DOWN
        assert "wrong-pw-123" not in json.dumps(round_of(wrong).to_json())
        assert "redis://:***@" in comp.detail

        own.stop()
        snap = round_of(good)
        assert snap.components["redis"].status is Status.DOWN and snap.status is Status.DOWN
        assert "Connection" in snap.components["redis"].detail and pw not in snap.components["redis"].detail
    finally:
        own.stop()


def test_postgres_select_1(postgres_server: Server) -> None:
    # SQLAlchemy-style URL with a password (trust auth ignores it): normalised, and never shown.
    url = postgres_server.url.replace("postgresql://postgres@", "postgresql+psycopg2://postgres:PgPa55word@")
    comp = round_of(settings(postgres_enabled=True, postgres_url=url)).components["postgres"]
    assert comp.status is Status.OK, comp.detail
    assert comp.detail.startswith("SELECT 1 in ") and comp.facts["query_ms"] >= 0
    slow = round_of(settings(postgres_enabled=True, postgres_url=url, postgres_slow_ms=1e-6)).components[
        "postgres"
    ]
    assert slow.status is Status.DEGRADED


def test_postgres_stopped(tmp_path: Path) -> None:
    own = start_postgres()  # own cluster (under /tmp): stopping it spares the shared one
    try:
        s = settings(postgres_enabled=True, postgres_url=own.url.replace("postgres@", "postgres:PgPa55word@"))
        assert round_of(s).components["postgres"].status is Status.OK
        own.stop()
        snap = round_of(s)
        comp = snap.components["postgres"]
        assert comp.status is Status.DOWN and "refused" in comp.detail.lower()
        assert "PgPa55word" not in json.dumps(snap.to_json())
        assert snap.status is Status.DOWN  # postgres is critical by default
    finally:
        own.stop()


def sidecar(state: Path, sid: str, success_age: float | None, **extra: Any) -> None:
    now = time.time()
    (state / "sidecars").mkdir(parents=True, exist_ok=True)
    doc = {
        "sidecar_id": sid,
        "source": "s3://dags-bucket/prod/",
        "dest": "/opt/airflow/dags",
        "last_success": None if success_age is None else now - success_age,
        "last_attempt": now - 1,
        "version": "v42",
        "commit": None,
        "last_error": None,
        "consecutive_failures": 0,
        **extra,
    }
    tmp = state / "sidecars" / f".{sid}.tmp"
    tmp.write_text(json.dumps(doc))
    tmp.rename(state / "sidecars" / f"{sid}.json")  # as dagsync writes it: atomically


def test_dagsync_status_files(tmp_path: Path) -> None:
    a, b = tmp_path / "dags-a-state", tmp_path / "dags-b-state"
    sidecar(a, "task-1", 5)
    sidecar(b, "task-2", 20)
    s = settings(dagsync_enabled=True, dagsync_state_dirs=f"{a},{b}", dagsync_max_age=60)
    comp = round_of(s).components["dagsync"]
    assert comp.status is Status.OK and comp.facts["sidecars"] == 2
    assert comp.detail.startswith("2 sidecars; last sync 5 s ago, oldest 20 s ago")

    sidecar(
        b, "task-3", 600, consecutive_failures=3, last_error="S3 AccessDenied for postgresql://u:SyncPw@db/x"
    )
    comp = round_of(s).components["dagsync"]
    assert comp.status is Status.DEGRADED and "task-3 last success 10 min ago, 3 failures" in comp.detail
    assert "SyncPw" not in comp.detail

    (b / "sidecars" / "broken.json").write_text("{not json")
    assert "unreadable broken.json" in round_of(s).components["dagsync"].detail

    empty = settings(dagsync_enabled=True, dagsync_state_dirs=str(tmp_path / "nothing"))
    assert round_of(empty).components["dagsync"].status is Status.DOWN


def test_hung_dependencies_are_cut_off_at_their_timeouts(hung_server: HungServer) -> None:
    """Redis, Postgres, the api-server and the scaler all 'answer' from a peer that never replies."""
    hung = f"{LOOPBACK}:{hung_server.port}"
    s = settings(
        airflow_enabled=True, airflow_url=f"http://{hung}", airflow_timeout=0.5,
        redis_enabled=True, redis_url=f"redis://:pw-x1@{hung}/0", redis_timeout=0.5,
        postgres_enabled=True, postgres_url=f"postgresql://u:pw-x2@{hung}/db", postgres_timeout=0.5,
        scaler_enabled=True, scaler_url=f"http://{hung}", scaler_timeout=0.5,
    )  # fmt: skip
    snap = round_of(s)  # returns: every probe is bounded
    assert set(snap.components) >= {"airflow_api", "airflow_scheduler", "redis", "postgres", "scaler"}
    for comp in snap.components.values():
        assert comp.status is Status.DOWN
        assert "no answer within 0.5 s" in comp.detail or "Timeout" in comp.detail, comp.detail
    assert snap.status is Status.DOWN
    text = json.dumps(snap.to_json())
    assert "pw-x1" not in text and "pw-x2" not in text
    assert len(hung_server.accepted) >= 4


@pytest.fixture
def scaler_db(postgres_server: Server) -> str:
    """A database with the task_instance columns the scaler reads, holding 5 queued and 3 running rows."""
    dbname = f"hcscaler{os.getpid()}"
    base = postgres_server.url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {dbname}")
        conn.execute(f"CREATE DATABASE {dbname}")
    with psycopg.connect(f"{base}/{dbname}", autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE task_instance (state text, hostname text, queue text, queued_dttm timestamptz,"
            " start_date timestamptz)"
        )
        rows = [("queued", None, "default")] * 5 + [("running", "worker-1", "default")] * 3
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO task_instance VALUES (%s, %s, %s, now(), now())", rows)
    return f"{base}/{dbname}"


def test_real_scaler_decision(tmp_path: Path, redis_server: Server, scaler_db: str) -> None:
    """The real `scaler run` serves /decision; the probe reads it. Stopping the scaler shows."""
    port = free_port()
    log = tmp_path / "scaler.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALER_")}
    cmd = [
        str(Path(sys.executable).parent / "scaler"), "run", "--redis-url", redis_server.url, "--db-url", scaler_db,
        "--apply", "none", "--no-cloudwatch", "--no-protect", "--interval", "1", "--concurrency", "2",
        "--max", "10", "--metrics-port", str(port), "--metrics-host", LOOPBACK,
    ]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, 60, proc, log)
        url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: httpx.get(f"{url}/decision").status_code == 200, 60, what="first scaler decision")
        comp = round_of(settings(scaler_enabled=True, scaler_url=url)).components["scaler"]
        assert comp.status is Status.OK, f"{comp.detail}\n{log.read_text()[-2000:]}"
        assert comp.facts["desired"] == 4  # ceil((5 queued + 3 running) / 2)
        assert "desired 4" in comp.detail and "queued 5" in comp.detail and "running 3" in comp.detail
    finally:
        stop_pid(proc.pid)
    comp = round_of(settings(scaler_enabled=True, scaler_url=url)).components["scaler"]
    assert comp.status is Status.DOWN and "ConnectError" in comp.detail
