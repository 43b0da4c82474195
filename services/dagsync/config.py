"""Settings: every flag also works as a ``DAGSYNC_*`` env var (flag > env > default)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_common.settings import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAGSYNC_", extra="ignore")

    source: str | None = None
    dest: str | None = None
    state_dir: str | None = None
    interval: float = Field(5.0, gt=0)
    list_every: int = Field(
        60, ge=1
    )  # manifest mode: a safety-net LIST every Nth cycle (1 = LIST every cycle)
    include: str = ""  # comma-separated globs
    exclude: str = ""
    concurrency: int = Field(32, ge=1, le=256)
    grace_period: float = Field(600.0, ge=0)
    backoff_base: float = Field(2.0, gt=0)
    backoff_cap: float = Field(300.0, gt=0)
    lock_timeout: float = Field(600.0, gt=0)
    stop_grace: float = Field(5.0, ge=0)
    max_attempts: int = Field(5, ge=1, le=20)
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    fsync: bool = True
    metrics_port: int = Field(9101, ge=0, le=65535)
    sidecar_id: str | None = None
    max_age: float = Field(300.0, gt=0)
    commit: str | None = None
    watch: bool = False
    log_level: str = "INFO"
    transport: str = "botocore"  # botocore | presigned; see docs/adr/0001-dag-sync.md

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return v.upper()

    @field_validator("transport")
    @classmethod
    def _transport(cls, v: str) -> str:
        if v.lower() not in ("botocore", "presigned"):
            raise ValueError("must be botocore or presigned")
        return v.lower()

    @field_validator("sidecar_id")
    @classmethod
    def _sidecar(cls, v: str | None) -> str | None:
        if v is not None and (not v or "/" in v or v.startswith(".") or len(v) > 200):
            raise ValueError("must be a non-empty file name (no '/', not starting with '.')")
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
