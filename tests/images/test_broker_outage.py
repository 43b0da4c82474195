"""A task queued while the Celery broker is down stays queued and is sent once Redis is back
(images/airflow/broker_outage.py, images/airflow/platform_executor.py, docs/adr/0015-broker-outage.md).

The pure policy here; then the real executor of Airflow 3.1.8's celery provider in the Airflow venv, sending through
a Redis that is down and then started on the same port, next to the stock CeleryExecutor, which fails the task.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
import redis

from devtools.airflow import AIRFLOW_VENV, airflow_env
from devtools.servers import Server, free_port, start_redis
from tests.support.platform_lib import load_platform_module

bo = load_platform_module("broker_outage.py", "broker_outage_under_test")


# --- the pure policy --------------------------------------------------------------------------------------------------
class OperationalError(Exception):  # kombu.exceptions.OperationalError, by name
    pass


class RedisConnectionError(Exception):
    pass


RedisConnectionError.__name__ = "ConnectionError"  # redis.exceptions.ConnectionError is not the builtin one


class AuthenticationError(RedisConnectionError):  # a restarted Redis that has no AUTH token yet
    pass


class AirflowTaskTimeout(BaseException):
    pass


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        RedisConnectionError("Connection reset by peer"),
        AuthenticationError("AUTH <password> called without any password configured"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError("timed out"),
        AirflowTaskTimeout("Timeout, PID: 1"),
    ],
)
def test_broker_errors_are_recognised(exc: BaseException) -> None:
    assert bo.is_broker_error(exc)


def test_broker_error_wrapped_in_another_is_recognised() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("publish failed") from inner
    except RuntimeError as outer:
        assert bo.is_broker_error(outer)


@pytest.mark.parametrize(
    "exc", [ValueError("cannot serialize"), TypeError("x"), KeyError("execute_workload"), RuntimeError("x")]
)
def test_other_errors_are_not_broker_errors(exc: BaseException) -> None:
    assert not bo.is_broker_error(exc)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_kept_queued_within_the_grace_then_failed() -> None:
    clock = Clock()
    policy = bo.SendRetryPolicy(grace_s=30, clock=clock)
    down = OperationalError("refused")
    assert policy.verdict("a", down) is bo.Verdict.KEEP_QUEUED
    clock.t += 29.9
    assert policy.verdict("a", down) is bo.Verdict.KEEP_QUEUED
    assert policy.verdict("b", down) is bo.Verdict.KEEP_QUEUED  # each task has its own clock
    clock.t += 0.1
    assert policy.verdict("a", down) is bo.Verdict.FAIL
    assert "a" not in policy.unreachable_since and "b" in policy.unreachable_since
    assert policy.verdict("b", None) is bo.Verdict.SENT
    assert policy.unreachable_since == {}


def test_a_sent_task_starts_a_new_grace_next_time() -> None:
    clock = Clock()
    policy = bo.SendRetryPolicy(grace_s=10, clock=clock)
    assert policy.verdict("a", TimeoutError()) is bo.Verdict.KEEP_QUEUED
    clock.t += 9
    assert policy.verdict("a", None) is bo.Verdict.SENT
    clock.t += 9
    assert policy.verdict("a", TimeoutError()) is bo.Verdict.KEEP_QUEUED


def test_other_errors_fail_at_once_and_zero_grace_never_keeps() -> None:
    policy = bo.SendRetryPolicy(grace_s=300, clock=Clock())
    assert policy.verdict("a", ValueError("bad payload")) is bo.Verdict.FAIL
    assert bo.SendRetryPolicy(grace_s=0, clock=Clock()).verdict("a", TimeoutError()) is bo.Verdict.FAIL


def test_forget_drops_tasks_no_longer_held() -> None:
    policy = bo.SendRetryPolicy(grace_s=300, clock=Clock())
    for key in ("a", "b", "c"):
        policy.verdict(key, TimeoutError())
    policy.forget({"b"})
    assert set(policy.unreachable_since) == {"b"}


def test_grace_from_env() -> None:
    assert bo.SendRetryPolicy.from_env({}).grace_s == bo.DEFAULT_GRACE_S
    assert bo.SendRetryPolicy.from_env({bo.GRACE_ENV: " 45 "}).grace_s == 45
    for bad in ("soon", "-1"):
        with pytest.raises(ValueError, match=bo.GRACE_ENV):
            bo.SendRetryPolicy.from_env({bo.GRACE_ENV: bad})


# --- the real executor, real Redis ------------------------------------------------------------------------------------
# Runs in the Airflow venv: sends three tasks while nothing listens on the broker port, says so on stdout, waits
# for the test to start Redis on that port, sends again and prints what the executor did.
SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from airflow.utils.state import TaskInstanceState

    if sys.argv[1] == "platform":
        from platform_executor import PlatformCeleryExecutor as Executor
    else:
        from airflow.providers.celery.executors.celery_executor import CeleryExecutor as Executor

    class TI:
        external_executor_id = None

    class Workload:
        ti = TI()

        def model_dump_json(self):
            return "{}"

    import airflow.providers.celery.executors.celery_executor_utils as utils

    attempts = []
    send_one = utils.send_workload_to_executor

    def counted(item):
        attempts.append(item[0])
        return send_one(item)

    utils.send_workload_to_executor = counted
    ex = Executor()
    keys = [("dag", f"t{i}", "run", 1, -1) for i in range(3)]
    for key in keys:
        ex.queued_tasks[key] = Workload()

    def send():
        items = [(k, ex.queued_tasks[k], "default", None) for k in keys if k in ex.queued_tasks]
        t0, before = time.monotonic(), len(attempts)
        ex._send_workloads(items)
        return {
            "seconds": round(time.monotonic() - t0, 2),
            "attempts": len(attempts) - before,
            "still_queued": sum(k in ex.queued_tasks for k in keys),
            "failed": sum(ex.event_buffer.get(k, (None,))[0] == TaskInstanceState.FAILED for k in keys),
            "sent": sum(ex.event_buffer.get(k, (None,))[0] == TaskInstanceState.QUEUED for k in keys),
        }

    rounds = [send(), send()]
    print(json.dumps({"down": rounds}), flush=True)
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.1)
    print(json.dumps({"up": send()}), flush=True)
    """
)


def run_executor(
    kind: str, pg: Server, tmp_path: Path, *, grace: str | None = None
) -> tuple[dict, dict, int]:
    """(rounds while Redis is down, the round after it is up, messages in Redis's ``default`` list)."""
    port = free_port()
    env = airflow_env(
        tmp_path / "home",
        pg.url,  # Celery's result backend
        broker_url=f"redis://127.0.0.1:{port}/0",
        extra={"AIRFLOW__CELERY__SYNC_PARALLELISM": "1"},
    )
    if grace is not None:
        env[bo.GRACE_ENV] = grace
    go = tmp_path / "redis-is-up"
    proc = subprocess.Popen(
        [str(AIRFLOW_VENV / "bin" / "python"), "-c", SCRIPT, kind, str(go)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = None
    try:
        assert proc.stdout
        seen: list[str] = []  # Airflow may log to stdout too
        while not (line := proc.stdout.readline()).startswith('{"down"'):
            assert line, "".join(seen[-20:]) + (proc.stderr.read() if proc.stderr else "")
            seen.append(line)
        down = json.loads(line)["down"]
        server = start_redis(tmp_path / "redis", port=port)
        go.touch()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        up = json.loads(next(ln for ln in out.splitlines() if ln.startswith('{"up"')))["up"]
        depth = redis.Redis(port=port).llen("default")
        return down, up, depth
    finally:
        if proc.poll() is None:
            proc.kill()
        if server:
            server.stop()


@pytest.mark.slow
def test_platform_executor_keeps_tasks_queued_while_the_broker_is_down(
    postgres_server: Server, tmp_path: Path
) -> None:
    down, up, depth = run_executor("platform", postgres_server, tmp_path)
    print("down:", down, "up:", up)
    for r in down:  # one send per loop, not one per task: the batch stops at the first broker error
        assert r == {**r, "still_queued": 3, "failed": 0, "sent": 0, "attempts": 1}, down
    assert up == {**up, "still_queued": 0, "failed": 0, "sent": 3, "attempts": 3}, up
    assert depth == 3  # all three messages are in Redis once it is back


@pytest.mark.slow
def test_platform_executor_fails_tasks_once_the_grace_is_spent(
    postgres_server: Server, tmp_path: Path
) -> None:
    down, _, depth = run_executor("platform", postgres_server, tmp_path, grace="0")
    assert down[0] == {**down[0], "still_queued": 0, "failed": 3, "sent": 0}, down
    assert depth == 0


@pytest.mark.slow
def test_stock_celery_executor_fails_them_at_once(postgres_server: Server, tmp_path: Path) -> None:
    """The finding the platform executor fixes: without it, a task queued during a broker outage fails."""
    down, _, depth = run_executor("stock", postgres_server, tmp_path)
    assert down[0] == {**down[0], "still_queued": 0, "failed": 3, "sent": 0}, down
    assert depth == 0
