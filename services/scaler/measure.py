"""Read the work: Redis broker depth (one pipeline) and task_instance counts (one query) per cycle.

Costs are constant whatever the depth: LLEN/HLEN are O(1), and the priority lists are named, not scanned (the
key layout: services/platform_common/broker.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis

from platform_common import broker
from platform_common.secrets import libpq_url

# One query per cycle: the counts and, for protection, which hosts run task instances ('n' rows); per queue the
# starts since the last watermark (late = queued -> start above the SLO threshold) and p50/p95 of queued -> start
# over the latency window ('s' rows); the DB clock as the next watermark ('t' row). See docs/slo.md.
# The 's' part reads task_instance by start_date, which Airflow does not index: one scan per cycle, limited to the
# configured queues (bench/scaler/RESULTS.md).
TI_QUERY = """
WITH clock AS (SELECT now() AS t)
SELECT 'n', state, coalesce(hostname, ''), queue, count(*)::float8,
       extract(epoch FROM (SELECT t FROM clock) - min(queued_dttm))::float8, NULL::float8, NULL::float8
FROM task_instance
WHERE state IN ('queued', 'running') AND queue = ANY(%(queues)s)
GROUP BY state, coalesce(hostname, ''), queue
UNION ALL
SELECT 's', NULL, '', queue,
       (count(*) FILTER (WHERE start_date > to_timestamp(%(since)s)
                           AND start_date <= (SELECT t FROM clock) - make_interval(secs => %(lag)s)))::float8,
       (count(*) FILTER (WHERE start_date > to_timestamp(%(since)s)
                           AND start_date <= (SELECT t FROM clock) - make_interval(secs => %(lag)s)
                           AND start_date - queued_dttm > make_interval(secs => %(late)s)))::float8,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM start_date - queued_dttm)),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM start_date - queued_dttm))
FROM task_instance
WHERE start_date > (SELECT t FROM clock) - make_interval(secs => %(window)s)
  AND queued_dttm IS NOT NULL AND start_date >= queued_dttm AND queue = ANY(%(queues)s)
GROUP BY queue
UNION ALL
SELECT 't', NULL, '', '', 0, extract(epoch FROM (SELECT t FROM clock) - make_interval(secs => %(lag)s))::float8,
       NULL, NULL
"""
# Starts are counted up to `lag` seconds behind the DB clock, so a row committed just after its start_date is
# still counted exactly once (each cycle counts (previous watermark, this one]).
START_LAG_S = 5.0


class MeasureError(Exception):
    """A source could not be read; ``str()`` is one line naming the source."""


@dataclass
class BrokerDepth:
    waiting: int
    unacked: int

    @property
    def total(self) -> int:
        return self.waiting + self.unacked


class RedisDepth:
    def __init__(
        self, url: str, queues: list[str], steps: list[int], prefix: str = "", **kwargs: Any
    ) -> None:
        self.keys = broker.queue_keys(queues, steps, prefix)
        self.unacked_key = broker.unacked_key(prefix)
        self.client = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, retry_on_timeout=False, **kwargs
        )

    def read(self) -> BrokerDepth:
        try:
            pipe = self.client.pipeline(transaction=False)  # one round trip
            for key in self.keys:
                pipe.llen(key)
            pipe.hlen(self.unacked_key)
            values = [int(v) for v in pipe.execute()]
        except redis.RedisError as exc:
            raise MeasureError(f"redis: {type(exc).__name__}: {exc}") from None
        return BrokerDepth(sum(values[:-1]), values[-1])

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class Starts:
    """Task instances of one queue that started: counted since the last watermark; percentiles over the window."""

    started: int = 0
    late: int = 0
    p50: float | None = None
    p95: float | None = None


@dataclass
class TaskCounts:
    queued: int
    running: int
    running_by_host: dict[str, int]
    oldest_queued_age: dict[str, float] = field(default_factory=dict)  # per queue, seconds
    starts: dict[str, Starts] = field(default_factory=dict)  # per queue
    watermark: float | None = None  # DB time (minus the lag) up to which starts were counted

    @property
    def oldest_age(self) -> float:
        """Age of the oldest queued task instance of any queue; 0 when nothing is queued."""
        return max(self.oldest_queued_age.values(), default=0.0)

    @property
    def started(self) -> int:
        return sum(s.started for s in self.starts.values())

    @property
    def late(self) -> int:
        return sum(s.late for s in self.starts.values())


Row = tuple[str, str | None, str, str, float, float | None, float | None, float | None]


def parse_counts(rows: list[Row]) -> TaskCounts:
    queued = running = 0
    by_host: dict[str, int] = {}
    oldest: dict[str, float] = {}
    starts: dict[str, Starts] = {}
    watermark = None
    for kind, state, host, queue, count, a, b, c in rows:
        n = int(count)
        if kind == "n" and state == "queued":
            queued += n
            if a is not None:
                oldest[queue] = max(oldest.get(queue, 0.0), max(0.0, float(a)))
        elif kind == "n" and state == "running":
            running += n
            if host:
                by_host[host] = by_host.get(host, 0) + n
        elif kind == "s":
            starts[queue] = Starts(
                n, int(a or 0), None if b is None else float(b), None if c is None else float(c)
            )
        elif kind == "t" and a is not None:
            watermark = float(a)
    return TaskCounts(queued, running, by_host, oldest, starts, watermark)


class TaskInstanceCounts:
    """Counts from Airflow's metadata DB; keeps one connection open, reconnects after an error.

    ``late_after``: queued -> start above this many seconds is a late start (the task-start SLO, docs/slo.md);
    ``window``: seconds of starts behind the p50/p95.
    """

    def __init__(self, url: str, queues: list[str], late_after: float = 120.0, window: float = 300.0) -> None:
        self.url = libpq_url(url)
        self.queues = queues
        self.late_after = late_after
        self.window = window
        self.watermark: float | None = None  # the first read counts no starts: it has no baseline
        self.conn: psycopg.Connection[Any] | None = None
        self.queries = 0

    def read(self) -> TaskCounts:
        params = {
            "queues": self.queues,
            "since": self.watermark,
            "lag": START_LAG_S,
            "late": self.late_after,
            "window": self.window,
        }
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=5, options="-c statement_timeout=10000"
                )
            self.queries += 1
            rows = self.conn.execute(TI_QUERY, params).fetchall()
        except psycopg.Error as exc:
            self.close()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise MeasureError(f"db: {type(exc).__name__}: {first}") from None
        counts = parse_counts(rows)
        if counts.watermark is not None:
            self.watermark = counts.watermark
        return counts

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
