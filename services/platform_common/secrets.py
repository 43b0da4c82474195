"""Secrets Manager → values and DB URLs, shared by every service (docs/adr/0006-secrets-and-sso.md).

A DB secret is one of:
- a URL string (``postgresql://...``; SQLAlchemy's ``postgresql+psycopg2://`` is accepted and normalised);
- RDS JSON with ``username``/``password`` and ``host``/``port``/``dbname``;
- an RDS-managed master secret: only ``username``/``password``; host/port/name come from settings.

Values never reach logs or exception messages: errors name the secret's problem, not its content.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from pydantic import AfterValidator, BeforeValidator

from .aws import AwsApis, sync_client

AWS_APIS: AwsApis = {"secretsmanager": frozenset({"GetSecretValue"})}


class SecretError(Exception):
    """A secret could not be read or understood; ``str()`` is one line without the value."""


def get_secret_value(arn: str, client: Any = None) -> str:
    """``SecretString`` of ``arn`` (AWSCURRENT). ``client``: a boto3 secretsmanager client (default: the factory's)."""
    sm = client if client is not None else sync_client("secretsmanager")
    try:
        value = sm.get_secret_value(SecretId=arn)["SecretString"]
    except Exception as exc:
        resp = getattr(exc, "response", None)
        code = resp.get("Error", {}).get("Code") if isinstance(resp, dict) else None
        raise SecretError(
            f"secretsmanager: GetSecretValue failed: {code or type(exc).__name__}"
            " (check the secret ARN and the task role's secretsmanager:GetSecretValue + kms:Decrypt)"
        ) from None
    if not isinstance(value, str):
        raise SecretError("secretsmanager: the secret has no SecretString (binary secrets are not supported)")
    return value


def secret_arn(value: str | None) -> str | None:
    """A Secrets Manager ARN setting: blank -> None; anything but ``arn:<partition>:secretsmanager:...`` -> ValueError."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.startswith("arn:") or value.split(":")[2:3] != ["secretsmanager"]:
        raise ValueError("not a Secrets Manager ARN (arn:aws:secretsmanager:...)")
    return value


def postgres_url(url: str) -> str:
    """A metadata-DB URL setting: ``postgresql://`` or ``postgres://``, with or without a ``+driver``; else ValueError."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ValueError(
            f"unsupported URL scheme {scheme!r}: use postgresql://HOST:5432/DBNAME (user and password in the URL)"
        )
    return url


# Field types for settings models: the validation above, as pydantic runs it.
SecretArn = Annotated[str | None, BeforeValidator(lambda v: secret_arn(v) if isinstance(v, str) else v)]
PostgresUrl = Annotated[str, AfterValidator(postgres_url)]


def libpq_url(url: str) -> str:
    """``postgres://`` / ``postgresql+driver://`` → ``postgresql://`` (what libpq/psycopg want)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgres") else url


def db_url_from_value(
    value: str,
    host: str | None = None,
    port: int | None = None,
    dbname: str | None = None,
    *,
    default_dbname: str = "airflow",
    host_setting: str = "a DB host setting",
) -> str:
    """Pure: a secret's text → ``postgresql://user:pass@host:port/db``. The secret's own fields win over the args."""
    text = value.strip()
    if "://" in text and not text.startswith("{"):
        if not text.split("://", 1)[0].startswith("postgres"):
            raise SecretError("the DB secret is a URL but not postgresql://")
        return libpq_url(text)
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise TypeError
        user, password = quote(str(doc["username"]), safe=""), quote(str(doc["password"]), safe="")
        host_ = doc.get("host") or host
        port_ = int(doc.get("port") or port or 5432)
        dbname_ = doc.get("dbname") or dbname or default_dbname
        if not host_:
            raise KeyError("host")
    except (ValueError, KeyError, TypeError):
        raise SecretError(
            "the DB secret is neither a postgresql:// URL nor JSON with username/password "
            f"(+ host in the secret or {host_setting})"
        ) from None
    return f"postgresql://{user}:{password}@{host_}:{port_}/{dbname_}"


def db_url_from_secret(
    arn: str,
    host: str | None = None,
    port: int | None = None,
    dbname: str | None = None,
    *,
    client: Any = None,
    default_dbname: str = "airflow",
    host_setting: str = "a DB host setting",
) -> str:
    """Read ``arn`` and build the DB URL (see ``db_url_from_value``). Raises ``SecretError``."""
    value = get_secret_value(arn, client)
    try:
        return db_url_from_value(
            value, host, port, dbname, default_dbname=default_dbname, host_setting=host_setting
        )
    except SecretError as exc:
        raise SecretError(f"secretsmanager: {exc}") from None
