"""The I/O shell: one async probe per platform part. Each returns component results built by ``assess``.

Timeouts, errors and concurrency are handled by ``runner``; probes just do their one read and let exceptions out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from platform_common import broker
from platform_common.aws import AwsApis, aio_client, client_config
from platform_common.redact import redact_text
from platform_common.secrets import db_url_from_secret, libpq_url

from . import assess, slo
from .config import Settings
from .model import ComponentResult

# Every AWS call of this module (docs/adr/0003-nat-free-vpc-endpoints.md needs an endpoint for each).
AWS_APIS: AwsApis = {
    "ecs": frozenset({"DescribeServices"}),
    "cloudwatch": frozenset({"DescribeAlarms", "GetMetricData"}),
}


@dataclass(frozen=True)
class Probe:
    """``name`` is the config key; ``components`` are marked down when ``run`` fails or times out."""

    name: str
    target: str  # shown in error details; already redacted
    timeout: float
    components: tuple[str, ...]
    run: Callable[[], Awaitable[list[ComponentResult]]]


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def read_sidecar_files(state_dirs: list[str]) -> list[tuple[str, Any]]:
    """(path, parsed JSON or the exception) for every ``<state>/sidecars/*.json``. Blocking: run in a thread."""
    out: list[tuple[str, Any]] = []
    for state in state_dirs:
        for path in sorted(Path(state, "sidecars").glob("*.json")):
            if path.name.startswith("."):  # dagsync's temp files before the atomic rename
                continue
            try:
                out.append((str(path), json.loads(path.read_bytes())))
            except FileNotFoundError:  # removed between listing and reading
                continue
            except (OSError, ValueError) as exc:
                out.append((str(path), exc))
    return out


class Probes(contextlib.AsyncExitStack):
    """Owns the long-lived clients; ``probes()`` lists the enabled probes. ``async with Probes(s) as p: ...``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.s = settings
        self._http: httpx.AsyncClient | None = None
        self._redis: aioredis.Redis | None = None
        self._ecs: Any = None
        self._cw: Any = None
        # Own small pool: a hung shared filesystem (EFS) blocks these threads, not the event loop.
        self._files = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dagsync-probe")
        self._pg_url: str | None = None  # from HEALTHCHECK_POSTGRES_SECRET_ARN
        self._slo_spec = slo.parse_spec(settings.slo_spec) if settings.slo_enabled else None
        self._slo_last: tuple[float, list[ComponentResult]] | None = None  # (monotonic time, result)

    async def __aenter__(self) -> Probes:
        await super().__aenter__()
        try:
            await self._open()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _open(self) -> None:
        s = self.s
        self.callback(self._files.shutdown, wait=False, cancel_futures=True)
        if s.airflow_enabled or s.scaler_enabled:
            self._http = await self.enter_async_context(
                httpx.AsyncClient(follow_redirects=False, headers={"user-agent": "healthcheck"})
            )
        if s.redis_enabled:
            t = s.redis_timeout
            self._redis = aioredis.Redis.from_url(
                s.redis_url.get_secret_value(),
                socket_timeout=t,
                socket_connect_timeout=t,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
                client_name="healthcheck",
            )
            self.push_async_callback(self._redis.aclose)
        if s.ecs_enabled:
            cfg = client_config(max_attempts=2, connect_timeout=s.ecs_timeout, read_timeout=s.ecs_timeout)
            self._ecs = await self.enter_async_context(aio_client("ecs", cfg))
        if s.alarms_enabled or s.slo_enabled:
            wait = max(s.alarms_timeout if s.alarms_enabled else 0, s.slo_timeout if s.slo_enabled else 0)
            cfg = client_config(max_attempts=2, connect_timeout=wait, read_timeout=wait)
            self._cw = await self.enter_async_context(aio_client("cloudwatch", cfg))

    def probes(self) -> list[Probe]:
        s = self.s
        out: list[Probe] = []
        if s.airflow_enabled:
            names = ("airflow_api", *(f"airflow_{p}" for p in s.airflow_parts))
            out.append(
                Probe(
                    "airflow",
                    f"api-server {redact_text(s.airflow_url)}",
                    s.airflow_timeout,
                    names,
                    self.airflow,
                )
            )
        if s.redis_enabled:
            out.append(
                Probe(
                    "redis",
                    f"redis {redact_text(s.redis_url.get_secret_value())}",
                    s.redis_timeout,
                    ("redis",),
                    self.redis,
                )
            )
        if s.postgres_enabled:
            target = (
                f"postgres via secret {redact_text(s.postgres_secret_arn)}"
                if s.postgres_secret_arn
                else f"postgres {redact_text(s.postgres_url.get_secret_value())}"
            )
            out.append(Probe("postgres", target, s.postgres_timeout, ("postgres",), self.postgres))
        if s.dagsync_enabled:
            target = f"dagsync state {', '.join(s.dagsync_state_dirs)}"
            out.append(Probe("dagsync", target, s.dagsync_timeout, ("dagsync",), self.dagsync))
        if s.scaler_enabled:
            out.append(
                Probe(
                    "scaler",
                    f"scaler {redact_text(s.scaler_url)}",
                    s.scaler_timeout,
                    ("scaler",),
                    self.scaler,
                )
            )
        if s.ecs_enabled:
            out.append(Probe("ecs", f"ECS cluster {s.ecs_cluster}", s.ecs_timeout, ("ecs",), self.ecs))
        if s.alarms_enabled:
            target = f"CloudWatch alarms {s.alarms_prefix}*"
            out.append(Probe("alarms", target, s.alarms_timeout, ("cloudwatch_alarms",), self.alarms))
        if s.slo_enabled:
            out.append(Probe("slo", "CloudWatch GetMetricData (SLOs)", s.slo_timeout, ("slo",), self.slo))
        return out

    async def _get_json(self, url: str, wait_s: float) -> tuple[int, Any]:
        assert self._http is not None
        resp = await self._http.get(url, timeout=wait_s)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, None

    async def airflow(self) -> list[ComponentResult]:
        t0 = time.perf_counter()
        code, doc = await self._get_json(
            f"{self.s.airflow_url}/api/v2/monitor/health", self.s.airflow_timeout
        )
        return assess.airflow_health(
            doc, self.s.airflow_parts, now=time.time(), latency_ms=_ms(t0), http_status=code
        )

    async def redis(self) -> list[ComponentResult]:
        assert self._redis is not None
        prefix = self.s.redis_key_prefix
        keys = broker.queue_keys(self.s.redis_queues, broker.ALL_PRIORITIES, prefix)
        t0 = time.perf_counter()
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip, whatever the depth
            pipe.ping()
            for key in keys:
                pipe.llen(key)
            pipe.hlen(broker.unacked_key(prefix))
            res = await pipe.execute()
        lengths = dict(zip(keys, (int(v) for v in res[1:-1]), strict=True))
        return [
            assess.redis_broker(
                lengths,
                self.s.redis_queues,
                int(res[-1]),
                now=time.time(),
                latency_ms=_ms(t0),
                degraded_at=self.s.redis_backlog_degraded,
                prefix=prefix,
            )
        ]

    async def _postgres_conninfo(self) -> str:
        """The static URL, or the one built from the secret (cached; dropped after a failed connect)."""
        arn = self.s.postgres_secret_arn
        if not arn:
            return self.s.postgres_conninfo()
        if self._pg_url is None:
            loop = asyncio.get_running_loop()
            self._pg_url = await loop.run_in_executor(
                self._files,
                lambda: db_url_from_secret(
                    arn,
                    self.s.postgres_host,
                    self.s.postgres_port,
                    self.s.postgres_name,
                    host_setting="HEALTHCHECK_POSTGRES_HOST",
                ),
            )
        return libpq_url(self._pg_url)

    async def postgres(self) -> list[ComponentResult]:
        t0 = time.perf_counter()
        conninfo = await self._postgres_conninfo()
        try:
            conn = await psycopg.AsyncConnection.connect(
                conninfo,
                connect_timeout=max(2, math.ceil(self.s.postgres_timeout)),
                autocommit=True,
                application_name="healthcheck",
            )
        except Exception:
            self._pg_url = None  # RDS rotates managed passwords: read the secret again next round
            raise
        connect_ms = _ms(t0)
        async with conn:
            t1 = time.perf_counter()
            cur = await conn.execute("SELECT 1")
            row = await cur.fetchone()
            query_ms = _ms(t1)
        return [
            assess.postgres(
                row[0] if row else None,
                query_ms=query_ms,
                connect_ms=connect_ms,
                now=time.time(),
                slow_ms=self.s.postgres_slow_ms,
            )
        ]

    async def dagsync(self) -> list[ComponentResult]:
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        files = await loop.run_in_executor(self._files, read_sidecar_files, self.s.dagsync_state_dirs)
        return [
            assess.dagsync(
                files,
                now=time.time(),
                max_age=self.s.dagsync_max_age,
                forget_after=self.s.dagsync_forget_after,
                latency_ms=_ms(t0),
                where=", ".join(self.s.dagsync_state_dirs),
            )
        ]

    async def scaler(self) -> list[ComponentResult]:
        t0 = time.perf_counter()
        code, doc = await self._get_json(f"{self.s.scaler_url}/decision", self.s.scaler_timeout)
        return [
            assess.scaler(
                doc, now=time.time(), max_age=self.s.scaler_max_age, latency_ms=_ms(t0), http_status=code
            )
        ]

    async def ecs(self) -> list[ComponentResult]:
        t0 = time.perf_counter()
        wanted = self.s.ecs_services
        services: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for i in range(0, len(wanted), 10):  # DescribeServices takes at most 10 per call
            resp = await self._ecs.describe_services(cluster=self.s.ecs_cluster, services=wanted[i : i + 10])
            services += resp.get("services", [])
            failures += resp.get("failures", [])
        return [
            assess.ecs(
                services,
                failures,
                wanted,
                now=time.time(),
                latency_ms=_ms(t0),
                worker_service=self.s.ecs_worker_service or None,
            )
        ]

    async def alarms(self) -> list[ComponentResult]:
        t0 = time.perf_counter()
        names: list[str] = []
        paginator = self._cw.get_paginator("describe_alarms")
        async for page in paginator.paginate(
            AlarmNamePrefix=self.s.alarms_prefix,
            StateValue="ALARM",
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        ):
            # Filtered again here: moto applies only one of AlarmNamePrefix/StateValue.
            for alarm in (*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])):
                if alarm.get("StateValue") == "ALARM" and alarm["AlarmName"].startswith(self.s.alarms_prefix):
                    names.append(alarm["AlarmName"])
        return [assess.alarms(names, self.s.alarms_prefix, now=time.time(), latency_ms=_ms(t0))]

    async def slo(self) -> list[ComponentResult]:
        """One GetMetricData per window (Sum of every SLO metric over it), at most every ``slo_refresh`` s."""
        spec = self._slo_spec
        assert spec is not None and self._cw is not None
        if self._slo_last is not None and time.monotonic() - self._slo_last[0] < self.s.slo_refresh:
            return self._slo_last[1]
        t0 = time.perf_counter()
        refs = spec.refs()
        ids = {f"m{i}": r for i, r in enumerate(refs)}
        end = time.time()
        sums: dict[int, dict[str, float]] = {}
        for window in spec.windows():
            got: dict[str, float] = {}
            queries = [
                {
                    "Id": qid,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": r.namespace,
                            "MetricName": r.metric,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in r.dimensions],
                        },
                        "Period": window,
                        "Stat": "Sum",
                    },
                }
                for qid, r in ids.items()
            ]
            for i in range(0, len(queries), 500):  # GetMetricData takes at most 500 queries
                paginator = self._cw.get_paginator("get_metric_data")
                async for page in paginator.paginate(
                    MetricDataQueries=queries[i : i + 500], StartTime=end - window, EndTime=end
                ):
                    for res in page.get("MetricDataResults", []):
                        key = ids[res["Id"]].key()
                        got[key] = got.get(key, 0.0) + sum(float(v) for v in res.get("Values", []))
            sums[window] = got
        states = [slo.evaluate(x, sums, spec.window) for x in spec.slos]
        result = [slo.component(states, now=time.time(), latency_ms=_ms(t0))]
        self._slo_last = (time.monotonic(), result)
        return result
