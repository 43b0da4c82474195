"""AWS client factory.

Endpoint, region and credentials come from the standard env vars, which botocore reads itself:
``AWS_ENDPOINT_URL`` (and per-service ``AWS_ENDPOINT_URL_<SERVICE>``), ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_CA_BUNDLE``, ``AWS_PROFILE``.
Request retries use botocore's retry modes; ``standard`` retries throttling (503 SlowDown) with backoff.

Each service also declares which AWS APIs it calls (``AwsApis``): the infra tests check that every one of them
has a VPC endpoint, because the platform runs without NAT (docs/adr/0003-nat-free-vpc-endpoints.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from aiobotocore.session import AioSession, get_session
from botocore.config import Config

DEFAULT_REGION = "us-east-1"

# Service name (botocore) -> API operation names one module calls.
AwsApis = Mapping[str, frozenset[str]]


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def client_config(
    *,
    retry_mode: str = "standard",
    max_attempts: int = 5,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    max_pool_connections: int = 10,
    s3_path_style: bool | None = None,
) -> Config:
    """botocore Config shared by every service. ``retry_mode`` is ``standard`` or ``adaptive``."""
    extra: dict[str, Any] = {}
    if s3_path_style is None:
        # Emulators (moto) serve buckets by path, not by virtual host.
        s3_path_style = bool(os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3"))
    if s3_path_style:
        extra["s3"] = {"addressing_style": "path"}
    return Config(
        region_name=region(),
        retries={"mode": retry_mode, "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        user_agent_extra="airflow-ecs-platform",
        **extra,
    )


def sync_client(service: str, config: Config | None = None) -> Any:
    """A boto3 client for ``service``; endpoint and credentials from the environment."""
    return boto3.session.Session().client(service, config=config or client_config())  # type: ignore[call-overload]


def aio_session() -> AioSession:
    return get_session()


def aio_client(service: str, config: Config | None = None, session: AioSession | None = None) -> Any:
    """An aiobotocore client context manager: ``async with aio_client("s3") as s3: ...``."""
    return (session or aio_session()).create_client(service, config=config or client_config())
