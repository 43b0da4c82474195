"""Settings: every field is a ``--flag`` and a ``HEALTHCHECK_*`` env var (flag > env > default)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from platform_common.secrets import SecretArn, libpq_url, postgres_url

from .aggregate import Role, Rule, parse_patterns
from .assess import AIRFLOW_PARTS
from .slo import SpecError, parse_spec

CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Health aggregator configuration. Lists are comma-separated; globs allowed in the rule lists."""

    model_config = SettingsConfigDict(env_prefix="HEALTHCHECK_", extra="forbid")

    # server
    host: str = Field("0.0.0.0", description="listen address (the ALB reaches the container on it)")  # noqa: S104
    port: int = Field(8000, ge=0, le=65535, description="listen port")
    log_level: str = Field(
        "info", pattern="(?i)^(debug|info|warning|error)$", description="debug, info, warning or error"
    )
    access_log: bool = Field(False, description="log every request")
    cache_ttl: float = Field(5.0, gt=0, description="seconds a probe round is served from the cache")
    stale_grace: float = Field(
        10.0,
        ge=0,
        description="after the TTL, serve the last round this long while one refresh runs (0 = wait); "
        "keep it above the largest probe timeout",
    )
    page_refresh: int = Field(10, ge=1, description="HTML page auto refresh, seconds")
    root_path: str = Field(
        "",
        description="URL prefix of the page, /status, /metrics and the API docs (e.g. /platform behind the ALB, "
        "where / is the Airflow UI); /health and /status also stay at the root",
    )

    # aggregation rule (docs/adr/0007-health-aggregation.md)
    critical: CsvList = Field(
        default=["airflow_api", "airflow_metadatabase", "airflow_scheduler", "postgres", "redis"],
        description="components whose 'down' makes the platform down",
    )
    degrade: CsvList = Field(default=[], description="components whose 'down' only degrades the platform")
    # The SLO state is shown, never counted: a spent budget is a policy signal (the burn-rate alarms page), not an
    # outage; counting it would keep /status degraded for days after a recovered incident (docs/slo.md).
    info: CsvList = Field(default=["slo"], description="components shown but never counted")
    default_role: Role = Field(Role.DEGRADE, description="role of components no list names")

    # Airflow api-server
    airflow_enabled: bool = Field(True, description="run the airflow probe")
    airflow_url: str = Field("http://127.0.0.1:8080", description="api-server base URL")
    airflow_parts: CsvList = Field(
        default=list(AIRFLOW_PARTS), description="parts of /api/v2/monitor/health shown"
    )
    airflow_timeout: float = Field(
        3.0, gt=0, description="seconds before the airflow probe's components count as down"
    )

    # Redis broker
    redis_enabled: bool = Field(True, description="run the redis probe")
    redis_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), description="Celery broker URL")
    redis_queues: CsvList = Field(default=["default"], description="Celery queues to count")
    redis_key_prefix: str = Field(
        "",
        description="kombu's `global_keyprefix`, if the broker uses one ([broker keys](../platform_common/broker.py))",
    )
    redis_backlog_degraded: int | None = Field(
        None, ge=1, description="queue depth at which redis is degraded"
    )
    redis_timeout: float = Field(
        2.0, gt=0, description="seconds before the redis probe's components count as down"
    )

    # Postgres metadata DB
    postgres_enabled: bool = Field(True, description="run the postgres probe")
    postgres_url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/airflow"), description="metadata DB URL"
    )
    postgres_secret_arn: SecretArn = Field(
        None,
        description="Secrets Manager ARN of the DB credentials (URL, RDS JSON, or RDS-managed username/password "
        "+ postgres_host/port/name); read again after a failed connect (RDS rotation); overrides postgres_url",
    )
    postgres_host: str | None = Field(None, description="DB host when the secret lacks it")
    postgres_port: int | None = Field(None, ge=1, le=65535, description="DB port when the secret lacks it")
    postgres_name: str | None = Field(None, description="DB name when the secret lacks it (default airflow)")
    postgres_slow_ms: float = Field(500.0, gt=0, description="SELECT 1 slower than this -> degraded")
    postgres_timeout: float = Field(
        3.0, gt=0, description="seconds before the postgres probe's components count as down"
    )

    # DAG sync sidecars
    dagsync_enabled: bool = Field(False, description="run the dagsync probe")
    dagsync_state_dirs: CsvList = Field(
        default=[], description="dagsync state dirs (each has sidecars/*.json)"
    )
    dagsync_max_age: float = Field(
        300.0, gt=0, description="sidecar last success older than this -> degraded"
    )
    dagsync_forget_after: float = Field(
        3600.0, ge=0, description="ignore sidecars with no attempt for this long (0 = never)"
    )
    dagsync_timeout: float = Field(
        2.0, gt=0, description="seconds before the dagsync probe's components count as down"
    )

    # scaler
    scaler_enabled: bool = Field(True, description="run the scaler probe")
    scaler_url: str = Field("http://127.0.0.1:9102", description="scaler base URL (GET /decision)")
    scaler_max_age: float = Field(120.0, gt=0, description="last decision older than this -> degraded")
    scaler_timeout: float = Field(
        2.0, gt=0, description="seconds before the scaler probe's components count as down"
    )

    # ECS
    ecs_enabled: bool = Field(False, description="run the ecs probe")
    ecs_cluster: str = Field("", description="ECS cluster of ECS_SERVICES")
    ecs_services: CsvList = Field(default=[], description="ECS services: running vs desired")
    ecs_worker_service: str = Field(
        "", description="the Celery worker service (page: workers running/desired)"
    )
    ecs_timeout: float = Field(
        5.0, gt=0, description="seconds before the ecs probe's components count as down"
    )

    # CloudWatch alarms
    alarms_enabled: bool = Field(False, description="run the alarms probe")
    alarms_prefix: str = Field("", description="alarm name prefix (DescribeAlarms AlarmNamePrefix)")
    alarms_timeout: float = Field(
        5.0, gt=0, description="seconds before the alarms probe's components count as down"
    )

    # SLO state from CloudWatch (docs/slo.md): the observability module's `slo_spec` output
    slo_enabled: bool = Field(False, description="run the slo probe")
    slo_spec: str = Field("", description="JSON of the observability module's slo_spec output")
    slo_refresh: float = Field(
        300.0, ge=10, description="seconds between CloudWatch reads (GetMetricData is billed per metric)"
    )
    slo_timeout: float = Field(
        5.0, gt=0, description="seconds before the slo probe's components count as down"
    )

    # optional CloudWatch publishing of component health
    publish_enabled: bool = Field(False, description="run the publish probe")
    publish_namespace: str = Field(
        "AirflowPlatform/Health", description="CloudWatch namespace of the published health"
    )
    publish_interval: float = Field(60.0, ge=1, description="seconds between CloudWatch publishes")
    publish_env: str = Field("", description="value of the Env dimension (blank: none)")

    @field_validator(
        "critical",
        "degrade",
        "info",
        "airflow_parts",
        "redis_queues",
        "dagsync_state_dirs",
        "ecs_services",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return list(parse_patterns(value))
        return value

    @field_validator("airflow_parts")
    @classmethod
    def _parts(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(AIRFLOW_PARTS))
        if unknown:
            raise ValueError(f"unknown part {', '.join(unknown)}; choose from {', '.join(AIRFLOW_PARTS)}")
        return value

    @field_validator("airflow_url", "scaler_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("postgres_url")
    @classmethod
    def _pg(cls, value: SecretStr) -> SecretStr:
        postgres_url(value.get_secret_value())
        return value

    @field_validator("root_path")
    @classmethod
    def _root(cls, value: str) -> str:
        value = value.strip()
        if value in ("", "/"):
            return ""
        if not value.startswith("/") or any(c in value for c in " ?#") or "//" in value:
            raise ValueError("must be empty or a path like /platform")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _needs(self) -> Settings:
        if self.dagsync_enabled and not self.dagsync_state_dirs:
            raise ValueError("dagsync probe is on but HEALTHCHECK_DAGSYNC_STATE_DIRS is empty")
        if self.ecs_enabled and not (self.ecs_cluster and self.ecs_services):
            raise ValueError(
                "ecs probe is on but HEALTHCHECK_ECS_CLUSTER or HEALTHCHECK_ECS_SERVICES is empty"
            )
        if self.alarms_enabled and not self.alarms_prefix:
            raise ValueError("alarms probe is on but HEALTHCHECK_ALARMS_PREFIX is empty")
        if self.slo_enabled:
            try:
                parse_spec(self.slo_spec)
            except SpecError as exc:
                raise ValueError(f"HEALTHCHECK_SLO_SPEC: {exc}") from None
        return self

    def rule(self) -> Rule:
        return Rule(tuple(self.critical), tuple(self.degrade), tuple(self.info), self.default_role)

    def postgres_conninfo(self) -> str:
        """SQLAlchemy-style ``postgresql+psycopg2://`` -> plain libpq URL."""
        return libpq_url(self.postgres_url.get_secret_value())
