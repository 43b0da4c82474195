"""Cost of one scaler measurement cycle at 10, 1k and 100k queued messages.

Real parts: its own Redis (messages are real Celery messages: one sent by a Celery producer, then copied with RPUSH
to reach the depth quickly, spread over kombu's priority lists, plus unacked entries) and its own PostgreSQL with
the real Airflow 3.1.8 schema (`airflow db migrate`) holding as many queued task_instance rows.

Per cycle it reports: Redis round trips (counted on the connection: one `send_packed_command` per round trip),
Redis commands executed (INFO commandstats delta), SQL queries issued, and wall time (median of N cycles) for
Redis + DB + decide. Usage: `make bench-scaler` or `.venv/bin/python bench/scaler/bench_cycle.py [--cycles 20]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import redis  # noqa: E402
from celery import Celery  # noqa: E402
from redis.connection import Connection  # noqa: E402

from devtools.airflow import airflow_env, db_migrate  # noqa: E402
from devtools.servers import start_postgres, start_redis  # noqa: E402
from platform_common.broker import PRIORITY_SEP as KOMBU_SEP  # noqa: E402
from scaler.decider import Config, Measurement, State, decide  # noqa: E402
from scaler.measure import RedisDepth, TaskInstanceCounts  # noqa: E402

STEPS = [0, 3, 6, 9]


class CountingConnection(Connection):
    round_trips = 0

    def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
        CountingConnection.round_trips += 1
        return super().send_packed_command(command, check_health)


def fill_redis(url: str, queue: str, depth: int) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    Celery("bench", broker=url).send_task("bench.task", args=(1,), queue=queue)
    raw = client.lindex(queue, 0)
    assert raw is not None
    client.delete(queue)
    keys = [queue] + [f"{queue}{KOMBU_SEP}{s}" for s in STEPS[1:]]
    unacked = max(1, depth // 100)
    remaining = depth - unacked
    batch = 10_000
    for i, key in enumerate(keys):
        share = remaining // len(keys) + (1 if i < remaining % len(keys) else 0)
        while share > 0:
            n = min(batch, share)
            client.rpush(key, *([raw] * n))
            share -= n
    pipe = client.pipeline(transaction=False)
    for _ in range(unacked):
        pipe.hset("unacked", uuid.uuid4().hex, raw)
    pipe.execute()
    client.close()


def fill_db(url: str, depth: int) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM task_instance")
        c.execute("DELETE FROM dag_run")
        c.execute("DELETE FROM dag_version")
        c.execute("DELETE FROM dag")
        c.execute("INSERT INTO dag_bundle (name, active) VALUES ('bench', true) ON CONFLICT DO NOTHING")
        c.execute(
            "INSERT INTO dag (dag_id, bundle_name, is_paused, max_active_tasks, max_consecutive_failed_dag_runs,"
            " has_task_concurrency_limits) VALUES ('bench', 'bench', false, 16, 0, false)"
        )
        vid = uuid.uuid4()
        c.execute(
            "INSERT INTO dag_version (id, version_number, dag_id, created_at, last_updated) VALUES (%s, 1, 'bench', now(), now())",
            (vid,),
        )
        c.execute(
            "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, state) VALUES ('bench', 'r', 'manual', now(), 'running')"
        )
        c.execute(
            "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, state, pool, pool_slots, queue,"
            " dag_version_id, hostname) SELECT gen_random_uuid(), 't' || g, 'bench', 'r', -1,"
            " CASE WHEN g %% 100 = 0 THEN 'running' ELSE 'queued' END, 'default_pool', 1, 'default', %s,"
            " CASE WHEN g %% 100 = 0 THEN 'ip-10-0-' || (g %% 50) || '-1' ELSE NULL END"
            " FROM generate_series(1, %s) g",
            (vid, depth),
        )
        c.execute("ANALYZE task_instance")


def commands_executed(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info",))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--depths", default="10,1000,100000")
    args = ap.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-scaler-"))
    print(f"==> starting Redis and PostgreSQL (state in {work})", file=sys.stderr, flush=True)
    rs = start_redis(work / "redis")
    pg = start_postgres()
    rows = []
    try:
        print("==> airflow db migrate (Airflow 3.1.8 schema)", file=sys.stderr, flush=True)
        db_migrate(airflow_env(work / "home", pg.url))
        cfg = Config(concurrency=16, min_workers=0, max_workers=100, cooldown=300)
        for depth in depths:
            print(f"==> depth {depth}: filling Redis and task_instance", file=sys.stderr, flush=True)
            fill_redis(rs.url, "default", depth)
            fill_db(pg.url, depth)
            src = RedisDepth(rs.url, ["default"], STEPS, connection_class=CountingConnection)
            db = TaskInstanceCounts(pg.url, ["default"])
            src.read(), db.read()  # connect (one-off: AUTH/SELECT/HELLO, TCP, libpq startup)
            admin = redis.Redis.from_url(rs.url)
            trips0, cmds0, queries0 = CountingConnection.round_trips, commands_executed(admin), db.queries
            times, rtimes, dtimes = [], [], []
            state = State()
            for _ in range(args.cycles):
                t0 = time.perf_counter()
                b = src.read()
                t1 = time.perf_counter()
                c = db.read()
                t2 = time.perf_counter()
                rtimes.append(t1 - t0)
                dtimes.append(t2 - t1)
                d, state = decide(Measurement(c.queued, c.running, b.total), cfg, state, now=time.time())
                times.append(time.perf_counter() - t0)
            cmds = commands_executed(admin) - cmds0  # INFO itself is left out of the sum
            rows.append(
                {
                    "depth": depth,
                    "broker_depth": b.total,
                    "queued": c.queued,
                    "running": c.running,
                    "desired": d.desired,
                    "redis_round_trips": (CountingConnection.round_trips - trips0) / args.cycles,
                    "redis_commands": max(cmds, 0) / args.cycles,
                    "sql_queries": (db.queries - queries0) / args.cycles,
                    "median_ms": statistics.median(times) * 1000,
                    "redis_ms": statistics.median(rtimes) * 1000,
                    "db_ms": statistics.median(dtimes) * 1000,
                    "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))] * 1000,
                }
            )
            src.close()
            db.close()
            admin.close()
    finally:
        rs.stop()
        pg.stop()
    print(
        "| queued messages | broker_depth | queued TIs | running TIs | desired | Redis round trips/cycle "
        "| Redis commands/cycle | SQL queries/cycle | Redis median (ms) | SQL median (ms) | cycle median (ms) | cycle p95 (ms) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['depth']:,} | {r['broker_depth']:,} | {r['queued']:,} | {r['running']:,} | {r['desired']} "
            f"| {r['redis_round_trips']:.0f} | {r['redis_commands']:.0f} | {r['sql_queries']:.0f} "
            f"| {r['redis_ms']:.2f} | {r['db_ms']:.2f} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
