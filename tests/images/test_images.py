"""Images can't be built here (no Docker engine): lint them (hadolint, shellcheck), check what they promise (non-root,
slim base, health checks, pinned constraints, only the needed providers) and exercise the entrypoints as plain
processes, the way the local stack runs them."""

from __future__ import annotations

import http.server
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.airflow import AIRFLOW_VENV
from devtools.servers import free_port

REPO = Path(__file__).resolve().parent.parent.parent
IMAGES = REPO / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))
ENTRYPOINTS = sorted(IMAGES.glob("*/entrypoint.sh"))
BIN = REPO / ".venv" / "bin"
AIRFLOW_EP = IMAGES / "airflow" / "entrypoint.sh"
SERVICES_EP = IMAGES / "services" / "entrypoint.sh"
DAGSYNC_EP = IMAGES / "dagsync" / "entrypoint.sh"


def test_all_three_images_exist() -> None:
    assert {p.parent.name for p in DOCKERFILES} == {"airflow", "dagsync", "services"}
    assert {p.parent.name for p in ENTRYPOINTS} == {"airflow", "dagsync", "services"}


# --- linters -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_is_hadolint_clean(dockerfile: Path) -> None:
    r = subprocess.run([str(BIN / "hadolint"), str(dockerfile)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_reports_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    r = subprocess.run([str(BIN / "hadolint"), str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "DL3007" in r.stdout


@pytest.mark.parametrize("script", ENTRYPOINTS, ids=lambda p: p.parent.name)
def test_entrypoint_is_shellcheck_clean(script: Path) -> None:
    r = subprocess.run(
        [str(BIN / "shellcheck"), "--severity=style", str(script)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.access(script, os.X_OK)


def test_shellcheck_reports_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    r = subprocess.run([str(BIN / "shellcheck"), str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "SC2086" in r.stdout


# --- what the Dockerfiles promise ----------------------------------------------------------------------------------
def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_is_slim_non_root_with_health_check(dockerfile: Path) -> None:
    instrs = instructions(dockerfile)
    args = dict(a.split("=", 1) for op, a in instrs if op == "ARG" and "=" in a)

    def resolve(value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), value)

    last_from = max(i for i, (op, _) in enumerate(instrs) if op == "FROM")
    stage = instrs[last_from:]
    base = resolve(stage[0][1].split()[0])
    # slim, pinned to a patch release and by digest (as the actions are pinned by SHA)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base), base
    users = [resolve(a) for op, a in stage if op == "USER"]
    assert users, "no USER in the final stage"
    assert users[-1] not in ("root", "0") and not users[-1].startswith("0:"), users[-1]
    (health,) = [a for op, a in stage if op == "HEALTHCHECK"]
    assert "CMD" in health and '"health"' in health
    (entry,) = [a for op, a in stage if op == "ENTRYPOINT"]
    entry_bin = entry.strip("[]").split(",")[0].strip('" ')
    assert any(op == "COPY" and "entrypoint.sh" in a and a.endswith(entry_bin) for op, a in stage), entry
    assert entry_bin in health  # the health check goes through the same entrypoint
    for op, a in instrs:
        if op == "COPY" and "--from" not in a:
            for src in [w for w in shlex.split(a)[:-1] if not w.startswith("--")]:
                assert (REPO / src).exists(), f"{dockerfile}: COPY source {src} missing"


@pytest.mark.airflow
def test_airflow_constraints_pin_the_tested_venv_and_only_needed_providers() -> None:
    constraints = {}
    for line in (IMAGES / "airflow" / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"not pinned: {line}"
            constraints[name.lower().replace("_", "-")] = version
    reqs = [
        ln for ln in (IMAGES / "airflow" / "requirements.txt").read_text().splitlines() if ln and ln[0] != "#"
    ]
    (airflow_req,) = [r for r in reqs if r.startswith("apache-airflow[")]
    extras = set(airflow_req.split("[", 1)[1].split("]", 1)[0].split(","))
    assert extras == {"celery", "amazon", "postgres", "redis"}
    for req in reqs:
        name, _, version = req.partition("==")
        assert constraints[name.split("[")[0].lower()] == version, req
    # The image installs exactly what the tests and the local stack run: .venv-airflow is built from the same files.
    freeze = subprocess.run(
        [
            str(AIRFLOW_VENV / "bin" / "python"),
            "-m",
            "pip",
            "list",
            "--format=freeze",
            "--disable-pip-version-check",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {}
    for line in freeze.splitlines():
        name, _, version = line.partition("==")
        installed[name.lower().replace("_", "-")] = version
    for tool in ("pip", "setuptools", "wheel"):
        installed.pop(tool, None)
    mismatched = {n: (v, constraints.get(n)) for n, v in installed.items() if constraints.get(n) != v}
    assert not mismatched, mismatched
    providers = {
        n.removeprefix("apache-airflow-providers-")
        for n in installed
        if n.startswith("apache-airflow-providers-")
    }
    # The four we ask for, the auth manager (fab, docs/adr/0006-secrets-and-sso.md), plus what apache-airflow 3.1.8
    # itself always installs.
    assert "fab" in providers
    assert providers <= {
        "celery",
        "amazon",
        "postgres",
        "redis",
        "fab",
        "common-compat",
        "common-io",
        "common-sql",
        "http",
        "smtp",
        "standard",
    }, providers


# --- entrypoints as plain processes --------------------------------------------------------------------------------
def airflow_ep_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{AIRFLOW_VENV / 'bin'}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "AIRFLOW_ENV_FILE": str(IMAGES / "airflow" / "airflow.env"),
        "AIRFLOW_PLATFORM_LIB": str(IMAGES / "airflow"),
        "AIRFLOW_ROLE_FILE": "/dev/null",
    }
    env.update(extra)
    return env


def run_ep(
    args: list[str], env: dict[str, str], timeout: float = 60, script: Path = AIRFLOW_EP
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


DEPLOY = {
    "AIRFLOW_DB_HOST": "db.internal",
    "AIRFLOW_DB_USER": "airflow",
    "AIRFLOW_DB_PASSWORD": "p@ss:w/rd%?",
    "AIRFLOW_DB_SSLMODE": "require",
    "AIRFLOW_REDIS_HOST": "redis.internal",
    "AIRFLOW_REDIS_PASSWORD": "r3d!s/pw",
    "AIRFLOW_REDIS_TLS": "true",
    "AIRFLOW_API_URL": "https://airflow.internal/",
    "AIRFLOW_JWT_SECRET": "jwt-secret-value",
    "AIRFLOW_LOG_BUCKET": "logs-bucket",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "AWS_REGION": "eu-west-1",
}


def test_entrypoint_derives_every_setting_from_the_deployment_env() -> None:
    r = run_ep(["config"], airflow_ep_env(**DEPLOY))
    assert r.returncode == 0, r.stderr
    cfg = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert (
        cfg["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == "postgresql+psycopg2://airflow:***@db.internal:5432/airflow?sslmode=require"
    )
    assert cfg["AIRFLOW__CELERY__BROKER_URL"] == "rediss://:***@redis.internal:6379/0?ssl_cert_reqs=required"
    assert cfg["AIRFLOW__CELERY__RESULT_BACKEND"].startswith(
        "db+postgresql+psycopg2://airflow:***@db.internal"
    )
    assert cfg["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "https://airflow.internal/execution/"
    assert cfg["AIRFLOW__API__BASE_URL"] == "https://airflow.internal"
    assert cfg["AIRFLOW__API_AUTH__JWT_SECRET"] == "***" and cfg["AIRFLOW__API__SECRET_KEY"] == "***"
    assert cfg["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == "s3://logs-bucket/logs"
    assert cfg["AIRFLOW__LOGGING__REMOTE_LOGGING"] == "True"
    assert '"endpoint_url": "http://127.0.0.1:1"' in cfg["AIRFLOW_CONN_AWS_DEFAULT"]
    assert '"addressing_style": "path"' in cfg["AIRFLOW_CONN_AWS_DEFAULT"]
    assert cfg["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"] == "2"  # from the shared env file
    assert cfg["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "platform_hostname.get_hostname"
    for secret in ("p@ss", "r3d!s", "jwt-secret-value", "p%40ss"):
        assert secret not in r.stdout + r.stderr
    # The exact (encoded) values, as Airflow's *_CMD settings read them: no trailing newline.
    url = run_ep(["print-setting", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], airflow_ep_env(**DEPLOY)).stdout
    assert (
        url == "postgresql+psycopg2://airflow:p%40ss%3Aw%2Frd%25%3F@db.internal:5432/airflow?sslmode=require"
    )


def test_deployment_env_wins_over_the_env_file() -> None:
    r = run_ep(["config"], airflow_ep_env(**DEPLOY, AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="60"))
    assert "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=60" in r.stdout.splitlines()


@pytest.mark.parametrize(
    ("args", "drop", "extra", "needle"),
    [
        (["bogus"], [], {}, "unknown role 'bogus'"),
        ([], [], {}, "usage:"),
        (["scheduler"], ["AIRFLOW_JWT_SECRET"], {}, "AIRFLOW_JWT_SECRET"),
        (["scheduler"], ["AIRFLOW_DB_HOST"], {}, "AIRFLOW_DB_HOST"),
        (["scheduler"], ["AIRFLOW_REDIS_HOST"], {}, "AIRFLOW_REDIS_HOST"),
        (["scheduler"], ["AIRFLOW_LOG_BUCKET"], {}, "AIRFLOW_LOG_BUCKET"),
        (["scheduler"], [], {"AIRFLOW_ENV_FILE": "/nonexistent/airflow.env"}, "AIRFLOW_ENV_FILE"),
        (["health"], [], {}, "which role"),
        (["health", "nope"], [], {}, "unknown role 'nope'"),
    ],
)
def test_bad_input_is_one_clear_line(
    args: list[str], drop: list[str], extra: dict[str, str], needle: str
) -> None:
    env = airflow_ep_env(**{k: v for k, v in DEPLOY.items() if k not in drop}, **extra)
    r = run_ep(args, env)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr


def test_waits_for_the_database_then_gives_up_clearly() -> None:
    port = free_port()  # nothing listens there
    env = airflow_ep_env(
        **{**DEPLOY, "AIRFLOW_DB_HOST": "127.0.0.1", "AIRFLOW_DB_PORT": str(port)},
        AIRFLOW_DB_WAIT_TIMEOUT="2",
    )
    r = run_ep(["scheduler"], env)
    assert r.returncode == 1
    assert f"database not reachable at 127.0.0.1:{port} after 2s" in r.stderr


@pytest.fixture
def http_200() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path in ("/health", "/metrics") else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_services_entrypoint_health_and_bad_input(http_200: int) -> None:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "SERVICE_ROLE_FILE": "/dev/null"}
    up = run_ep(["health", "healthcheck"], {**env, "HEALTHCHECK_PORT": str(http_200)}, script=SERVICES_EP)
    assert up.returncode == 0, up.stderr
    assert (
        run_ep(
            ["health", "scaler"], {**env, "SCALER_METRICS_PORT": str(http_200)}, script=SERVICES_EP
        ).returncode
        == 0
    )
    down = run_ep(["health", "scaler"], {**env, "SCALER_METRICS_PORT": str(free_port())}, script=SERVICES_EP)
    assert down.returncode == 1 and "unhealthy" in down.stderr
    bad = run_ep(["frobnicate"], env, script=SERVICES_EP)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_dagsync_entrypoint_health_needs_a_recent_sync(tmp_path: Path) -> None:
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}
    r = run_ep(["health"], env, script=DAGSYNC_EP)
    assert r.returncode == 2 and "DAGSYNC_DEST" in r.stderr
    never = run_ep(["health"], {**env, "DAGSYNC_DEST": str(tmp_path / "dags")}, script=DAGSYNC_EP)
    assert never.returncode != 0  # no sync ever happened into that folder
    assert run_ep(["bogus"], env, script=DAGSYNC_EP).returncode == 2
