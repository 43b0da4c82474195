"""platform_common.secrets: the pure secret→URL core (hypothesis) and the read against the moto server over HTTP."""

from __future__ import annotations

import json
import uuid
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_common.secrets import (
    AWS_APIS,
    SecretError,
    db_url_from_secret,
    db_url_from_value,
    get_secret_value,
    libpq_url,
)

text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
host = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True)


@settings(deadline=None)  # timing never decides pass/fail (the machine is shared)
@given(
    user=text,
    password=text,
    host=host,
    port=st.integers(1, 65535),
    dbname=st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
)
def test_rds_json_round_trips_through_the_url(
    user: str, password: str, host: str, port: int, dbname: str
) -> None:
    doc = {"username": user, "password": password, "host": host, "port": port, "dbname": dbname}
    url = urlsplit(db_url_from_value(json.dumps(doc)))
    assert url.scheme == "postgresql"
    assert unquote(url.username or "") == user and unquote(url.password or "") == password
    assert url.hostname == host and url.port == port and url.path == f"/{dbname}"


@settings(deadline=None)  # timing never decides pass/fail (the machine is shared)
@given(password=text, host=host, port=st.integers(1, 65535))
def test_managed_secret_takes_host_port_name_from_settings(password: str, host: str, port: int) -> None:
    value = json.dumps({"username": "airflow", "password": password})
    url = urlsplit(db_url_from_value(value, host, port, "meta"))
    assert (url.hostname, url.port, url.path, unquote(url.password or "")) == (host, port, "/meta", password)
    assert urlsplit(db_url_from_value(value, host)).port == 5432
    assert urlsplit(db_url_from_value(value, host)).path == "/airflow"
    # the secret's own fields win over the settings
    own = json.dumps({"username": "u", "password": "p", "host": "db.internal", "port": 6432, "dbname": "x"})
    assert db_url_from_value(own, host, port, "meta") == "postgresql://u:p@db.internal:6432/x"


@settings(deadline=None)  # timing never decides pass/fail (the machine is shared)
@given(password=text.map(lambda t: f"Zq9{t}"))
def test_errors_never_carry_the_value(password: str) -> None:
    for bad in (
        json.dumps({"username": "u", "password": password}),
        json.dumps({"password": password}),
        password,
    ):
        try:
            db_url_from_value(bad, host_setting="X_DB_HOST")
        except SecretError as exc:
            assert (
                password not in str(exc)
                or password in "the DB secret is neither a postgresql:// URL nor JSON"
            )
            assert "\n" not in str(exc)


def test_url_secrets_and_missing_host() -> None:
    assert db_url_from_value("  postgresql+psycopg2://u:p@h:5/d \n") == "postgresql://u:p@h:5/d"
    assert db_url_from_value("postgres://u:p@h/d") == "postgresql://u:p@h/d"
    assert libpq_url("postgresql://u@h/d") == "postgresql://u@h/d"
    with pytest.raises(SecretError, match="not postgresql"):
        db_url_from_value("redis://:pw@h:6379/0")
    with pytest.raises(SecretError, match="SCALER_DB_HOST"):
        db_url_from_value('{"username": "u", "password": "p"}', host_setting="SCALER_DB_HOST")
    with pytest.raises(SecretError, match="neither"):
        db_url_from_value("[1, 2]")
    assert {"secretsmanager": frozenset({"GetSecretValue"})} == AWS_APIS


def test_read_from_the_moto_server(aws_env: str) -> None:
    sm = boto3.client("secretsmanager", endpoint_url=aws_env, region_name="us-east-1")
    name = f"rds!db-{uuid.uuid4().hex[:8]}"
    arn = sm.create_secret(Name=name, SecretString=json.dumps({"username": "u", "password": "s3cr/et"}))[
        "ARN"
    ]
    assert json.loads(get_secret_value(arn))["password"] == "s3cr/et"
    assert (
        db_url_from_secret(arn, "db.internal", 5433, "airflow")
        == "postgresql://u:s3cr%2Fet@db.internal:5433/airflow"
    )
    sm.put_secret_value(SecretId=arn, SecretString="postgresql://u:rotated@db2:5432/airflow")
    assert db_url_from_secret(arn) == "postgresql://u:rotated@db2:5432/airflow"  # always the current version

    missing = arn.rsplit(":", 1)[0] + ":nope-AbCdEf"
    with pytest.raises(SecretError, match="ResourceNotFoundException") as exc:
        db_url_from_secret(missing)
    assert "\n" not in str(exc.value)
    with pytest.raises(SecretError, match="host") as exc2:
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "u", "password": "hidden-pw"}))
        db_url_from_secret(arn, host_setting="HEALTHCHECK_POSTGRES_HOST")
    assert "hidden-pw" not in str(exc2.value) and "HEALTHCHECK_POSTGRES_HOST" in str(exc2.value)


def test_secret_arn_and_postgres_url_settings_are_validated_once_for_every_service() -> None:
    from pydantic import ValidationError

    from healthcheck.config import Settings as HcSettings
    from platform_common.secrets import postgres_url, secret_arn
    from scaler.config import ScalerSettings

    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow/db-AbCdEf"
    assert secret_arn(arn) == arn and secret_arn("  ") is None and secret_arn(None) is None
    for bad in ("db-secret", "arn:aws:ssm:us-east-1:123456789012:parameter/db", "arn:aws"):
        with pytest.raises(ValueError, match="not a Secrets Manager ARN"):
            secret_arn(bad)
    for good in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg2://u@h/db"):
        assert postgres_url(good) == good
    for bad in ("mysql://u@h/db", "u@h/db", ""):
        with pytest.raises(ValueError, match="unsupported URL scheme"):
            postgres_url(bad)
    # the same strictness in both services' settings
    with pytest.raises(ValidationError, match="not a Secrets Manager ARN"):
        ScalerSettings(db_secret_arn="arn:aws:ssm:us-east-1:123456789012:parameter/db")
    with pytest.raises(ValidationError, match="not a Secrets Manager ARN"):
        HcSettings(postgres_secret_arn="arn:aws:ssm:us-east-1:123456789012:parameter/db")
    assert ScalerSettings(db_secret_arn="").db_secret_arn is None
    assert HcSettings(postgres_url="postgres://u@h/db").postgres_conninfo() == libpq_url("postgres://u@h/db")
