"""images/airflow/platform_db_auth.py: the metadata-DB password follows a rotated secret without a restart
(docs/adr/0014-db-secret-rotation.md). Pure parts here; then real Airflow 3.1.8 / SQLAlchemy processes against a
Postgres that checks passwords (scram-sha-256) and a secret on the moto server."""

from __future__ import annotations

import json
import logging
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.airflow import AIRFLOW_VENV, ENTRYPOINT, PLATFORM_LIB, entrypoint_cmd, entrypoint_env
from devtools.servers import Server, _pg_bin, free_port, start_postgres
from tests.support.platform_lib import load_platform_module

auth = load_platform_module("platform_db_auth.py", "platform_db_auth_under_test")


# --- pure parts -----------------------------------------------------------------------------------------------------
def test_target_from_the_task_definition_env_or_the_url() -> None:
    env = {"AIRFLOW_DB_HOST": "db.internal", "AIRFLOW_DB_PORT": "6432", "AIRFLOW_DB_USER": "app"}
    assert auth.Target.from_env(env) == auth.Target("db.internal", 6432, "app")
    url = "postgresql+psycopg2://us%40er:p%40ss@h.example:5433/airflow?sslmode=require"
    assert auth.Target.from_env({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}) == auth.Target(
        "h.example", 5433, "us@er"
    )
    assert auth.Target.from_env({}) is None


def test_only_the_metadata_login_matches() -> None:
    t = auth.Target("127.0.0.1", 5432, "airflow")
    assert t.matches({"host": "127.0.0.1", "port": 5432, "user": "airflow", "password": "x"})
    assert t.matches({"host": "127.0.0.1", "port": "5432", "user": "airflow"})
    assert t.matches({"host": "127.0.0.1", "user": "airflow"})  # libpq's default port
    assert not t.matches({"host": "127.0.0.1", "port": 5432, "user": "reporting"})
    assert not t.matches({"host": "warehouse", "port": 5432, "user": "airflow"})
    assert not t.matches({"host": "127.0.0.1", "port": 6432, "user": "airflow"})


class PgError(Exception):
    def __init__(self, msg: str, sqlstate: str | None = None) -> None:
        super().__init__(msg)
        self.sqlstate = sqlstate


def test_auth_failure_is_recognised_through_wrappers() -> None:
    assert auth.is_auth_failure(PgError("x", "28P01"))
    assert auth.is_auth_failure(Exception('FATAL:  password authentication failed for user "airflow"'))
    wrapped = RuntimeError("wrapper")
    wrapped.orig = PgError("x", "28P01")  # type: ignore[attr-defined]  # SQLAlchemy's DBAPIError
    assert auth.is_auth_failure(wrapped)
    try:
        try:
            raise PgError("boom", "28P01")
        except PgError as inner:
            raise ValueError("outer") from inner
    except ValueError as outer:
        assert auth.is_auth_failure(outer)
    try:
        try:
            raise PgError("x", "28P01")
        except PgError:
            raise PgError('database "x" does not exist', "3D000")  # noqa: B904 - a retry's own error
    except PgError as retry:
        assert not auth.is_auth_failure(retry)
    assert not auth.is_auth_failure(PgError("connection refused", "08001"))
    assert not auth.is_auth_failure(PgError('database "x" does not exist', "3D000"))


def test_password_from_rds_json_or_url_and_errors_without_the_value() -> None:
    assert auth.password_from_secret('{"username": "a", "password": "p@ss:w/rd"}') == "p@ss:w/rd"
    assert auth.password_from_secret("postgresql://a:p%40ss@h:5432/db") == "p@ss"
    for bad in ('{"username": "a", "pw": "hunter2"}', "hunter2", "postgresql://a@h/db"):
        with pytest.raises(ValueError) as err:
            auth.password_from_secret(bad)
        assert "hunter2" not in str(err.value)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_refresher_reads_current_then_pending_at_most_every_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stages: dict[str, str | None] = {"AWSCURRENT": json.dumps({"password": "old"}), "AWSPENDING": None}
    reads: list[str] = []

    def read(arn: str, stage: str) -> str | None:
        reads.append(stage)
        return stages[stage]

    clock = Clock()
    r = auth.Refresher("arn:secret", read, min_interval=5, clock=clock)
    assert r.candidates("old") == []  # the secret still holds the refused password
    assert reads == ["AWSCURRENT", "AWSPENDING"]
    stages["AWSPENDING"] = json.dumps({"password": "new"})  # mid-rotation: the DB already has the new one
    clock.t += 1
    assert r.candidates("old") == []  # throttled: no second read within 5 s
    assert len(reads) == 2
    clock.t += 5
    assert r.candidates("old") == ["new"]
    stages["AWSCURRENT"] = stages["AWSPENDING"]  # rotation finished: both stages hold it, tried once
    clock.t += 5
    assert r.candidates("old") == ["new"]

    def broken(arn: str, stage: str) -> str | None:
        raise RuntimeError("AccessDenied for value hunter2")

    caplog.set_level(logging.ERROR)
    clock.t += 5
    assert auth.Refresher("arn:secret", broken, clock=clock).candidates("old") == []
    assert "cannot read AWSCURRENT of arn:secret (RuntimeError)" in caplog.text
    assert "hunter2" not in caplog.text


# --- real processes: Postgres with password auth, the secret on the moto server --------------------------------------
USER, OLD, NEW = "airflow_app", "old-pw-1", "new-pw-2"


def psql(server: Server, sql: str) -> None:
    subprocess.run(
        [_pg_bin("psql"), f"postgresql://postgres@127.0.0.1:{server.port}/postgres", "-Atc", sql],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def pg() -> Iterator[Server]:
    """Its own cluster: the session Postgres trusts every login, this one checks passwords (like RDS)."""
    server = start_postgres()
    try:
        hba = server.state_dir / "data" / "pg_hba.conf"
        hba.write_text(
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        hba.chmod(0o644)
        psql(server, "SELECT pg_reload_conf()")
        psql(server, f"CREATE ROLE {USER} LOGIN PASSWORD '{OLD}'")
        psql(server, f"ALTER DATABASE airflow OWNER TO {USER}")
        yield server
    finally:
        server.stop()


@pytest.fixture
def rotated(pg: Server, aws_env: str) -> Iterator[tuple[str, str]]:
    """The DB password and the secret's AWSCURRENT both changed to NEW (as an RDS rotation ends); back after.
    Yields (moto URL, secret ARN)."""
    sm = boto3.client("secretsmanager")
    name = f"rds!db-{free_port()}"
    arn = sm.create_secret(Name=name, SecretString=json.dumps({"username": USER, "password": OLD}))["ARN"]
    psql(pg, f"ALTER ROLE {USER} PASSWORD '{NEW}'")
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": USER, "password": NEW}))
    yield aws_env, arn
    psql(pg, f"ALTER ROLE {USER} PASSWORD '{OLD}'")
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def airflow_env(
    pg: Server, rotated: tuple[str, str], tmp_path: Path, with_secret: bool = True
) -> dict[str, str]:
    """What the task definition gives an Airflow container: the password injected at task start (OLD)."""
    extra = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    aws, arn = rotated
    if with_secret:
        extra["AIRFLOW_DB_SECRET_ARN"] = arn
    return entrypoint_env(
        tmp_path / "home",
        db_port=pg.port,
        db_user=USER,
        db_password=OLD,
        redis_port=free_port(),
        api_port=free_port(),
        jwt_secret="test-secret",
        aws_endpoint=aws,
        extra=extra,
    )


@pytest.mark.airflow
@pytest.mark.parametrize("with_secret", [True, False], ids=["refresh", "no-secret-arn"])
def test_airflow_connects_after_the_password_rotated(
    pg: Server, rotated: tuple[str, str], tmp_path: Path, with_secret: bool
) -> None:
    env = airflow_env(pg, rotated, tmp_path, with_secret)
    r = subprocess.run(
        entrypoint_cmd("airflow", "db", "check"), env=env, capture_output=True, text=True, timeout=180
    )
    out = r.stdout + r.stderr
    assert OLD not in out and NEW not in out
    if with_secret:
        assert r.returncode == 0, out[-3000:]
        assert f"password for {USER}@127.0.0.1:{pg.port} was rotated" in out, out[-3000:]
    else:  # the failure this module exists for
        assert r.returncode != 0 and "password authentication failed" in out, out[-3000:]


@pytest.mark.airflow
def test_health_check_commands_outside_the_entrypoint_survive(
    pg: Server, rotated: tuple[str, str], tmp_path: Path
) -> None:
    """ECS runs `airflow jobs check` in the container without the entrypoint: Airflow gets the (stale) URL through
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD and the listener through the image's PYTHONPATH (images/airflow/Dockerfile)."""
    env = airflow_env(pg, rotated, tmp_path)
    # No SSL on this test server (the task definitions require it).
    env["AIRFLOW_DB_SSLMODE"] = "prefer"
    env["PYTHONPATH"] = str(PLATFORM_LIB)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"] = (
        f"bash {ENTRYPOINT} print-setting AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
    )
    r = subprocess.run(
        [str(AIRFLOW_VENV / "bin" / "airflow"), "db", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[:3000]
    assert "was rotated" in out and OLD not in out and NEW not in out


ENGINES = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, sys.argv[1])
    import airflow_local_settings, platform_db_auth
    from sqlalchemy import create_engine, text
    from sqlalchemy.ext.asyncio import create_async_engine

    port, user, old = sys.argv[2], sys.argv[3], sys.argv[4]
    out = {"installed": platform_db_auth._installed is not None}
    base = f"{user}:{old}@127.0.0.1:{port}/airflow"
    sync = create_engine(f"postgresql+psycopg2://{base}")  # Airflow's engine
    with sync.connect() as c:
        out["sync"] = c.execute(text("SELECT current_user")).scalar()
    backend = create_engine(f"postgresql://{base}")  # Celery's result backend (db+postgresql://...)
    with backend.connect() as c:
        out["backend"] = c.execute(text("SELECT 1")).scalar()

    async def use_async():
        eng = create_async_engine(f"postgresql+asyncpg://{base}")  # Airflow's async engine
        async with eng.connect() as c:
            out["async"] = (await c.execute(text("SELECT 1"))).scalar()
        await eng.dispose()

    asyncio.run(use_async())
    other = create_engine(f"postgresql+psycopg2://postgres:{old}@127.0.0.1:{port}/postgres")  # not our login
    with other.connect() as c:
        out["other"] = c.execute(text("SELECT current_user")).scalar()
    wrong = create_engine(f"postgresql+psycopg2://nobody:{old}@127.0.0.1:{port}/airflow")
    try:
        wrong.connect()
        out["wrong"] = "connected"
    except Exception as exc:
        out["wrong"] = type(exc).__name__
    print(json.dumps(out))
    """
)


@pytest.mark.airflow
def test_every_engine_of_the_process_follows_the_secret(
    pg: Server, rotated: tuple[str, str], tmp_path: Path
) -> None:
    env = airflow_env(pg, rotated, tmp_path)
    script = tmp_path / "engines.py"
    script.write_text(ENGINES)
    r = subprocess.run(
        [str(AIRFLOW_VENV / "bin" / "python"), str(script), str(PLATFORM_LIB), str(pg.port), USER, OLD],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {
        "installed": True,
        "sync": USER,
        "backend": 1,
        "async": 1,
        "other": "postgres",  # trusted login, untouched
        "wrong": "OperationalError",  # another user: refused as before, no secret swapped in
    }
    assert OLD not in r.stderr and NEW not in r.stderr
