"""The FAB auth manager's users from the secrets' values (images/airflow/platform_users.py, run by
``entrypoint.sh migrate``): pure parsing, then real Airflow 3.1.8 (migrate + api-server) against real Postgres:
logins through POST /auth/token, the CI account's role, a changed secret re-applied by the migration."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.airflow import ENTRYPOINT, entrypoint_cmd, entrypoint_env
from devtools.servers import Server, _pg_bin, free_port
from tests.support.platform_lib import load_platform_module

pu = load_platform_module("platform_users.py", "platform_users")

ADMIN = {"AIRFLOW_ADMIN_USERNAME": "admin", "AIRFLOW_ADMIN_PASSWORD": "first-Secret-1"}
CI = {"AIRFLOW_CI_USERNAME": "ci-dag-sync", "AIRFLOW_CI_PASSWORD": "ci-Secret-2"}


# --- pure -------------------------------------------------------------------------------------------------------
def test_specs_from_env_reads_both_secrets_and_hides_passwords() -> None:
    specs = pu.specs_from_env({**ADMIN, **CI})
    assert [(s.kind, s.username, s.role) for s in specs] == [
        ("admin", "admin", "Admin"),
        ("ci", "ci-dag-sync", "CI"),
    ]
    assert "first-Secret-1" not in repr(specs)
    assert pu.specs_from_env({}) == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AIRFLOW_ADMIN_USERNAME": "admin"}, "AIRFLOW_ADMIN_PASSWORD is empty"),
        ({"AIRFLOW_CI_PASSWORD": "x"}, "AIRFLOW_CI_USERNAME is empty"),
        ({**ADMIN, "AIRFLOW_CI_USERNAME": "admin", "AIRFLOW_CI_PASSWORD": "y"}, "same user"),
    ],
)
def test_specs_from_env_refuses_half_secrets(env: dict[str, str], message: str) -> None:
    with pytest.raises(pu.UsersError, match=message):
        pu.specs_from_env(env)


def test_permission_changes_give_exactly_the_desired_set() -> None:
    add, remove = pu.permission_changes({("can_read", "DAGs"), ("can_edit", "DAGs")}, pu.CI_PERMISSIONS)
    assert add == {("can_read", "ImportError"), ("can_read", "Website")}
    assert remove == {("can_edit", "DAGs")}
    assert pu.permission_changes(pu.CI_PERMISSIONS, pu.CI_PERMISSIONS) == (set(), set())


def test_main_exits_2_with_one_line_and_no_password() -> None:
    assert pu.main({"AIRFLOW_ADMIN_PASSWORD": "do-not-print"}) == 2


# --- real Airflow ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def airflow(
    postgres_server: Server, redis_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], str]]:
    """A fresh DB migrated by the entrypoint with both secrets' values, and an api-server on it."""
    db = f"images_users_{os.getpid()}"
    subprocess.run(
        [_pg_bin("psql"), f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres", "-c", f"CREATE DATABASE {db}"],
        capture_output=True,
        check=True,
    )  # fmt: skip
    home = tmp_path_factory.mktemp("users-home")
    port = free_port()
    env = entrypoint_env(
        home, db_port=postgres_server.port, db_name=db, redis_port=redis_server.port, api_port=port,
        jwt_secret="test-secret", extra={"AIRFLOW_ROLE_FILE": str(home / "role"), **ADMIN, **CI},
    )  # fmt: skip
    migrate(env)
    log = home / "api-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            entrypoint_cmd("api-server"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"api-server not up in 240 s: {log.read_text()[-3000:]}")
        yield env, url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def migrate(env: dict[str, str]) -> str:
    r = subprocess.run(entrypoint_cmd("migrate"), env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    for value in (env.get("AIRFLOW_ADMIN_PASSWORD"), env.get("AIRFLOW_CI_PASSWORD")):
        assert value and value not in r.stdout + r.stderr  # secrets never in logs
    return r.stderr


def token(url: str, user: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)


def bearer(url: str, user: str, password: str) -> dict[str, str]:
    r = token(url, user, password)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.airflow
@pytest.mark.slow
def test_admin_from_the_secret_logs_in_and_a_wrong_password_is_refused(
    airflow: tuple[dict[str, str], str],
) -> None:
    _, url = airflow
    page = httpx.get(f"{url}/auth/login/", timeout=30)  # FAB's login form, not SimpleAuthManager's
    assert page.status_code == 200 and 'name="password"' in page.text, page.text[:300]
    h = bearer(url, "admin", ADMIN["AIRFLOW_ADMIN_PASSWORD"])
    assert httpx.get(f"{url}/api/v2/connections", headers=h, timeout=30).status_code == 200  # an admin thing
    assert token(url, "admin", "wrong").status_code == 401
    assert token(url, "nobody", "x").status_code == 401
    assert httpx.get(f"{url}/api/v2/dags", timeout=30).status_code == 401  # no token, no API


@pytest.mark.airflow
@pytest.mark.slow
def test_ci_account_reads_dags_and_import_errors_only(airflow: tuple[dict[str, str], str]) -> None:
    _, url = airflow
    h = bearer(url, CI["AIRFLOW_CI_USERNAME"], CI["AIRFLOW_CI_PASSWORD"])
    assert httpx.get(f"{url}/api/v2/dags", headers=h, timeout=30).status_code == 200
    assert httpx.get(f"{url}/api/v2/importErrors", headers=h, timeout=30).status_code == 200
    for method, path in (("GET", "/api/v2/connections"), ("GET", "/api/v2/variables"), ("GET", "/api/v2/config"),
                         ("POST", "/api/v2/pools"), ("GET", "/api/v2/dags/quick/dagRuns")):  # fmt: skip
        r = httpx.request(method, f"{url}{path}", headers=h, json={"name": "p", "slots": 1}, timeout=30)
        assert r.status_code == 403, (method, path, r.status_code, r.text[:200])


@pytest.mark.airflow
@pytest.mark.slow
def test_rerun_is_idempotent_and_a_changed_secret_changes_the_password(
    airflow: tuple[dict[str, str], str],
) -> None:
    env, url = airflow
    out = migrate(env)
    assert "admin user 'admin': unchanged" in out and "ci user 'ci-dag-sync': unchanged" in out, out[-2000:]
    new = "second-Secret-3"
    out = migrate({**env, "AIRFLOW_ADMIN_PASSWORD": new})
    assert "admin user 'admin': password from the secret updated" in out, out[-2000:]
    assert token(url, "admin", ADMIN["AIRFLOW_ADMIN_PASSWORD"]).status_code == 401
    assert token(url, "admin", new).status_code == 201


def test_entrypoint_runs_the_users_step_after_the_migration() -> None:
    text = Path(ENTRYPOINT).read_text()
    migrate_case = text.split("    migrate)\n", 1)[1].split(";;", 1)[0]
    assert migrate_case.index("airflow db migrate") < migrate_case.index("-m platform_users")
