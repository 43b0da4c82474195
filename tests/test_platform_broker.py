"""platform_common.broker against what Celery/kombu really write into a real Redis (priorities, unacked, prefix),
read by both the scaler and the health aggregator."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis
from celery import Celery
from kombu import Connection

from devtools.servers import Server
from healthcheck.config import Settings
from healthcheck.probes import Probes
from platform_common import broker
from scaler.measure import RedisDepth
from tests.support.healthcheck import PROBES_OFF

OFF = PROBES_OFF


def health_facts(url: str, queues: str, prefix: str) -> dict[str, Any]:
    s = Settings(
        **{**OFF, "redis_enabled": True, "redis_url": url, "redis_queues": queues, "redis_key_prefix": prefix}
    )

    async def go() -> dict[str, Any]:
        async with Probes(s) as probes:
            return (await probes.redis())[0].facts

    return asyncio.run(go())


def test_keys_are_where_kombu_writes_them_with_a_global_prefix(redis_server: Server) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/8"
    client = redis.Redis.from_url(url)
    client.flushdb()
    queue, prefix = f"q{uuid.uuid4().hex[:6]}", "airflow:"
    options = {"priority_steps": [0, 3, 6, 9], "queue_order_strategy": "priority", "global_keyprefix": prefix}
    app = Celery("producer", broker=url)
    app.conf.broker_transport_options = options
    for prio in (None, 0, 4, 4, 7, 9):
        app.send_task("dags.do_work", queue=queue, priority=prio)
    written = {
        k.decode() if isinstance(k, bytes) else k for k in client.keys("*") if client.type(k) == b"list"
    }
    assert written <= set(broker.queue_keys([queue], broker.DEFAULT_PRIORITY_STEPS, prefix)), written
    assert len(written) == 4  # the queue itself and steps 3, 6, 9: every key named, none scanned

    with Connection(url, transport_options=options) as conn:  # a consumer holds one message, not acked
        msg = conn.SimpleQueue(queue).get(timeout=10)
        assert client.hlen(broker.unacked_key(prefix)) == 1 and not client.exists(broker.UNACKED)
        depth = RedisDepth(url, [queue], list(broker.DEFAULT_PRIORITY_STEPS), prefix).read()
        assert (depth.waiting, depth.unacked) == (5, 1)
        facts = health_facts(url, queue, prefix)
        assert (facts["queue_depth"], facts["unacked"], facts["queues"]) == (5, 1, {queue: 5})
        assert health_facts(url, queue, "")["queue_depth"] == 0  # without the prefix: nothing found
        msg.ack()
    client.flushdb()
    client.close()
