"""The dag-sync workflow's verify step logs in as the CI machine account (docs/adr/0006-secrets-and-sso.md): its
shell, taken from .github/workflows/dag-sync.yml, runs here with the real AWS CLI against the moto server (the CI
secret as infra/modules/compute/auth.tf writes it) and scripts/wait_dag_visible.py against a loopback Airflow API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from devtools.servers import Server
from tests.workflows.test_wait_dag_visible import FakeAirflow, make_handler

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "dag-sync.yml"


def verify_job() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return dict(doc["jobs"]["verify"])


def test_verify_job_stores_no_airflow_token_and_logs_in_with_its_role() -> None:
    text = WORKFLOW.read_text()
    assert (
        "AIRFLOW_API_TOKEN" not in text and "secrets." not in text
    )  # nothing Airflow-related stored in GitHub
    job = verify_job()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    aws = [s for s in job["steps"] if "configure-aws-credentials" in str(s.get("uses", ""))]
    assert [s["with"]["role-to-assume"] for s in aws] == ["${{ vars.AWS_DAG_PUBLISH_ROLE_ARN }}"]
    (wait,) = [s for s in job["steps"] if "wait_dag_visible.py" in str(s.get("run", ""))]
    assert job["steps"].index(aws[0]) < job["steps"].index(wait)
    assert "-airflow-ci" in wait["env"]["CI_SECRET_ID"]


@pytest.fixture
def airflow_api() -> Iterator[tuple[str, FakeAirflow]]:
    from http.server import ThreadingHTTPServer
    from threading import Thread

    state = FakeAirflow(dags_after={"quick": 1})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()


def run_step(moto: Server, api_url: str, secret_id: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    (wait,) = [s for s in verify_job()["steps"] if "wait_dag_visible.py" in str(s.get("run", ""))]
    aws = shutil.which("aws")
    assert aws, "the AWS CLI is not on PATH: install it (the workflow's VPC runner needs it too)"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AIRFLOW_API_URL": api_url,
        "CI_SECRET_ID": secret_id,
        "DAG_IDS": "quick",
        "PUBLISHED_AT": str(int(time.time())),
        "DAG_ENV": "dev",
        "RUNNER_TEMP": str(tmp),
    }
    return subprocess.run(
        ["bash", "-c", wait["run"]], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_verify_step_reads_the_ci_secret_and_gets_a_token(
    moto_server: Server, airflow_api: tuple[str, FakeAirflow], tmp_path: Path
) -> None:
    url, state = airflow_api
    sm = boto3.client(
        "secretsmanager",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"acme-airflow-dev-airflow-ci-{os.getpid()}"
    # the loopback API accepts admin/admin (tests/workflows/test_wait_dag_visible.py)
    sm.create_secret(Name=name, SecretString=json.dumps({"username": "admin", "password": "admin"}))
    r = run_step(moto_server, url, name, tmp_path)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert state.logins == 1  # one POST /auth/token with the secret's login, no stored token
    assert "::add-mask::admin" in r.stdout  # the password is masked before anything else could print it
    sli = json.loads((tmp_path / "sli.json").read_text())
    assert any(m["MetricName"] == "PublishToVisibleSeconds" for m in sli)

    # a wrong password in the secret: the step fails at once (exit 2, auth refused), no retry loop
    sm.put_secret_value(SecretId=name, SecretString=json.dumps({"username": "admin", "password": "stale"}))
    r = run_step(moto_server, url, name, tmp_path)
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    assert "refused the login" in r.stderr

    # no such secret (role or name wrong): the AWS CLI's error, and the step stops before any login
    before = state.logins
    r = run_step(moto_server, url, name + "-missing", tmp_path)
    assert r.returncode != 0 and "ResourceNotFoundException" in r.stderr, r.stderr[-2000:]
    assert state.logins == before
