"""Scaler settings: every option is a flag and a ``SCALER_*`` env var (flag > env > default)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_common.secrets import PostgresUrl, SecretArn
from platform_common.settings import ConfigError, load_settings

from .decider import Config
from .schedule import Schedule, ScheduleError, parse_schedule, zone

REDIS_SCHEMES = ("redis", "rediss", "unix")


class ScalerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCALER_", extra="ignore")

    # sources
    redis_url: str = "redis://127.0.0.1:6379/0"
    db_url: PostgresUrl | None = None
    db_secret_arn: SecretArn = None
    db_host: str | None = None  # for RDS-managed secrets, which hold only username/password
    db_port: int | None = None
    db_name: str | None = None
    queues: str = "default"  # comma-separated Celery queues (= task_instance.queue values)
    priority_steps: str = "0,3,6,9"  # kombu's redis PRIORITY_STEPS (kombu/transport/redis.py)
    redis_key_prefix: str = ""  # kombu's global_keyprefix, if the broker uses one
    # formula
    worker_concurrency: int = 16  # Airflow's [celery] worker_concurrency default
    min_workers: int = 0
    max_workers: int = 10
    cooldown: float = 300.0
    schedule: str = ""  # empty = always active; see scaler/schedule.py
    timezone: str = "UTC"
    offhours_max: int | None = None
    # outputs
    cloudwatch: bool = True
    cw_namespace: str = "Airflow/Scaler"
    cw_env: str = "dev"
    cw_service: str = "airflow-worker"
    apply: Literal["none", "ecs"] = "none"
    ecs_cluster: str | None = None
    ecs_service: str | None = None
    protect: bool = True  # task scale-in protection for busy workers (needs cluster + service)
    protection_minutes: int = 60
    unmatched_hosts: Literal["hold", "ignore"] = "hold"  # busy hostnames matching no task: hold scale-in?
    metrics_port: int = 9102
    metrics_host: str = "0.0.0.0"  # noqa: S104 - the healthcheck service scrapes it over the VPC
    interval: float = 15.0
    log_level: str = "INFO"
    # service-level indicators (docs/slo.md)
    start_slo_seconds: float = 120.0  # queued -> start above this is a late start
    scaleup_slo_seconds: float = 180.0  # queued with zero workers -> first task running above this is late
    latency_window: float = 300.0  # seconds of starts behind the p50/p95

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

    @field_validator("worker_concurrency")
    @classmethod
    def _concurrency(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be >= 1 (the workers' --concurrency), got {v}")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zone(v)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"must be > 0 seconds, got {v}")
        return v

    @field_validator("start_slo_seconds", "scaleup_slo_seconds", "latency_window")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"must be > 0 seconds, got {v}")
        return v

    @field_validator("protection_minutes")
    @classmethod
    def _protection(cls, v: int) -> int:
        if not 1 <= v <= 2880:
            raise ValueError(f"must be 1..2880 minutes (ECS UpdateTaskProtection), got {v}")
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
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics port must be 0..65535, got {self.metrics_port}")
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

    @property
    def ecs_target(self) -> bool:
        return bool(self.ecs_cluster and self.ecs_service)


def load(flags: dict[str, object]) -> ScalerSettings:
    """Settings or ConfigError (one line)."""
    settings = load_settings(ScalerSettings, flags)
    if not settings.db_url and not settings.db_secret_arn:
        raise ConfigError(
            "no metadata DB: set --db-url (SCALER_DB_URL) or --db-secret-arn (SCALER_DB_SECRET_ARN)"
        )
    return settings
