"""Scaler settings: every option is a flag and a ``SCALER_*`` env var (flag > env > default)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_common.prometheus import ANY_ADDRESS
from platform_common.secrets import PostgresUrl, SecretArn
from platform_common.settings import ConfigError, load_settings

from .decider import Config
from .schedule import Schedule, ScheduleError, parse_schedule, zone

REDIS_SCHEMES = ("redis", "rediss", "unix")


class ScalerSettings(BaseSettings):
    """Every field is a flag (platform_common.cli) and a ``SCALER_*`` env var; flag > env > default."""

    model_config = SettingsConfigDict(env_prefix="SCALER_", extra="ignore")

    # sources
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Celery broker (`redis://`, `rediss://`, `unix://`)"
    )
    db_url: PostgresUrl | None = Field(
        None, description="metadata DB (`postgresql://`; `postgresql+psycopg2://` accepted)"
    )
    db_secret_arn: SecretArn = Field(
        None,
        description="Secrets Manager secret: a URL string or RDS JSON (`username`, `password`, `host`, `port`, `dbname`)",
    )
    db_host: str | None = Field(
        None,
        description="DB host when the secret lacks it (RDS-managed master secrets hold only `username`/`password`)",
    )
    db_port: int | None = Field(
        None, ge=1, le=65535, description="DB port when the secret lacks it (else `5432`)"
    )
    db_name: str | None = Field(None, description="DB name when the secret lacks it (else `airflow`)")
    queues: str = Field("default", description="comma-separated Celery queues (= `task_instance.queue`)")
    priority_steps: str = Field(
        "0,3,6,9", description="kombu's redis `priority_steps` ([broker keys](../platform_common/broker.py))"
    )
    redis_key_prefix: str = Field("", description="kombu's `global_keyprefix`, if the broker uses one")
    # formula
    worker_concurrency: int = Field(
        16,
        ge=1,
        description="tasks per worker (the workers' `--concurrency`)",
        json_schema_extra={"flag": "--concurrency"},
    )
    min_workers: int = Field(
        0, ge=0, description="min workers in active hours", json_schema_extra={"flag": "--min"}
    )
    max_workers: int = Field(10, ge=0, description="max workers", json_schema_extra={"flag": "--max"})
    cooldown: float = Field(300.0, ge=0, description="seconds a lower value must hold before a scale-in")
    schedule: str = Field(
        "",
        description="active hours, e.g. `Mon-Fri 07:00-19:00; Sat 09:00-12:00` or `cron(0 7 * * 1-5)..cron(0 19 * * 1-5)`; empty = always active",
    )
    timezone: str = Field("UTC", description="IANA timezone of the schedule")
    offhours_max: int | None = Field(None, ge=0, description="max workers off-hours (unset: `--max`)")
    # outputs
    cloudwatch: bool = Field(True, description="publish to CloudWatch (`run` only)")
    cw_namespace: str = Field("Airflow/Scaler", description="CloudWatch namespace")
    cw_env: str = Field("dev", description="metric dimension `env`", json_schema_extra={"flag": "--env"})
    cw_service: str = Field(
        "airflow-worker",
        description="metric dimension `service`",
        json_schema_extra={"flag": "--service-name"},
    )
    apply: Literal["none", "ecs"] = Field(
        "none", description="`none`: metrics only; `ecs`: UpdateService `desiredCount`"
    )
    ecs_cluster: str | None = Field(
        None,
        description="ECS cluster of the worker service (needed for `ecs`, protection, `current`)",
        json_schema_extra={"flag": "--cluster"},
    )
    ecs_service: str | None = Field(
        None, description="ECS worker service", json_schema_extra={"flag": "--service"}
    )
    protect: bool = Field(
        True, description="task scale-in protection of busy workers (needs cluster + service)"
    )
    protection_minutes: int = Field(
        60,
        ge=1,
        le=2880,
        description="protection expiry in minutes (ECS UpdateTaskProtection: 1-2880), renewed at half-life",
    )
    unmatched_hosts: Literal["hold", "ignore"] = Field(
        "hold",
        description="a running TI whose hostname matches no worker task holds scale-in (`hold`) or is ignored",
    )
    metrics_port: int = Field(9102, ge=0, le=65535, description="`/metrics` + `/decision` port; `0` = off")
    metrics_host: str = Field(ANY_ADDRESS, description="bind address of /metrics and /decision")
    interval: float = Field(15.0, gt=0, description="seconds between cycles")
    log_level: str = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR; JSON logs on stderr, secrets redacted"
    )
    # service-level indicators (docs/slo.md)
    start_slo_seconds: float = Field(
        120.0,
        gt=0,
        description="queued → start above this is a late start (`TasksStartedLate`; [docs/slo.md](../../docs/slo.md))",
    )
    scaleup_slo_seconds: float = Field(
        180.0,
        gt=0,
        description="zero workers → first task running above this is a late scale-up (`ScaleUpsLate`)",
    )
    latency_window: float = Field(300.0, gt=0, description="seconds of task starts behind the p50/p95")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str) -> str:
        scheme = urlsplit(v).scheme
        if scheme not in REDIS_SCHEMES:
            raise ValueError(f"unsupported URL scheme {scheme!r}: use one of {', '.join(REDIS_SCHEMES)}")
        return v

    @field_validator(
        "db_url",
        "db_secret_arn",
        "db_host",
        "db_port",
        "db_name",
        "ecs_cluster",
        "ecs_service",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zone(v)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("priority_steps")
    @classmethod
    def _steps(cls, v: str) -> str:
        try:
            steps = [int(s) for s in v.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"must be comma-separated integers like 0,3,6,9, got {v!r}") from None
        if not steps or any(s < 0 or s > 255 for s in steps):
            raise ValueError(f"must be comma-separated integers 0..255 like 0,3,6,9, got {v!r}")
        return v

    @field_validator("queues")
    @classmethod
    def _queues(cls, v: str) -> str:
        if not [q for q in v.split(",") if q.strip()]:
            raise ValueError("needs at least one queue name")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ScalerSettings:
        try:
            self.decider_config()
        except (ValueError, ScheduleError) as exc:
            raise ValueError(str(exc)) from None
        if self.apply == "ecs" and not (self.ecs_cluster and self.ecs_service):
            raise ValueError(
                "apply=ecs needs --cluster and --service (SCALER_ECS_CLUSTER, SCALER_ECS_SERVICE)"
            )
        return self

    # derived
    def queue_list(self) -> list[str]:
        return [q.strip() for q in self.queues.split(",") if q.strip()]

    def step_list(self) -> list[int]:
        return sorted({int(s) for s in self.priority_steps.split(",") if s.strip()})

    def parsed_schedule(self) -> Schedule:
        return parse_schedule(self.schedule, self.timezone)

    def decider_config(self) -> Config:
        return Config(
            concurrency=self.worker_concurrency,
            min_workers=self.min_workers,
            max_workers=self.max_workers,
            cooldown=self.cooldown,
            schedule=self.parsed_schedule(),
            offhours_max=self.offhours_max,
        )


def load(flags: dict[str, object]) -> ScalerSettings:
    """Settings or ConfigError (one line)."""
    settings = load_settings(ScalerSettings, flags)
    if not settings.db_url and not settings.db_secret_arn:
        raise ConfigError(
            "no metadata DB: set --db-url (SCALER_DB_URL) or --db-secret-arn (SCALER_DB_SECRET_ARN)"
        )
    return settings
