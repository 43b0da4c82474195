"""Where Celery's messages sit in Redis: the one description the scaler and the health aggregator both read.

kombu's Redis transport (kombu/transport/redis.py, kombu 5.x) stores:

- queue ``q`` as the Redis list ``q``;
- with message priorities, priority ``p > 0`` of ``q`` in the list ``q + "\\x06\\x16" + str(p)``, where ``p`` is
  one of the transport's ``priority_steps`` (default ``[0, 3, 6, 9]``; step 0 is the queue itself);
- messages delivered to a worker but not yet acked in the hash ``unacked``;
- every key behind the transport option ``global_keyprefix`` (empty by default), ``unacked`` included.

Counting costs one LLEN per key and one HLEN: the keys are named, never scanned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

PRIORITY_SEP = "\x06\x16"
UNACKED = "unacked"
DEFAULT_PRIORITY_STEPS: tuple[int, ...] = (0, 3, 6, 9)
# Every priority a Celery message can carry on the Redis transport (0-9): counting these finds a queue's
# messages whatever ``priority_steps`` the broker was configured with.
ALL_PRIORITIES: tuple[int, ...] = tuple(range(10))


def queue_keys(
    queues: Iterable[str], steps: Iterable[int] = DEFAULT_PRIORITY_STEPS, prefix: str = ""
) -> list[str]:
    """The Redis lists of ``queues``: per queue, the queue itself, then one list per non-zero step, ascending."""
    ordered = sorted(set(steps) | {0})
    return [f"{prefix}{q}{PRIORITY_SEP}{s}" if s else f"{prefix}{q}" for q in queues for s in ordered]


def unacked_key(prefix: str = "") -> str:
    """The hash of delivered, unacknowledged messages."""
    return f"{prefix}{UNACKED}"


def depth_per_queue(lengths: Mapping[str, int], queues: Sequence[str], prefix: str = "") -> dict[str, int]:
    """Sum LLEN results (key -> length, keys from ``queue_keys``) per queue."""
    return {
        q: sum(
            n for k, n in lengths.items() if k == f"{prefix}{q}" or k.startswith(f"{prefix}{q}{PRIORITY_SEP}")
        )
        for q in queues
    }
