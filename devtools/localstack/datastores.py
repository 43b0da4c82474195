"""The local RDS and ElastiCache: make the local Postgres and Redis serve what the emulator says exists.

Local tooling, not product code. Every few seconds it reads the emulator's control plane, like the AWS services
apply their own settings:

- each RDS instance: its RDS-managed master secret (``MasterUserSecret``) becomes a login role with that password
  and the instance's database, owned by it, in the local Postgres (SSL required, as ``rds.force_ssl``). When the
  secret changes (rotation), the role's password follows, as RDS does when it rotates the secret.
- each ElastiCache replication group: the AUTH token from the env's ``<name_prefix>-redis-auth`` secret
  (infra/modules/security) becomes the local Redis ``requirepass`` (TLS only).

It writes the endpoints it found to ``<state>/datastores.json`` (the stack maps those AWS host names to the local
servers for the Fargate runner). See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from devtools.localstack.config import StackConfig

log = logging.getLogger("datastores")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]  # compare secrets without keeping them around


class DataStores:
    def __init__(self, cfg: StackConfig) -> None:
        import boto3

        kw = {
            "endpoint_url": cfg.aws_url,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.cfg = cfg
        self.rds = boto3.client("rds", **kw)
        self.elasticache = boto3.client("elasticache", **kw)
        self.sm = boto3.client("secretsmanager", **kw)
        self.applied: dict[str, str] = {}
        self.redis_password: str | None = None
        self.out = cfg.state_dir / "datastores.json"

    # --- RDS -------------------------------------------------------------------------------------------------
    def sync_rds(self) -> dict[str, Any] | None:
        dbs = self.rds.describe_db_instances().get("DBInstances", [])
        db = next(
            (d for d in dbs if d.get("DBInstanceIdentifier", "").startswith(self.cfg.name_prefix)), None
        )
        if not db or not db.get("Endpoint") or not db.get("MasterUserSecret"):
            return None
        secret = json.loads(
            self.sm.get_secret_value(SecretId=db["MasterUserSecret"]["SecretArn"])["SecretString"]
        )
        user, password, name = secret["username"], secret["password"], db.get("DBName") or "postgres"
        key = f"rds:{user}:{name}"
        if self.applied.get(key) != _digest(password):
            self._apply_role(user, password, name)
            self.applied[key] = _digest(password)
            log.info("postgres: role %s and database %s match the RDS master secret", user, name)
        return {"address": db["Endpoint"]["Address"], "port": int(db["Endpoint"]["Port"]), "db": name}

    def _apply_role(self, user: str, password: str, dbname: str) -> None:
        import psycopg
        from psycopg import sql

        conninfo = (
            f"host={self.cfg.pg_socket_dir} port={self.cfg.ports['postgres']} user=postgres dbname=postgres"
        )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL("{} ROLE {} WITH LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(user), sql.Literal(password)
                )
            )
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(user)
                    )
                )
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), sql.Identifier(user))
            )

    # --- ElastiCache -----------------------------------------------------------------------------------------
    def sync_redis(self) -> dict[str, Any] | None:
        groups = self.elasticache.describe_replication_groups().get("ReplicationGroups", [])
        group = next(
            (g for g in groups if g.get("ReplicationGroupId", "").startswith(self.cfg.name_prefix)), None
        )
        if not group:
            return None
        nodes = group.get("NodeGroups") or [{}]
        primary = nodes[0].get("PrimaryEndpoint") or {}
        if not primary.get("Address"):
            return None
        try:
            token = self.sm.get_secret_value(SecretId=f"{self.cfg.name_prefix}-redis-auth")["SecretString"]
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        if self.applied.get("redis") != _digest(token):
            self._apply_requirepass(token)
            self.applied["redis"] = _digest(token)
            log.info("redis: requirepass matches the ElastiCache AUTH token secret")
        return {"address": primary["Address"], "port": int(primary.get("Port", 6379))}

    def _apply_requirepass(self, token: str) -> None:
        import redis

        for current in (self.redis_password, token, None):
            client = redis.Redis(
                host="127.0.0.1",
                port=self.cfg.ports["redis"],
                password=current,
                ssl=True,
                ssl_ca_certs=str(self.cfg.tls_dir / "ca.crt"),
                socket_timeout=5,
            )
            try:
                client.config_set("requirepass", token)
                self.redis_password = token
                return
            except redis.AuthenticationError:
                continue
            finally:
                client.close()
        raise RuntimeError("cannot authenticate to the local Redis with any known password")

    def cycle(self) -> dict[str, Any]:
        found = {"rds": self.sync_rds(), "redis": self.sync_redis(), "t": time.time()}
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(found))
        tmp.replace(self.out)
        return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.localstack.datastores")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = StackConfig.load(args.state_dir.resolve())
    except (OSError, ValueError) as exc:
        print(
            f"datastores: cannot read {args.state_dir}/stack.json ({exc}); start it with the stack",
            file=sys.stderr,
        )
        return 2
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stores = DataStores(cfg)
    while running:
        try:
            stores.cycle()
        except Exception as exc:  # the emulator or a server restarting: keep the last settings, retry
            log.warning("cycle failed (retrying): %s: %s", type(exc).__name__, exc)
        deadline = time.monotonic() + args.interval
        while running and time.monotonic() < deadline:
            time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
