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
from typing import TYPE_CHECKING, Any

from botocore.config import Config

if TYPE_CHECKING:
    from aiobotocore.session import AioSession

# boto3 and aiobotocore are imported where they are used: a service imports only the one it calls (boto3 alone
# is ~0.1 s of CPU and ~2 MB that the dagsync sidecar never needs; bench/dagsync/RESULTS.md).

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
    import boto3

    return boto3.session.Session().client(service, config=config or client_config())  # type: ignore[call-overload]


def aio_session(endpoint_services: frozenset[str] | None = None) -> AioSession:
    """An aiobotocore session. ``endpoint_services``: the only services whose endpoint data the session keeps.

    botocore's endpoint resolver parses ``endpoints.json`` (every service in every partition, ~1.3 MB of JSON,
    ~9 MB of dicts) and keeps all of it for the life of the process. A sidecar that calls one or two services
    keeps only theirs: their endpoints resolve exactly as before (tests/test_platform_common.py compares them), a
    client for any other service raises. Saves ~5-7 MB of the sidecar's peak RSS (bench/dagsync/RESULTS.md).
    """
    from aiobotocore.session import get_session

    session = get_session()
    if endpoint_services is not None:
        keep = frozenset(endpoint_services)
        session._internal_components.lazy_register_component(  # botocore has no public hook for it
            "endpoint_resolver", lambda: _endpoint_resolver_for(session, keep)
        )
    return session


def _endpoint_resolver_for(session: Any, services: frozenset[str]) -> Any:
    """botocore's own ``EndpointResolver`` over the endpoints data of ``services`` only, read as botocore reads it
    (same search path, not cached whole in the loader)."""
    import os.path

    from botocore.regions import EndpointResolver

    loader = session.get_component("data_loader")
    for root in loader.search_paths:
        path = os.path.join(root, "endpoints")
        data = loader.file_loader.load_file(path)
        if data is not None:
            break
    else:
        raise RuntimeError("botocore's endpoints data was not found on its search path; reinstall botocore")
    data["partitions"] = [
        {**part, "services": {k: v for k, v in part["services"].items() if k in services}}
        for part in data["partitions"]
    ]
    return EndpointResolver(data, uses_builtin_data=loader.is_builtin_path(path))


def aio_client(service: str, config: Config | None = None, session: AioSession | None = None) -> Any:
    """An aiobotocore client context manager: ``async with aio_client("s3") as s3: ...``."""
    return (session or aio_session()).create_client(service, config=config or client_config())
