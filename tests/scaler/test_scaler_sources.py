"""Measuring against real parts: Celery/kombu messages in a real Redis, task_instance rows in the real Airflow schema."""

from __future__ import annotations

import pytest
import redis
from celery import Celery
from kombu import Connection

from platform_common.broker import PRIORITY_SEP as KOMBU_SEP
from platform_common.broker import queue_keys as broker_keys
from scaler.measure import MeasureError, RedisDepth, TaskInstanceCounts
from tests.support.scaler import ALL_STATES, AirflowRows


def producer(url: str) -> Celery:
    app = Celery("producer", broker=url)
    app.conf.broker_transport_options = {"priority_steps": [0, 3, 6, 9], "queue_order_strategy": "priority"}
    return app


def test_broker_keys_follow_kombu_naming() -> None:
    assert broker_keys(["default"], [0, 3, 6, 9]) == [
        "default",
        f"default{KOMBU_SEP}3",
        f"default{KOMBU_SEP}6",
        f"default{KOMBU_SEP}9",
    ]


def test_depth_counts_celery_messages_in_every_priority_list(redis_url: str, queue: str) -> None:
    app = producer(redis_url)
    with app.connection_for_write() as conn, app.producer_pool.acquire(block=True) as _:
        for prio, n in ((None, 3), (0, 2), (4, 4), (7, 5), (9, 1)):
            for _ in range(n):
                app.send_task("dags.do_work", args=(1,), queue=queue, priority=prio, connection=conn)
        app.send_task("dags.other", queue="elsewhere", connection=conn)  # another queue: not counted
    client = redis.Redis.from_url(redis_url)
    # the messages really landed in kombu's priority lists
    assert client.llen(queue) == 5
    assert client.llen(f"{queue}{KOMBU_SEP}3") == 4
    assert client.llen(f"{queue}{KOMBU_SEP}6") == 5
    assert client.llen(f"{queue}{KOMBU_SEP}9") == 1
    depth = RedisDepth(redis_url, [queue], [0, 3, 6, 9]).read()
    assert (depth.waiting, depth.unacked, depth.total) == (15, 0, 15)
    both = RedisDepth(redis_url, [queue, "elsewhere"], [0, 3, 6, 9]).read()
    assert both.waiting == 16


def test_depth_counts_unacked_messages_of_a_real_consumer(redis_url: str, queue: str) -> None:
    app = producer(redis_url)
    for _ in range(4):
        app.send_task("dags.do_work", queue=queue)
    # A real kombu consumer takes two messages and does not ack them (like a worker running them, acks_late).
    with Connection(redis_url) as conn:
        simple = conn.SimpleQueue(queue)
        taken = [simple.get(timeout=5) for _ in range(2)]
        depth = RedisDepth(redis_url, [queue], [0, 3, 6, 9]).read()
        assert (depth.waiting, depth.unacked) == (2, 2)
        for msg in taken:
            msg.ack()
        depth = RedisDepth(redis_url, [queue], [0, 3, 6, 9]).read()
        assert (depth.waiting, depth.unacked) == (2, 0)
        simple.close()


def test_one_round_trip_per_read(redis_url: str, queue: str) -> None:
    from redis.connection import Connection as RConn

    class Counting(RConn):
        sends = 0

        def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
            Counting.sends += 1
            return super().send_packed_command(command, check_health)

    client = redis.Redis.from_url(redis_url)
    client.rpush(queue, *[b"x"] * 1000)
    src = RedisDepth(redis_url, [queue, "b", "c"], [0, 3, 6, 9], connection_class=Counting)
    src.read()  # connects (HELLO/SELECT) once
    before = Counting.sends
    for _ in range(5):
        assert src.read().waiting == 1000
    assert Counting.sends - before == 5


def test_redis_down_is_a_measure_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from devtools.servers import start_redis

    server = start_redis(tmp_path / "r")
    src = RedisDepth(server.url, ["default"], [0, 3, 6, 9])
    assert src.read().total == 0
    server.stop()
    with pytest.raises(MeasureError, match="redis"):
        src.read()


@pytest.mark.airflow
def test_counts_only_queued_and_running_of_the_queue(rows: AirflowRows, airflow_db_url: str) -> None:
    for state in ALL_STATES:
        rows.add(state, 2, hostname="ip-10-0-1-5.ec2.internal" if state == "running" else None)
    rows.add("queued", 3)
    rows.add("running", 1, hostname="10.0.1.6")
    rows.add("running", 4, hostname="other", queue="gpu")  # another queue
    rows.add("queued", 5, queue="gpu")
    src = TaskInstanceCounts(airflow_db_url, ["default"])
    counts = src.read()
    assert (counts.queued, counts.running) == (5, 3)
    assert counts.running_by_host == {"ip-10-0-1-5.ec2.internal": 2, "10.0.1.6": 1}
    both = TaskInstanceCounts(airflow_db_url, ["default", "gpu"]).read()
    assert (both.queued, both.running) == (10, 7)
    assert src.queries == 1
    src.close()


@pytest.mark.airflow
def test_db_down_is_a_measure_error_and_reconnects(airflow_db_url: str, rows: AirflowRows) -> None:
    src = TaskInstanceCounts(airflow_db_url.rsplit("/", 1)[0] + "/no_such_db", ["default"])
    with pytest.raises(MeasureError, match="db"):
        src.read()
    src.url = airflow_db_url  # the same object recovers on the next read
    rows.add("queued", 2)
    assert src.read().queued == 2
    src.close()
