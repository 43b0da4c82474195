"""One way every service builds and exposes Prometheus metrics.

Each ``Metrics`` object owns a private registry (``new_registry``), so tests and several apps in one process never
share series. It is exposed either by the service's own HTTP server (``exposition``: scaler's /metrics next to
/decision, the health aggregator's FastAPI route) or by prometheus_client's server in a thread (``serve``: dagsync).
prometheus_client is imported on first use, not with this module (dagsync without metrics skips its ~10 MB RSS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - scraped over the VPC from the task's IP


def new_registry() -> CollectorRegistry:
    """A fresh registry for one ``Metrics`` object."""
    from prometheus_client import CollectorRegistry

    return CollectorRegistry(auto_describe=True)


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """``(body, content type)`` of a ``GET /metrics`` answer."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return bytes(generate_latest(registry)), CONTENT_TYPE_LATEST


def serve(registry: CollectorRegistry, port: int, addr: str = ANY_ADDRESS) -> None:
    """Serve ``registry`` on ``addr:port`` from a daemon thread. Raises OSError when the port is taken."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=registry)
