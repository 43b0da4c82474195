"""FastAPI app: /status (JSON), /health (own liveness), /metrics (Prometheus), / (HTML page).

With ``root_path`` (e.g. ``/platform``: behind the ALB, ``/`` is the Airflow UI) the page, /status, /metrics and the
OpenAPI/docs live under that prefix; /health and /status also stay at the root (target group check, ALB rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from platform_common.redact import redact

from . import page
from .config import Settings
from .metrics import Metrics
from .probes import Probes
from .publish import publish_loop
from .runner import Runner, StatusCache

log = logging.getLogger("healthcheck.app")

StatusValue = Literal["ok", "degraded", "down"]


class ComponentModel(BaseModel):
    status: StatusValue
    latency_ms: float = Field(description="wall time of the probe, ms")
    detail: str = Field(description="what the probe saw, secrets redacted")
    checked_at: str = Field(description="ISO 8601 UTC time the probe finished")


class SloModel(BaseModel):
    state: Literal["within_budget", "burning", "spent"] = Field(
        description="spent: budget over the SLO window used up; burning: a fast or slow burn-rate pair fires"
    )
    objective: float = Field(description="target fraction of good events, e.g. 0.99")
    budget_remaining: float = Field(
        description="1 - budget consumed over the SLO window (negative: overspent)"
    )
    burn_rates: dict[str, float] = Field(description="burn rate per window (5m, 30m, 1h, 6h, 28d)")
    burning: list[str] = Field(description="burn-rate pairs whose both windows exceed their factor")
    events: float = Field(description="events (requests, samples, starts) over the SLO window")
    runbook: str = Field(description="runbook path in the repository")


class StatusModel(BaseModel):
    status: StatusValue = Field(description="overall status by the aggregation rule (docs/adr/0007)")
    checked_at: str = Field(description="ISO 8601 UTC time of the probe round")
    components: dict[str, ComponentModel]
    slos: dict[str, SloModel] | None = Field(
        None, description="SLO state from CloudWatch (docs/slo.md); only with the slo probe on"
    )


class HealthModel(BaseModel):
    status: Literal["alive"]
    uptime_s: float


class State:
    """What the app keeps between requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rule = settings.rule()
        self.metrics = Metrics()
        self.cache: StatusCache | None = None
        self.started = time.monotonic()
        self._body_gen = -1
        self._body = b""

    def status_body(self) -> bytes:
        """The /status JSON, serialised once per probe round (the hot path of the benchmark)."""
        assert self.cache is not None and self.cache.last is not None
        if self._body_gen != self.cache.generation:
            doc = redact(self.cache.last.to_json())
            self._body = json.dumps(doc, separators=(",", ":")).encode()
            self._body_gen = self.cache.generation
        return self._body


class StatusFastPath:
    """ASGI middleware answering ``GET /status`` straight from the cached bytes.

    The hot path under load: it skips routing, dependency solving and response objects (1.4-3x the req/s of the
    plain route, bench/healthcheck/RESULTS.md). The FastAPI route below stays for the OpenAPI schema and behaves
    the same. Errors still reach Starlette's ServerErrorMiddleware, which wraps this one.
    """

    HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state
        self.paths = {"/status", f"{state.settings.root_path}/status"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        assert self.state.cache is not None
        await self.state.cache.get()
        body = self.state.status_body()
        headers = [*self.HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings) -> FastAPI:
    state = State(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Probes(settings) as probes:
            runner = Runner(probes.probes(), state.rule, state.metrics)
            state.cache = StatusCache(runner.run_once, settings.cache_ttl, settings.stale_grace)
            log.info(
                "probes: %s; rule: %s",
                ", ".join(p.name for p in runner.probes) or "none",
                state.rule.describe(),
            )
            publisher = None
            if settings.publish_enabled:
                publisher = asyncio.create_task(
                    publish_loop(
                        state.cache.get,
                        settings.publish_namespace,
                        settings.publish_interval,
                        settings.publish_env,
                    )
                )
            try:
                yield
            finally:
                if publisher is not None:
                    publisher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await publisher

    app = FastAPI(
        title="Airflow platform health aggregator",
        version="1.0.0",
        description="Probes every part of the Airflow platform and folds them into one status. "
        "Rule and caching: docs/adr/0007-health-aggregation.md.",
        lifespan=lifespan,
        openapi_url=f"{settings.root_path}/openapi.json",
        docs_url=f"{settings.root_path}/docs",
        redoc_url=f"{settings.root_path}/redoc",
    )
    app.state.hc = state
    app.add_middleware(StatusFastPath, state=state)
    router = APIRouter()

    @router.get(
        "/status",
        response_model=None,
        responses={
            200: {"model": StatusModel, "description": "The platform's state (HTTP 200 even when down)"}
        },
        summary="Aggregated platform status",
    )
    async def status() -> Response:
        assert state.cache is not None
        await state.cache.get()
        return Response(
            state.status_body(), media_type="application/json", headers={"cache-control": "no-store"}
        )

    @app.get("/health", response_model=HealthModel, summary="The aggregator's own liveness (ALB, ECS)")
    async def health() -> HealthModel:
        return HealthModel(status="alive", uptime_s=round(time.monotonic() - state.started, 1))

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
        summary="Prometheus metrics",
    )
    async def metrics() -> Response:
        assert state.cache is not None
        await state.cache.get()
        body, ctype = state.metrics.render()
        return Response(body, media_type=ctype)

    @router.get("/", response_class=HTMLResponse, summary="Status page for people")
    async def index() -> HTMLResponse:
        assert state.cache is not None
        snap = await state.cache.get()
        body = page.render(snap, state.rule, time.time(), settings.page_refresh)
        return HTMLResponse(body, headers={"cache-control": "no-store"})

    app.include_router(router, prefix=settings.root_path)
    if settings.root_path:
        # The ALB's /status rule forwards the root path (docs/adr/0006-secrets-and-sso.md).
        app.add_api_route("/status", status, methods=["GET"], include_in_schema=False)
    return app
