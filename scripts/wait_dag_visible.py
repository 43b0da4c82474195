#!/usr/bin/env python3
"""Wait until published DAGs are visible, failing after a deadline (dag-sync workflow's last step).

Two ways to look, both read-only:
  --airflow-url URL   Airflow 3 REST API: every id in --dag-ids answers GET /api/v2/dags/{id} with 200.
                      Auth: AIRFLOW_API_TOKEN (Bearer), or AIRFLOW_API_USER + AIRFLOW_API_PASSWORD (POST /auth/token).
  --status-url URL    the health aggregator's GET /status: every component named --component* (default
                      "dagsync") is "ok" and, with --expect TEXT, mentions TEXT (e.g. the published version).
                      This proves the sidecars synced, not that Airflow parsed the DAGs: prefer --airflow-url.

Exit 0: visible. Exit 1: not visible within --timeout seconds (default 60); the reason is printed.
Exit 2: bad usage or auth refused (retrying would not help). Standard library only: it runs on a bare runner.
See docs/adr/0010-ci-cd.md.

The publish -> visible SLI (docs/slo.md): with --metric-out PATH the outcome is written as CloudWatch MetricData
JSON (PublishToVisibleSeconds when visible, DagPublishes 1, DagPublishesLate 1 when not visible within
--slo-seconds; dimension Env = --metric-env), timed from --since (the publish's unix time) when given. The
dag-sync workflow sends it with `aws cloudwatch put-metric-data` from a job that holds AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Fatal(Exception):
    """An error retrying cannot fix (bad credentials, bad URL)."""


@dataclass
class Seen:
    """What the last poll saw (pure data; the decision below reads only this)."""

    visible: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    note: str = ""


def decide(seen: Seen, wanted: set[str]) -> bool:
    """Visible when every wanted DAG was seen (with no wanted ids: when the poll found what it looks for)."""
    return wanted <= seen.visible if wanted else not seen.missing and not seen.note


# ---------------------------------------------------------------- HTTP (thin shell)
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # surface 3xx as HTTPError: a login redirect must not look like an answer


_OPENER = urllib.request.build_opener(_NoRedirect)


def _request(
    url: str, *, token: str | None = None, body: dict[str, Any] | None = None, timeout: float = 5.0
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")  # noqa: S310
    req.add_header("Accept", "application/json")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    location = ""
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        raw, status, location = err.read(), err.code, str(err.headers.get("Location", "?"))
    if 300 <= status < 400:
        # An SSO front (ALB authenticate-oidc) answers API calls with a redirect to the login page.
        raise Fatal(
            f"{url} redirected (HTTP {status}) to {location}: SSO in front of the API? "
            "Point --airflow-url at a route that accepts bearer tokens"
        )
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")[:200]
    return status, payload


def airflow_token(base: str) -> str | None:
    token = os.environ.get("AIRFLOW_API_TOKEN")
    if token:
        return token
    user, password = os.environ.get("AIRFLOW_API_USER"), os.environ.get("AIRFLOW_API_PASSWORD")
    if not user or not password:
        return None
    status, payload = _request(f"{base}/auth/token", body={"username": user, "password": password})
    if status in (401, 403):
        raise Fatal(
            f"Airflow refused the login for {user!r} (HTTP {status}); check AIRFLOW_API_USER/PASSWORD"
        )
    if status >= 300 or not isinstance(payload, dict) or "access_token" not in payload:
        raise OSError(f"POST /auth/token answered HTTP {status}")
    return str(payload["access_token"])


def poll_airflow(base: str, wanted: set[str], token: str | None) -> Seen:
    seen = Seen()
    for dag_id in sorted(wanted):
        status, payload = _request(f"{base}/api/v2/dags/{urllib.parse.quote(dag_id, safe='')}", token=token)
        if status in (401, 403):
            raise Fatal(
                f"Airflow API answered HTTP {status} for /api/v2/dags; set AIRFLOW_API_TOKEN or "
                "AIRFLOW_API_USER/AIRFLOW_API_PASSWORD"
            )
        if status == 200 and isinstance(payload, dict) and payload.get("dag_id") == dag_id:
            seen.visible.add(dag_id)
        elif status == 404:
            seen.missing.add(dag_id)
        else:
            raise OSError(f"GET /api/v2/dags/{dag_id} answered HTTP {status}")
    if seen.missing:
        status, payload = _request(f"{base}/api/v2/importErrors?limit=20", token=token)
        if status == 200 and isinstance(payload, dict) and payload.get("import_errors"):
            files = sorted({str(e.get("filename")) for e in payload["import_errors"] if isinstance(e, dict)})
            seen.note = f"import errors in: {', '.join(files)}"
    return seen


def poll_status(url: str, component: str, expect: str | None) -> Seen:
    status, payload = _request(url)
    if status != 200 or not isinstance(payload, dict) or not isinstance(payload.get("components"), dict):
        raise OSError(f"GET {url} answered HTTP {status} without a components object")
    seen = Seen()
    syncs = {name: comp for name, comp in payload["components"].items() if name.startswith(component)}
    if not syncs:
        raise Fatal(
            f"{url} lists no {component!r} component (components: {', '.join(payload['components'])})"
        )
    for name, comp in syncs.items():
        ok = isinstance(comp, dict) and comp.get("status") == "ok"
        has_text = expect is None or expect in json.dumps(comp)
        (seen.visible if ok and has_text else seen.missing).add(name)
    if seen.missing and expect is not None:
        seen.note = f"waiting for {expect[:40]!r}"
    return seen


def wait(
    poll: Callable[[], Seen],
    wanted: set[str],
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    start = clock()
    last = "no answer yet"
    while True:
        elapsed = clock() - start
        try:
            seen = poll()
            if decide(seen, wanted):
                names = ", ".join(sorted(seen.visible))
                print(f"visible after {elapsed:.1f}s: {names}", file=sys.stderr)
                return True, names
            last = f"missing: {', '.join(sorted(seen.missing)) or '-'}" + (
                f"; {seen.note}" if seen.note else ""
            )
        except (
            OSError,
            ValueError,
        ) as err:  # connection refused, timeouts, 5xx: keep trying until the deadline
            last = f"{type(err).__name__}: {err}"
        print(f"waiting ({elapsed:.0f}s/{timeout:.0f}s): {last}", file=sys.stderr)
        if elapsed + interval > timeout:
            return False, last
        sleep(interval)


METRIC_NAMESPACE = "Airflow/DagSync"


def metric_data(seconds: float | None, slo_seconds: float, env: str) -> list[dict[str, Any]]:
    """One publish as MetricData: late when not visible (``seconds`` None) or slower than ``slo_seconds``."""
    dims = [{"Name": "Env", "Value": env}]
    late = seconds is None or seconds > slo_seconds
    data: list[dict[str, Any]] = [
        {"MetricName": "DagPublishes", "Dimensions": dims, "Value": 1.0, "Unit": "Count"},
        {
            "MetricName": "DagPublishesLate",
            "Dimensions": dims,
            "Value": 1.0 if late else 0.0,
            "Unit": "Count",
        },
    ]
    if seconds is not None:
        data.append(
            {
                "MetricName": "PublishToVisibleSeconds",
                "Dimensions": dims,
                "Value": round(max(0.0, seconds), 3),
                "Unit": "Seconds",
            }
        )
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Wait until published DAGs are visible (Airflow API or /status)."
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--airflow-url", help="Airflow base URL, e.g. https://airflow.internal.example")
    where.add_argument("--status-url", help="health aggregator /status URL")
    parser.add_argument(
        "--dag-ids", default="", help="comma-separated DAG ids that must be visible (Airflow mode)"
    )
    parser.add_argument("--component", default="dagsync", help="status mode: component name prefix (dagsync)")
    parser.add_argument("--expect", help="status mode: text the component must mention, e.g. a version")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before giving up (default 60)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    parser.add_argument("--since", type=float, help="unix time of the publish: the SLI is timed from it")
    parser.add_argument("--metric-out", help="write the publish -> visible SLI as MetricData JSON here")
    parser.add_argument("--metric-env", default="dev", help="Env dimension of the SLI metrics (default dev)")
    parser.add_argument(
        "--slo-seconds", type=float, default=60.0, help="visible later than this is a late publish (60)"
    )
    args = parser.parse_args(argv)

    url = (args.airflow_url or args.status_url or "").rstrip("/")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        print(
            f"error: {url!r} is not an http(s) URL; pass --airflow-url/--status-url https://...",
            file=sys.stderr,
        )
        return 2
    wanted = {d.strip() for d in args.dag_ids.split(",") if d.strip()}
    if args.airflow_url and not wanted:
        print(
            "error: --dag-ids is empty; pass the DAG ids to wait for (the DagBag step lists them)",
            file=sys.stderr,
        )
        return 2
    if args.timeout <= 0 or args.interval <= 0:
        print("error: --timeout and --interval must be positive seconds", file=sys.stderr)
        return 2

    started = time.time()
    since = args.since if args.since is not None else started
    if since > started + 5:
        print(f"error: --since {since:.0f} is in the future (now {started:.0f})", file=sys.stderr)
        return 2
    try:
        if args.airflow_url:
            token_box: list[str | None] = []

            def poll() -> Seen:
                if not token_box:
                    token_box.append(airflow_token(url))
                return poll_airflow(url, wanted, token_box[0])

            ok, detail = wait(poll, wanted, args.timeout, args.interval)
        else:
            ok, detail = wait(
                lambda: poll_status(url, args.component, args.expect), set(), args.timeout, args.interval
            )
    except Fatal as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.metric_out:
        seconds = time.time() - since if ok else None
        with open(args.metric_out, "w", encoding="utf-8") as out:
            json.dump(metric_data(seconds, args.slo_seconds, args.metric_env), out)
        shown = "not visible" if seconds is None else f"{seconds:.1f}s"
        print(f"publish -> visible: {shown} (SLI written to {args.metric_out})", file=sys.stderr)
    if not ok:
        print(
            f"not visible within {args.timeout:.0f}s ({detail}); see docs/runbooks/dag-not-appearing.md",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
