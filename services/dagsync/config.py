"""Settings: every flag also works as a ``DAGSYNC_*`` env var (flag > env > default)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_common.settings import ConfigError

from .health import DEFAULT_MAX_AGE, sidecar_id_problem


def _lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


class Settings(BaseSettings):
    """Every field is a flag of the commands that use it (cli.py, platform_common.cli) and a ``DAGSYNC_*`` env var."""

    model_config = SettingsConfigDict(env_prefix="DAGSYNC_", extra="ignore")

    source: str | None = Field(None, description="`s3://BUCKET/PREFIX/` (publish: a local directory)")
    dest: str | None = Field(
        None,
        description="the synced directory Airflow reads, a symlink to the published version (publish: "
        "`s3://BUCKET/PREFIX/`)",
    )
    state_dir: str | None = Field(
        None,
        description="versions, indexes, lock, status files (unset: `<dest parent>/.dagsync-<dest name>`); same file system as DEST",
    )
    interval: float = Field(3.0, gt=0, description="seconds between successful cycles")
    list_every: int = Field(
        60,
        ge=1,
        description="with a manifest, quiet cycles are one conditional GET of `_manifest.json` (304); every Nth cycle (and the first of a process) LISTs as a safety net; 1 = LIST every cycle",
    )
    include: str = Field(
        "",
        description="globs (repeat the flag, or comma-separated); `*` `?` `[...]` within a segment, `**` across; a pattern without `/` matches the file name anywhere; empty = all",
    )
    exclude: str = Field("", description="globs to leave out (repeat the flag, or comma-separated)")
    concurrency: int = Field(32, ge=1, le=256, description="parallel GETs (publish: up to 16 uploads/HEADs)")
    grace_period: float = Field(
        600.0, ge=0, description="seconds a replaced version is kept before it is collected"
    )
    backoff_base: float = Field(
        2.0, gt=0, description="first retry delay ceiling after a failed cycle, seconds"
    )
    backoff_cap: float = Field(
        300.0, gt=0, description="max delay between failed cycles (full jitter, reset on success)"
    )
    lock_timeout: float = Field(600.0, gt=0, description="seconds to wait for another sidecar's publish")
    stop_grace: float = Field(
        5.0, ge=0, description="seconds a cycle may finish after SIGTERM before it is cancelled"
    )
    max_attempts: int = Field(
        5,
        ge=1,
        le=20,
        description="total attempts per S3 request, first included (botocore `standard` retry mode, for both transports)",
    )
    connect_timeout: float = Field(5.0, gt=0, description="S3 connect timeout, seconds")
    read_timeout: float = Field(30.0, gt=0, description="S3 socket read timeout, seconds")
    fsync: bool = Field(True, description="`syncfs` the new tree before publishing it")
    metrics_port: int = Field(9101, ge=0, le=65535, description="Prometheus `/metrics` port; 0 = off")
    sidecar_id: str | None = Field(
        None,
        description="status file name (unset: `<hostname>-<pid>`); `check` with an id checks that sidecar instead of DEST",
    )
    max_age: float = Field(DEFAULT_MAX_AGE, gt=0, description="max seconds since the last successful sync")
    commit: str | None = Field(
        None,
        description="commit recorded in `_manifest.json` (unset: `git rev-parse HEAD` in the source dir)",
    )
    watch: bool = Field(False, description="republish on every local change (watchfiles)")
    bundle: bool = Field(
        True,
        description="publish: also write the set as one `_dagsync/bundle-*.tar.gz` named in the manifest; sync: fetch it when many files are missing (a cold start), each member checked against the manifest",
    )
    log_level: str = Field(
        "INFO", pattern="(?i)^(debug|info|warning|error)$", description="DEBUG, INFO, WARNING or ERROR"
    )
    transport: Annotated[Literal["botocore", "presigned"], BeforeValidator(_lower)] = Field(
        "presigned",
        description="how LIST/GET reach S3: `presigned` (URLs signed by botocore, fetched over aiohttp) or `botocore` (aiobotocore paginator + `get_object`, the fallback); see [Transports](#transports) and [ADR 0001](../../docs/adr/0001-dag-sync.md)",
    )

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        return v.upper()

    @field_validator("sidecar_id")
    @classmethod
    def _sidecar(cls, v: str | None) -> str | None:
        problem = None if v is None else sidecar_id_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    def globs(self, which: str) -> tuple[str, ...]:
        raw = self.include if which == "include" else self.exclude
        return tuple(p.strip() for p in raw.split(",") if p.strip())

    def the_sidecar_id(self) -> str:
        return self.sidecar_id or f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class S3Url:
    bucket: str
    prefix: str  # "" or ends with "/"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, rel: str) -> str:
        return self.prefix + rel


def parse_s3_url(value: str | None, what: str) -> S3Url:
    if not value:
        raise ConfigError(f"{what} is required: pass s3://BUCKET/PREFIX/")
    if not value.startswith("s3://"):
        raise ConfigError(f"{what} must look like s3://BUCKET/PREFIX/, got {value!r}")
    bucket, _, prefix = value[5:].partition("/")
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in "-." for c in bucket):
        raise ConfigError(f"{what}: {bucket!r} is not a valid S3 bucket name")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if prefix.startswith("/") or "//" in prefix:
        raise ConfigError(f"{what}: prefix {prefix!r} has empty segments")
    return S3Url(bucket, prefix)
