"""Fixtures for the dagsync tests: a bucket on the moto server, a fault-injecting proxy, helpers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.aws import AwsProxy


@pytest.fixture
def s3(aws_env: str) -> Any:
    """A boto3 client straight to moto (no proxy), for arranging the bucket."""
    return boto3.client(
        "s3",
        endpoint_url=aws_env,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
    )


@pytest.fixture(params=["botocore", "presigned"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both S3 transports (DAGSYNC_TRANSPORT); the shell must behave the same with either."""
    return str(request.param)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"dags-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def proxy(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsProxy]:
    """dagsync's S3 traffic goes through this proxy (AWS_ENDPOINT_URL points at it)."""
    p = AwsProxy(aws_env).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
    yield p
    p.stop()


@pytest.fixture
def fast_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings for quick tests: few retries, short timeouts, no metrics port clashes."""
    for k, v in {
        "DAGSYNC_MAX_ATTEMPTS": "3",
        "DAGSYNC_READ_TIMEOUT": "2",
        "DAGSYNC_CONNECT_TIMEOUT": "2",
        "DAGSYNC_FSYNC": "false",
        "DAGSYNC_METRICS_PORT": "0",
        "DAGSYNC_BACKOFF_BASE": "0.2",
        "DAGSYNC_BACKOFF_CAP": "1",
        "AWS_MAX_ATTEMPTS": "3",
    }.items():
        monkeypatch.setenv(k, v)
    for k in list(os.environ):
        if k.startswith("DAGSYNC_") and k not in (
            "DAGSYNC_MAX_ATTEMPTS",
            "DAGSYNC_READ_TIMEOUT",
            "DAGSYNC_CONNECT_TIMEOUT",
            "DAGSYNC_FSYNC",
            "DAGSYNC_METRICS_PORT",
            "DAGSYNC_BACKOFF_BASE",
            "DAGSYNC_BACKOFF_CAP",
        ):
            monkeypatch.delenv(k)
