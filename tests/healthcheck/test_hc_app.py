"""The HTTP contract of a live `healthcheck serve` process (uvicorn), plus the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.servers import LOOPBACK, Server, free_port, start_redis
from platform_common.exitcodes import FAILED, OK, USAGE
from tests.support.healthcheck import HEALTHCHECK, HungServer, JsonServer, get_status, hc_env

NOW = time.time


def decision(**kw: Any) -> dict[str, Any]:
    return {"desired": 2, "current": 2, "queued": 3, "running": 1, "broker_depth": 3, "reason": "steady",
            "decided_at": time.time(), **kw}  # fmt: skip


def test_status_contract_health_metrics_openapi(
    live_app: Any, redis_server: Server, json_server: JsonServer
) -> None:
    json_server.routes["/decision"] = (200, decision())
    app = live_app(
        hc_env(redis_enabled=True, redis_url=redis_server.url, scaler_enabled=True, scaler_url=json_server.url,
               postgres_enabled=True, postgres_url=f"postgresql://postgres@{LOOPBACK}:{free_port()}/airflow")
    )  # fmt: skip
    resp = httpx.get(f"{app.url}/status", timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert set(doc) == {"status", "checked_at", "components"}
    assert doc["status"] == "down"  # postgres (critical) is down; still HTTP 200
    assert set(doc["components"]) == {"redis", "scaler", "postgres"}
    for comp in doc["components"].values():
        assert set(comp) == {"status", "latency_ms", "detail", "checked_at"}
        assert comp["status"] in ("ok", "degraded", "down") and isinstance(comp["latency_ms"], float)
        dt.datetime.fromisoformat(comp["checked_at"])
    dt.datetime.fromisoformat(doc["checked_at"])
    assert doc["components"]["redis"]["status"] == "ok"
    assert doc["components"]["scaler"]["status"] == "ok"
    assert doc["components"]["postgres"]["status"] == "down"

    health = httpx.get(f"{app.url}/health").json()
    assert health["status"] == "alive"

    metrics = httpx.get(f"{app.url}/metrics").text
    assert 'healthcheck_component_status{component="postgres"} 2.0' in metrics
    assert 'healthcheck_component_status{component="redis"} 0.0' in metrics
    assert "healthcheck_overall_status 2.0" in metrics
    assert 'healthcheck_probe_latency_seconds_count{probe="redis"}' in metrics
    assert "healthcheck_celery_queue_depth" in metrics

    schema = httpx.get(f"{app.url}/openapi.json").json()
    assert {"/status", "/health", "/metrics", "/"} <= set(schema["paths"])
    status_schema = schema["components"]["schemas"]["StatusModel"]
    assert set(status_schema["properties"]) == {"status", "checked_at", "components", "slos"}
    assert "slos" not in status_schema.get("required", [])  # only with the slo probe on (docs/slo.md)


def test_hung_dependency_does_not_hold_status(
    live_app: Any, hung_server: HungServer, redis_server: Server
) -> None:
    """The scaler and the api-server 'answer' from a peer that never replies; /status still comes back."""
    hung = f"http://{LOOPBACK}:{hung_server.port}"
    app = live_app(
        hc_env(scaler_enabled=True, scaler_url=hung, scaler_timeout=1, airflow_enabled=True, airflow_url=hung,
               airflow_timeout=1.5, airflow_parts="scheduler", redis_enabled=True, redis_url=redis_server.url)
    )  # fmt: skip
    # The client would wait 60 s; without the probe timeouts this request would never finish.
    doc = get_status(app.url, timeout=60)
    comps = doc["components"]
    assert comps["scaler"]["status"] == "down" and comps["scaler"]["detail"].endswith("no answer within 1 s")
    assert (
        comps["airflow_api"]["status"] == "down"
        and "no answer within 1.5 s" in comps["airflow_api"]["detail"]
    )
    assert comps["airflow_scheduler"]["status"] == "down"
    assert comps["redis"]["status"] == "ok"
    assert doc["status"] == "down"
    metrics = httpx.get(f"{app.url}/metrics").text
    assert 'healthcheck_probe_timeouts_total{probe="scaler"} 1.0' in metrics


def test_single_flight_one_backend_read_per_round(live_app: Any, json_server: JsonServer) -> None:
    """Sixty concurrent /status calls on a cold cache -> one GET /decision; cached within the TTL."""
    json_server.routes["/decision"] = (200, decision())
    json_server.delay = 0.5  # a slow backend, so the calls overlap the refresh
    app = live_app(hc_env(scaler_enabled=True, scaler_url=json_server.url, cache_ttl=3600, stale_grace=0))

    async def burst(n: int) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30) as client:
            resps = await asyncio.gather(*(client.get(f"{app.url}/status") for _ in range(n)))
        return [r.json() for r in resps]

    docs = asyncio.run(burst(60))
    assert json_server.hits["/decision"] == 1
    assert len({d["checked_at"] for d in docs}) == 1
    asyncio.run(burst(60))
    httpx.get(f"{app.url}/metrics")
    httpx.get(f"{app.url}/")
    assert json_server.hits["/decision"] == 1


def test_cache_expires_and_refreshes(live_app: Any, json_server: JsonServer) -> None:
    json_server.routes["/decision"] = (200, decision())
    app = live_app(hc_env(scaler_enabled=True, scaler_url=json_server.url, cache_ttl=0.2, stale_grace=0))
    first = get_status(app.url)
    assert first["components"]["scaler"]["status"] == "ok"
    json_server.routes["/decision"] = (200, decision(error="redis unreachable"))
    time.sleep(0.3)  # past the TTL
    second = get_status(app.url)
    assert second["checked_at"] != first["checked_at"]
    assert second["components"]["scaler"]["status"] == "degraded"
    assert json_server.hits["/decision"] == 2


def test_no_secrets_in_responses_or_logs(live_app: Any, tmp_path: Path, json_server: JsonServer) -> None:
    redis_pw, pg_pw, wrong_pw = "Redis-Sekr1t-pw", "Pg-Sekr1t-pw", "Wrong-Sekr1t-pw"
    secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow/metadata-db-Xy12Ab"
    own = start_redis(tmp_path / "redis", password=redis_pw)
    try:
        json_server.routes["/decision"] = (
            200,
            decision(
                error=f"GetSecretValue failed for {secret_arn}; postgresql://airflow:{pg_pw}@db:5432/airflow"
            ),
        )
        app = live_app(
            hc_env(redis_enabled=True, redis_url=own.url.replace(redis_pw, wrong_pw),
                   postgres_enabled=True, postgres_url=f"postgresql://airflow:{pg_pw}@{LOOPBACK}:{free_port()}/airflow",
                   scaler_enabled=True, scaler_url=json_server.url, log_level="debug", access_log=True)
        )  # fmt: skip
        doc = get_status(app.url)
        assert doc["components"]["redis"]["status"] == "down"  # wrong password: AUTH fails
        assert "redis://:***@" in doc["components"]["redis"]["detail"]
        assert doc["components"]["scaler"]["status"] == "degraded"
        bodies = [
            json.dumps(doc),
            httpx.get(f"{app.url}/").text,
            httpx.get(f"{app.url}/metrics").text,
            httpx.get(f"{app.url}/openapi.json").text,
            httpx.get(f"{app.url}/health").text,
        ]
        time.sleep(0.3)
        app.stop()
        logs = app.log_text()
        assert "component redis" in logs  # the log does talk about it
        for secret in (redis_pw, pg_pw, wrong_pw, secret_arn, "metadata-db-Xy12Ab"):
            for text in (*bodies, logs):
                assert secret not in text
        for line in logs.splitlines():
            json.loads(line)  # one JSON object per line
    finally:
        own.stop()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run ``healthcheck.cli.main`` in this process with a clean HEALTHCHECK_* env; restores the root logger."""
    import logging

    from healthcheck.cli import main

    for key, value in hc_env().items():
        if key.startswith("HEALTHCHECK_"):
            monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("HEALTHCHECK_") and k not in hc_env()]:
        monkeypatch.delenv(key)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield main
    root.handlers[:], _ = saved[0], root.setLevel(saved[1])


def test_cli_bad_config_is_one_line(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, env, needle in (
        (["serve"], {"HEALTHCHECK_PORT": "eighty"}, "HEALTHCHECK_PORT"),
        (["serve"], {"HEALTHCHECK_CACHE_TTL": "-1"}, "HEALTHCHECK_CACHE_TTL"),
        (["serve", "--redis-url", "http://x:pw@h/0"], {}, "HEALTHCHECK_REDIS_URL"),
        (["serve", "--dagsync-enabled", "true"], {}, "HEALTHCHECK_DAGSYNC_STATE_DIRS"),
        (["serve", "--airflow-parts", "scheduler,webserver"], {}, "unknown part webserver"),
        (["status"], {"HEALTHCHECK_DEFAULT_ROLE": "fatal"}, "HEALTHCHECK_DEFAULT_ROLE"),
    ):
        with monkeypatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            assert cli(args) == USAGE
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert (
            len(lines) == 1 and needle in lines[0] and lines[0].startswith("healthcheck: bad configuration:")
        ), lines
        assert "pw@" not in err


def test_cli_usage_error_is_one_line(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(["status", "--default-role", "fatal"])
    assert exc.value.code == USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "invalid choice: 'fatal'" in lines[0], lines


def test_cli_port_in_use(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen(1)
        assert cli(["serve", "--host", LOOPBACK, "--port", str(busy.getsockname()[1])]) == USAGE
    err = capsys.readouterr().err
    assert "address already in use" in err and "HEALTHCHECK_PORT" in err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("status", "extra", "component", "code"),
    [(200, {}, "ok", 0), (200, {"error": "redis down"}, "degraded", 1), (500, {}, "down", 1)],
)
def test_cli_status_exit_code(
    cli: Any, json_server: JsonServer, capsys: pytest.CaptureFixture[str], status: int, extra: dict[str, Any],
    component: str, code: int,
) -> None:  # fmt: skip
    """One round, printed; exit 0 ok, 1 (FAILED) degraded or down: the scaler only degrades by default, and is down
    when critical (platform_common.exitcodes)."""
    json_server.routes["/decision"] = (status, decision(**extra))
    assert cli(["status", "--scaler-enabled", "true", "--scaler-url", json_server.url]) == code
    assert json.loads(capsys.readouterr().out)["components"]["scaler"]["status"] == component
    critical = cli(
        ["status", "--scaler-enabled", "true", "--scaler-url", json_server.url, "--critical", "scal*"]
    )
    assert critical == {"ok": OK, "degraded": FAILED, "down": FAILED}[component]


def test_console_script_status(json_server: JsonServer) -> None:
    """The installed `healthcheck` console script, as ECS or a shell runs it."""
    json_server.routes["/decision"] = (200, decision())
    out = subprocess.run([HEALTHCHECK, "status", "--scaler-enabled", "true", "--scaler-url", json_server.url],
                         env=hc_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "ok"


def test_root_path_serves_page_status_metrics_and_openapi_under_the_prefix(
    live_app: Any, json_server: JsonServer
) -> None:
    """Behind the ALB, / is the Airflow UI: with HEALTHCHECK_ROOT_PATH=/platform everything lives under it
    (docs/adr/0006-secrets-and-sso.md); /health and /status stay at the root for the target group and ALB rule."""
    json_server.routes["/decision"] = (200, decision())
    app = live_app(hc_env(scaler_enabled=True, scaler_url=json_server.url, root_path="/platform/"))
    base = f"{app.url}/platform"
    page = httpx.get(f"{base}/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert (
        'href="status"' in page.text and 'href="metrics"' in page.text
    )  # relative: resolve under /platform/
    bare = httpx.get(base, timeout=30)
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/platform/")
    assert httpx.get(f"{base}/status", timeout=30).json()["components"]["scaler"]["status"] == "ok"
    assert httpx.get(f"{app.url}/status", timeout=30).json()["components"]["scaler"]["status"] == "ok"
    assert "healthcheck_overall_status" in httpx.get(f"{base}/metrics").text
    assert httpx.get(f"{app.url}/health").json()["status"] == "alive"
    schema = httpx.get(f"{base}/openapi.json").json()
    assert {"/platform/status", "/platform/metrics", "/platform/", "/health"} <= set(schema["paths"])
    assert "/status" not in schema["paths"]
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200 and "/platform/openapi.json" in docs.text
    # the root no longer answers the page or metrics (the ALB sends / to Airflow)
    assert httpx.get(f"{app.url}/").status_code == 404
    assert httpx.get(f"{app.url}/metrics").status_code == 404
    assert httpx.get(f"{app.url}/openapi.json").status_code == 404


@pytest.mark.parametrize("bad", ["platform", "/a b", "/x?y"])
def test_root_path_must_be_a_path(cli: Any, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    assert cli(["serve", "--root-path", bad]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HEALTHCHECK_ROOT_PATH" in err[0]
