"""``scaler decide`` (one measurement, one JSON decision) and ``scaler run`` (the loop). Every flag has a
``SCALER_*`` env var; flags win. See services/scaler/README.md."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from platform_common.log import configure_logging
from platform_common.redact import redact_text
from platform_common.settings import ConfigError

from .config import ScalerSettings, load

EXIT_OK, EXIT_MEASURE, EXIT_CONFIG = 0, 1, 2

# flag -> settings field (env var = SCALER_<FIELD>)
FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--redis-url": ("redis_url", {"help": "Celery broker URL (redis://, rediss://)"}),
    "--db-url": ("db_url", {"help": "Airflow metadata DB URL (postgresql://)"}),
    "--db-secret-arn": ("db_secret_arn", {"help": "Secrets Manager ARN holding the DB URL or RDS JSON"}),
    "--db-host": ("db_host", {"help": "DB host when the secret lacks it (RDS-managed master secrets)"}),
    "--db-port": ("db_port", {"type": int, "help": "DB port when the secret lacks it (5432)"}),
    "--db-name": ("db_name", {"help": "DB name when the secret lacks it (airflow)"}),
    "--queues": ("queues", {"help": "comma-separated Celery queues (default: default)"}),
    "--priority-steps": ("priority_steps", {"help": "kombu priority steps (default: 0,3,6,9)"}),
    "--redis-key-prefix": ("redis_key_prefix", {"help": "kombu global_keyprefix, if any"}),
    "--concurrency": ("worker_concurrency", {"type": int, "help": "tasks per worker (default: 16)"}),
    "--min": ("min_workers", {"type": int, "help": "min workers in active hours (default: 0)"}),
    "--max": ("max_workers", {"type": int, "help": "max workers (default: 10)"}),
    "--cooldown": (
        "cooldown",
        {"type": float, "help": "seconds a lower value must hold before scale-in (300)"},
    ),
    "--schedule": ("schedule", {"help": "active hours, e.g. 'Mon-Fri 07:00-19:00' (empty: always)"}),
    "--timezone": ("timezone", {"help": "IANA timezone of the schedule (default: UTC)"}),
    "--offhours-max": ("offhours_max", {"type": int, "help": "max workers off-hours (default: --max)"}),
    "--cw-namespace": ("cw_namespace", {"help": "CloudWatch namespace (default: Airflow/Scaler)"}),
    "--env": ("cw_env", {"help": "metric dimension env (default: dev)"}),
    "--service-name": ("cw_service", {"help": "metric dimension service (default: airflow-worker)"}),
    "--apply": ("apply", {"choices": ["none", "ecs"], "help": "none: metrics only; ecs: UpdateService"}),
    "--cluster": ("ecs_cluster", {"help": "ECS cluster of the worker service"}),
    "--service": ("ecs_service", {"help": "ECS worker service"}),
    "--protection-minutes": ("protection_minutes", {"type": int, "help": "task protection expiry (60)"}),
    "--unmatched-hosts": (
        "unmatched_hosts",
        {
            "choices": ["hold", "ignore"],
            "help": "busy hostnames matching no task: hold scale-in (default) or ignore",
        },
    ),
    "--metrics-port": ("metrics_port", {"type": int, "help": "/metrics and /decision port, 0 = off (9102)"}),
    "--metrics-host": ("metrics_host", {"help": "bind address (default: 0.0.0.0)"}),
    "--interval": ("interval", {"type": float, "help": "seconds between cycles (default: 15)"}),
    "--start-slo-seconds": (
        "start_slo_seconds",
        {"type": float, "help": "queued -> start above this is a late start (120; docs/slo.md)"},
    ),
    "--scaleup-slo-seconds": (
        "scaleup_slo_seconds",
        {"type": float, "help": "zero workers -> first task running above this is late (180)"},
    ),
    "--latency-window": (
        "latency_window",
        {"type": float, "help": "seconds of task starts behind the p50/p95 (300)"},
    ),
    "--log-level": ("log_level", {"help": "DEBUG, INFO, WARNING (default: INFO)"}),
}
BOOL_FLAGS = {"cloudwatch": "--cloudwatch", "protect": "--protect"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scaler", description="Queue-depth scaler for Airflow Celery workers on ECS"
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("decide", "measure once and print the decision as JSON"),
        ("run", "measure, decide, publish, apply in a loop"),
    ):
        sp = sub.add_parser(name, help=help_)
        for flag, (dest, kw) in FLAGS.items():
            sp.add_argument(flag, dest=dest, default=None, **kw)
        for dest, flag in BOOL_FLAGS.items():
            sp.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None)
        if name == "run":
            sp.add_argument("--max-cycles", type=int, default=None, help="stop after N cycles (tests)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    flags = {dest: getattr(args, dest, None) for dest, _ in FLAGS.values()}
    flags |= {dest: getattr(args, dest, None) for dest in BOOL_FLAGS}
    try:
        settings = load(flags)
    except ConfigError as exc:
        print(f"scaler: bad configuration: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "decide":  # stdout is the answer; only warnings (or debug when asked) on stderr
        configure_logging("scaler", "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING")
        return decide(settings)
    configure_logging("scaler", settings.log_level)
    return run(settings, args.max_cycles)


def decide(settings: ScalerSettings) -> int:
    from .runner import Scaler

    scaler = Scaler(settings.model_copy(update={"cloudwatch": False}))
    try:
        result = scaler.cycle(apply=False, publish=False, stateful=False)
    finally:
        scaler.close()
    doc = result.as_dict(scaler.last["decided_at"] if scaler.last else 0.0)
    print(json.dumps(doc, sort_keys=True))
    if not result.measured:
        print(
            f"scaler: could not measure: {doc.get('error', 'unknown error')}; check that SCALER_REDIS_URL and "
            "SCALER_DB_URL (or SCALER_DB_SECRET_ARN) point at reachable servers",
            file=sys.stderr,
        )
        return EXIT_MEASURE
    return EXIT_OK


def run(settings: ScalerSettings, max_cycles: int | None) -> int:
    from .runner import Scaler, serve

    scaler = Scaler(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server = (
            serve(scaler, settings.metrics_host, settings.metrics_port) if settings.metrics_port else None
        )
    except OSError as exc:
        scaler.close()
        print(
            f"scaler: cannot listen on {settings.metrics_host}:{settings.metrics_port} ({exc.strerror}); "
            "choose another SCALER_METRICS_PORT (0 = off)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        scaler.run(settings.interval, stop, max_cycles)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        scaler.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
