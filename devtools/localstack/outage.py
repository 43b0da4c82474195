"""Data-store outages on the local stack, for failover drills (tests/e2e/test_resilience.py, docs/runbooks/).

Local tooling, not product code. ``outage(cfg, "postgres", 30)`` stops the local RDS stand-in, keeps it down, and
starts it again with the same data, as a Multi-AZ failover or a reboot looks to clients: open connections drop,
new ones are refused until it is back. ``"redis"`` does the same to the ElastiCache stand-in (no persistence, as
ElastiCache without a replica: queued messages are lost; the AUTH token is set again from the emulator's secret).
Also ``rotate_db_password``: what an RDS rotation does (the DB password and the secret's AWSCURRENT change), and
``terminate_db_sessions``, so that every client must log in again.

    python -m devtools.localstack.outage --state-dir .local postgres --seconds 30
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from devtools.localstack import stack, tls
from devtools.localstack.config import StackConfig
from devtools.localstack.datastores import DataStores
from devtools.localstack.procs import Supervisor

STORES = ("postgres", "redis")
# Postgres: "fast" shutdown (clients disconnected, clean checkpoint), like a failover's; Redis: SIGTERM.
STOP_SIGNAL = {"postgres": signal.SIGINT, "redis": signal.SIGTERM}


def _check(store: str) -> None:
    if store not in STORES:
        raise ValueError(f"unknown data store {store!r}: one of {', '.join(STORES)}")


def stop(cfg: StackConfig, store: str) -> float:
    """Stop the stand-in; returns when its process is gone (monotonic time)."""
    _check(store)
    sup = Supervisor(cfg.state_dir)
    if sup.running(store) is None:
        raise stack.StackError(
            f"{store} is not running in {cfg.state_dir}: start the stack first (make local)"
        )
    if not sup.stop(store, STOP_SIGNAL[store], timeout=60):
        raise stack.StackError(f"{store} did not stop within 60s: see {sup.log_file(store)}")
    return time.monotonic()


def start(cfg: StackConfig, store: str) -> float:
    """Start the stand-in again with the stack's own settings (devtools/localstack/stack.py); returns when it
    accepts clients again (monotonic time)."""
    _check(store)
    sup = Supervisor(cfg.state_dir)
    certs = tls.ensure(cfg.tls_dir)
    if store == "postgres":
        stack.start_postgres(cfg, sup, certs)
    else:
        stack.start_redis(cfg, sup, certs)
        DataStores(
            cfg
        ).sync_redis()  # a fresh Redis has no requirepass: set the AUTH token from the secret now
    return time.monotonic()


@contextmanager
def down(cfg: StackConfig, store: str) -> Iterator[dict[str, float]]:
    """``with down(cfg, "redis") as t:`` the store is down inside the block and up again after it (also when the
    block raises); ``t`` gets ``stopped`` and ``started`` (monotonic seconds)."""
    times: dict[str, float] = {"stopped": stop(cfg, store)}
    try:
        yield times
    finally:
        times["started"] = start(cfg, store)


def outage(cfg: StackConfig, store: str, seconds: float) -> dict[str, float]:
    with down(cfg, store) as times:
        time.sleep(seconds)
    return times


# --- rotation ----------------------------------------------------------------------------------------------------
def _superuser(cfg: StackConfig) -> Any:
    import psycopg

    return psycopg.connect(
        f"host={cfg.pg_socket_dir} port={cfg.ports['postgres']} user=postgres dbname=postgres",
        autocommit=True,
    )


def db_secret(cfg: StackConfig) -> tuple[str, dict[str, Any]]:
    """The RDS instance's managed master secret: (ARN, its JSON)."""
    rds, sm = stack.boto(cfg, "rds"), stack.boto(cfg, "secretsmanager")
    dbs = [
        d
        for d in rds.describe_db_instances()["DBInstances"]
        if d["DBInstanceIdentifier"].startswith(cfg.name_prefix)
    ]
    if not dbs or not dbs[0].get("MasterUserSecret"):
        raise stack.StackError(
            f"no RDS instance with a managed secret for {cfg.name_prefix}: run make local first"
        )
    arn = dbs[0]["MasterUserSecret"]["SecretArn"]
    return arn, json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])


def rotate_db_password(cfg: StackConfig, timeout: float = 30.0) -> str:
    """What RDS does when it rotates the managed master secret: a new AWSCURRENT, and the DB role's password follows
    (here the data-store sync applies it, devtools/localstack/datastores.py). Returns when the new password logs in.
    Returns the secret's ARN; the password itself is never returned or printed."""
    import psycopg

    arn, doc = db_secret(cfg)
    doc["password"] = secrets.token_urlsafe(24)
    stack.boto(cfg, "secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps(doc))
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(
                host="127.0.0.1", port=cfg.ports["postgres"], user=doc["username"], password=doc["password"],
                dbname="postgres", sslmode="require", connect_timeout=3,
            ).close()  # fmt: skip
            return arn
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise stack.StackError(
                    f"the DB role did not take the rotated password within {timeout:.0f}s: is the datastores "
                    f"process running? see {Supervisor(cfg.state_dir).log_file('datastores')}"
                ) from None
            time.sleep(0.5)


def terminate_db_sessions(cfg: StackConfig, user: str) -> int:
    """End every session of ``user`` (pg_terminate_backend), so each client must authenticate again."""
    with _superuser(cfg) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
            (user,),
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


def sessions(cfg: StackConfig, user: str) -> list[dict[str, Any]]:
    """The DB sessions of ``user``: application name, state, when they logged in (for the drill's report)."""
    with _superuser(cfg) as conn:
        rows = conn.execute(
            "SELECT application_name, state, extract(epoch FROM backend_start) FROM pg_stat_activity WHERE usename = %s",
            (user,),
        ).fetchall()
    return [{"application": a, "state": s, "since": float(t)} for a, s, t in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.localstack.outage", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("store", choices=STORES)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the store stays down")
    args = parser.parse_args(argv)
    try:
        from pathlib import Path

        cfg = StackConfig.load(Path(args.state_dir).resolve())
    except (OSError, ValueError) as exc:
        print(
            f"outage: cannot read {args.state_dir}/stack.json ({exc}): start the stack first", file=sys.stderr
        )
        return 2
    try:
        t = outage(cfg, args.store, args.seconds)
    except stack.StackError as exc:
        print(f"outage: {exc}", file=sys.stderr)
        return 1
    print(f"{args.store}: down {t['started'] - t['stopped']:.1f}s, accepting clients again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
