"""Read the work: Redis broker depth (one pipeline) and task_instance counts (one query) per cycle.

Costs are constant whatever the depth: LLEN/HLEN are O(1), and the priority lists are named, not scanned
(kombu's redis transport: ``<queue>\\x06\\x16<step>`` for every non-zero step of ``PRIORITY_STEPS = [0, 3, 6, 9]``;
step 0 is the queue itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis

from platform_common.secrets import libpq_url

KOMBU_SEP = "\x06\x16"
UNACKED_KEY = "unacked"

# One query per cycle: the counts and, for protection, which hosts run task instances.
TI_QUERY = (
    "SELECT state, coalesce(hostname, ''), count(*) FROM task_instance "
    "WHERE state IN ('queued', 'running') AND queue = ANY(%s) GROUP BY state, coalesce(hostname, '')"
)


class MeasureError(Exception):
    """A source could not be read; ``str()`` is one line naming the source."""


def broker_keys(queues: list[str], steps: list[int], prefix: str = "") -> list[str]:
    keys = []
    for queue in queues:
        for step in sorted(set(steps) | {0}):
            keys.append(f"{prefix}{queue}" if step == 0 else f"{prefix}{queue}{KOMBU_SEP}{step}")
    return keys


@dataclass
class BrokerDepth:
    waiting: int
    unacked: int
    per_key: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.waiting + self.unacked


class RedisDepth:
    def __init__(
        self, url: str, queues: list[str], steps: list[int], prefix: str = "", **kwargs: Any
    ) -> None:
        self.keys = broker_keys(queues, steps, prefix)
        self.unacked_key = f"{prefix}{UNACKED_KEY}"
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
        per_key = dict(zip(self.keys, values[:-1], strict=True))
        return BrokerDepth(sum(values[:-1]), values[-1], per_key)

    def close(self) -> None:
        self.client.close()


@dataclass
class TaskCounts:
    queued: int
    running: int
    running_by_host: dict[str, int]


def parse_counts(rows: list[tuple[str, str, int]]) -> TaskCounts:
    queued = running = 0
    by_host: dict[str, int] = {}
    for state, host, count in rows:
        if state == "queued":
            queued += int(count)
        elif state == "running":
            running += int(count)
            if host:
                by_host[host] = by_host.get(host, 0) + int(count)
    return TaskCounts(queued, running, by_host)


class TaskInstanceCounts:
    """Counts from Airflow's metadata DB; keeps one connection open, reconnects after an error."""

    def __init__(self, url: str, queues: list[str]) -> None:
        self.url = libpq_url(url)
        self.queues = queues
        self.conn: psycopg.Connection[Any] | None = None
        self.queries = 0

    def read(self) -> TaskCounts:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=5, options="-c statement_timeout=10000"
                )
            self.queries += 1
            rows = self.conn.execute(TI_QUERY, (self.queues,)).fetchall()
        except psycopg.Error as exc:
            self.close()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise MeasureError(f"db: {type(exc).__name__}: {first}") from None
        return parse_counts(rows)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
