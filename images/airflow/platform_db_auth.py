"""Metadata-DB password rotation without a restart (docs/adr/0014-db-secret-rotation.md).

ECS injects the RDS-managed master password (AIRFLOW_DB_PASSWORD) at task start; RDS rotates it every 7 days. This
module adds one SQLAlchemy ``do_connect`` listener for every engine of the process (Airflow's sync and async
metadata engines, Celery's result-backend engine): when a new connection to the metadata DB is refused for its
password (SQLSTATE 28P01), it reads the secret ``AIRFLOW_DB_SECRET_ARN`` with the task role (AWSCURRENT, then
AWSPENDING: RDS sets the new password before it promotes the new version) and retries once with a password it has
not tried. A password that works is used for the next connections of every engine. Other databases (DAG code's
own engines) are never touched: the listener acts only on AIRFLOW_DB_HOST/PORT/USER. Passwords never reach a log.

``airflow_local_settings.py`` (the same dir, on PYTHONPATH) installs it; Airflow imports that before it builds
its engines, also in the health-check commands ECS runs (``airflow jobs check``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

SECRET_ENV = "AIRFLOW_DB_SECRET_ARN"  # noqa: S105 - the name of the env var holding the ARN
INTERVAL_ENV = "AIRFLOW_DB_SECRET_MIN_INTERVAL"  # seconds between two reads of the secret (default 5)
AUTH_FAILED = "28P01"  # invalid_password
STAGES = ("AWSCURRENT", "AWSPENDING")

log = logging.getLogger("airflow.platform.db_auth")


@dataclass(frozen=True)
class Target:
    """The metadata DB's login: only connections to it get a refreshed password."""

    host: str
    port: int
    user: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Target | None:
        """AIRFLOW_DB_HOST/PORT/USER (the task definition's), else the host/user of the SQLAlchemy URL."""
        if env.get("AIRFLOW_DB_HOST"):
            return cls(
                env["AIRFLOW_DB_HOST"],
                int(env.get("AIRFLOW_DB_PORT") or 5432),
                env.get("AIRFLOW_DB_USER") or "airflow",
            )
        url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
        if not url:
            return None
        parts = urlsplit(url)
        if not parts.hostname or not parts.username:
            return None
        return cls(parts.hostname, parts.port or 5432, unquote(parts.username))

    def matches(self, cparams: Mapping[str, Any]) -> bool:
        """True if DBAPI connect kwargs (psycopg2, psycopg, asyncpg) point at this login."""
        try:
            port = int(cparams.get("port") or 5432)
        except (TypeError, ValueError):
            return False
        return cparams.get("host") == self.host and port == self.port and cparams.get("user") == self.user


def is_auth_failure(exc: BaseException) -> bool:
    """A refused password: SQLSTATE 28P01 (psycopg, asyncpg) or libpq's message (psycopg2 connect errors have no
    code). Looks through SQLAlchemy's ``orig`` and ``raise ... from``, not ``__context__``: an error raised while
    handling a refused password (a retry's) is judged on its own."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if code == AUTH_FAILED or "password authentication failed" in str(e):
            return True
        todo += [getattr(e, "orig", None), e.__cause__]
    return False


def password_from_secret(value: str) -> str:
    """The password in a DB secret: RDS JSON (``{"username", "password", ...}``) or a ``postgresql://`` URL."""
    text = value.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
            return str(doc["password"])
        except (ValueError, KeyError, TypeError):
            pass
    elif "://" in text:
        password = urlsplit(text).password
        if password is not None:
            return unquote(password)
    raise ValueError("the DB secret is neither JSON with a password nor a URL with one")


def read_secret_stage(arn: str, stage: str) -> str | None:
    """``SecretString`` of one version stage with the task role (boto3's default chain: the ECS credentials
    endpoint, AWS_ENDPOINT_URL); None if the stage does not exist (AWSPENDING outside a rotation)."""
    import boto3  # the Airflow image's (amazon provider); imported on first use only

    sm = boto3.client("secretsmanager")
    try:
        value = sm.get_secret_value(SecretId=arn, VersionStage=stage).get("SecretString")
    except sm.exceptions.ResourceNotFoundException:
        return None
    return value if isinstance(value, str) else None


class Refresher:
    """The passwords to try after a refusal, read from the secret at most every ``min_interval`` seconds."""

    def __init__(
        self,
        arn: str,
        read: Callable[[str, str], str | None] = read_secret_stage,
        min_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.arn = arn
        self.read = read
        self.min_interval = min_interval
        self.clock = clock
        self.current: str | None = None  # the last password that worked after a refresh
        self._read_at: float | None = None
        self._values: list[str] = []
        self._lock = threading.Lock()

    def candidates(self, failed: str | None) -> list[str]:
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.min_interval:
                self._read_at = now
                values: list[str] = []
                for stage in STAGES:
                    try:
                        raw = self.read(self.arn, stage)
                        if raw is not None:
                            values.append(password_from_secret(raw))
                    except Exception as exc:  # never the value: only what failed
                        log.error(
                            "metadata DB: cannot read %s of %s (%s); check the task role's "
                            "secretsmanager:GetSecretValue and kms:Decrypt",
                            stage,
                            self.arn,
                            type(exc).__name__,
                        )
                self._values = values
            return [v for i, v in enumerate(self._values) if v != failed and v not in self._values[:i]]

    def use(self, password: str) -> None:
        with self._lock:
            self.current = password


class Listener:
    """The ``do_connect`` handler: the last good password first; on a refused password, the secret's, once."""

    def __init__(self, target: Target, refresher: Refresher) -> None:
        self.target = target
        self.refresher = refresher

    def __call__(self, dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        if not self.target.matches(cparams):
            return None  # not the metadata DB: SQLAlchemy connects as usual
        current = self.refresher.current
        if current is not None:
            cparams["password"] = current  # cparams is the engine's own dict: later connects start from it
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if not is_auth_failure(exc):
                raise
            failed = cparams.get("password")
            where = f"{self.target.user}@{self.target.host}:{self.target.port}"
            for password in self.refresher.candidates(failed):
                try:
                    conn = dialect.connect(*cargs, **{**cparams, "password": password})
                except Exception as retry_exc:
                    if is_auth_failure(retry_exc):
                        continue
                    raise
                cparams["password"] = password
                self.refresher.use(password)
                log.warning(
                    "metadata DB: password for %s was rotated; connected with the one from %s",
                    where,
                    self.refresher.arn,
                )
                return conn
            log.error(
                "metadata DB: password for %s refused, and %s holds no other that works "
                "(rotation still in progress, or the secret and the DB disagree)",
                where,
                self.refresher.arn,
            )
            raise


_installed: Listener | None = None


def install(env: Mapping[str, str] | None = None) -> Listener | None:
    """Register the listener on every SQLAlchemy engine of this process (idempotent). A no-op without
    AIRFLOW_DB_SECRET_ARN (tests, a static URL) or without a metadata DB login to match."""
    global _installed
    env = os.environ if env is None else env
    arn = env.get(SECRET_ENV, "")
    target = Target.from_env(env)
    if _installed is not None or not arn or target is None:
        return _installed
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    listener = Listener(target, Refresher(arn, min_interval=float(env.get(INTERVAL_ENV) or 5)))
    event.listen(Engine, "do_connect", listener)
    _installed = listener
    return listener
