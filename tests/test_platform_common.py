"""The shared library: settings precedence, JSON logs with redaction, backoff bounds, AWS config."""

from __future__ import annotations

import io
import json
import logging
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_common.aws import client_config, sync_client
from platform_common.backoff import Backoff
from platform_common.log import configure_logging
from platform_common.redact import redact, redact_text
from platform_common.settings import ConfigError, load_settings


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")
    interval: float = 30.0
    source: str = "s3://b/p/"


def test_flag_beats_env_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(DemoSettings).interval == 30.0
    monkeypatch.setenv("DEMO_INTERVAL", "5")
    assert load_settings(DemoSettings, {"interval": None}).interval == 5.0
    assert load_settings(DemoSettings, {"interval": 7}).interval == 7.0


def test_bad_value_is_one_line_naming_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_INTERVAL", "soon")
    with pytest.raises(ConfigError) as err:
        load_settings(DemoSettings)
    assert "\n" not in str(err.value)
    assert "DEMO_INTERVAL" in str(err.value)


def test_json_log_line_redacts_secrets() -> None:
    buf = io.StringIO()
    log = configure_logging("demo", stream=buf)
    log.info(
        "connecting to redis://:hunter2@cache:6379/0", extra={"db_password": "s3cret", "queue": "default"}
    )
    line = json.loads(buf.getvalue().strip())
    assert line["service"] == "demo" and line["level"] == "info" and line["queue"] == "default"
    assert "hunter2" not in buf.getvalue() and "s3cret" not in buf.getvalue()
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://airflow:pa55@db:5432/airflow", "pa55"),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow/db-AbCdEf", "airflow/db-AbCdEf"),
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi.abc.def"),
        ('{"token": "abc123"}', "abc123"),
    ],
)
def test_redact_text(text: str, secret: str) -> None:
    assert secret not in redact_text(text)


def test_redact_nested_keys() -> None:
    out = redact({"a": {"password": "x", "list": ["redis://u:p@h/0"]}, "n": 3})
    assert out == {"a": {"password": "***", "list": ["redis://u:***@h/0"]}, "n": 3}


@given(
    st.integers(min_value=1, max_value=200), st.floats(min_value=0.01, max_value=10), st.integers(0, 2**32)
)
def test_backoff_full_jitter_within_cap(failures: int, base: float, seed: int) -> None:
    b = Backoff(base=base, cap=base * 50, rng=random.Random(seed))
    delays = [b.delay() for _ in range(failures)]
    assert all(0 <= d <= base * 50 for d in delays)
    assert b.ceiling() == min(base * 50, base * 2 ** (failures - 1))
    b.reset()
    assert b.failures == 0 and b.ceiling() == base


def test_backoff_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


def test_client_config_uses_botocore_retry_modes() -> None:
    cfg = client_config(retry_mode="adaptive", max_attempts=3)
    assert cfg.retries == {"mode": "adaptive", "max_attempts": 3}


def test_sync_client_honours_aws_endpoint_url(aws_env: str) -> None:
    s3 = sync_client("s3")
    assert s3.meta.endpoint_url == aws_env
    s3.create_bucket(Bucket="factory-check")
    assert "factory-check" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_prometheus_helper_gives_private_registries_rendered_and_served() -> None:
    import urllib.request

    from prometheus_client import Counter

    from devtools.servers import free_port
    from platform_common.prometheus import exposition, new_registry, serve

    a, b = new_registry(), new_registry()
    Counter("svc_things", "things", registry=a).inc(3)
    Counter("svc_things", "things", registry=b)  # same name, other registry: no clash
    body, ctype = exposition(a)
    assert b"svc_things_total 3.0" in body and ctype.startswith("text/plain")
    assert b"svc_things_total 0.0" in exposition(b)[0]
    port = free_port()
    serve(a, port, "127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert b"svc_things_total 3.0" in resp.read()


def test_sidecar_status_round_trips_and_rejects_what_readers_cannot_use() -> None:
    from platform_common.sidecar_status import SidecarStatus

    st = SidecarStatus("s1", "s3://b/dags/", "/dags", 10.0, 12.0, "v1", "c1", None, 0, "synced")
    doc = st.to_json()
    assert list(doc) == [
        "sidecar_id", "source", "dest", "last_success", "last_attempt", "version", "commit", "last_error",
        "consecutive_failures", "outcome",
    ]  # fmt: skip
    assert SidecarStatus.from_json(doc) == st
    old = {
        "sidecar_id": "s2",
        "commit": "c9",
        "last_success": 5,
        "new_key": "ignored",
    }  # other writer versions
    assert SidecarStatus.from_json(old).shown_version == "c9"
    for bad, why in (
        ([1], "not a JSON object"),
        ({"sidecar_id": ""}, "sidecar_id missing"),
        ({"sidecar_id": "x", "last_success": "yesterday"}, "last_success is not a number"),
        ({"sidecar_id": "x", "last_attempt": float("nan")}, "last_attempt is not a number"),
        ({"sidecar_id": "x", "consecutive_failures": True}, "consecutive_failures is not an integer"),
    ):
        with pytest.raises(ValueError, match=why):
            SidecarStatus.from_json(bad)


# --- aio_session(endpoint_services=...): botocore's endpoint data for those services only ------------------------
ENDPOINT_CASES = [
    (region, fips, dualstack, style)
    for region in (
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        "cn-north-1",
        "us-gov-west-1",
        "eu-isoe-west-1",
    )
    for fips in (False, True)
    for dualstack in (False, True)
    for style in ("virtual", "path")
    if not (fips and region.startswith(("cn-", "eu-isoe")))  # no FIPS endpoints there
]


def _endpoints(session: object, service: str, region: str, fips: bool, dualstack: bool, style: str) -> object:
    import asyncio

    from botocore.config import Config

    async def resolve() -> object:
        cfg = Config(
            region_name=region,
            use_fips_endpoint=fips,
            use_dualstack_endpoint=dualstack,
            s3={"addressing_style": style},
        )
        async with session.create_client(  # type: ignore[attr-defined]
            service, config=cfg, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
        ) as client:
            if service == "s3":
                url = await client.generate_presigned_url(
                    "get_object", Params={"Bucket": "acme-airflow-dags", "Key": "dev/a b.py"}, ExpiresIn=60
                )
                from urllib.parse import parse_qs, urlsplit

                parts = urlsplit(url)
                query = parse_qs(parts.query)
                base = f"{parts.scheme}://{parts.netloc}{parts.path}"
                credential = query.get("X-Amz-Credential", [""])[0].split("/")  # akid/date/region/service/...
                scope = [sorted(query), credential[2:4]]
            else:
                base, scope = client.meta.endpoint_url, [client.meta.region_name]
            return base, scope, client.meta.region_name

    try:
        return asyncio.run(resolve())
    except Exception as exc:  # a variant a partition does not offer: both must refuse it alike
        return type(exc).__name__


@pytest.mark.parametrize(("region", "fips", "dualstack", "style"), ENDPOINT_CASES)
def test_trimmed_endpoint_data_resolves_s3_and_sts_as_botocore_does(
    region: str, fips: bool, dualstack: bool, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_common.aws import aio_session

    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    for service in ("s3", "sts"):
        full = _endpoints(aio_session(), service, region, fips, dualstack, style)
        trimmed = _endpoints(aio_session(frozenset({"s3", "sts"})), service, region, fips, dualstack, style)
        assert trimmed == full, (service, region, fips, dualstack, style)
        if not (fips or dualstack):
            assert isinstance(full, tuple), full  # every partition has the plain endpoint


def test_trimmed_endpoint_data_keeps_only_the_named_services(monkeypatch: pytest.MonkeyPatch) -> None:
    from platform_common.aws import aio_session

    full = aio_session()._get_internal_component("endpoint_resolver")  # type: ignore[attr-defined]
    session = aio_session(frozenset({"s3"}))
    trimmed = session._get_internal_component("endpoint_resolver")  # type: ignore[attr-defined]
    assert trimmed.get_available_endpoints("s3") == full.get_available_endpoints("s3")
    assert full.get_available_endpoints("ecs") and not trimmed.get_available_endpoints("ecs")
    assert session.get_component("data_loader")._cache == {}  # the full file is not kept by the loader
