"""Worker scale-up time (pure): work queued with zero workers -> the first task instance running. See docs/slo.md.

A wait starts in the first cycle that sees queued work while the worker service's count is 0 (known from ECS; no
ECS target, no tracking). It is dated back to when the oldest queued task instance was queued, but never before the
last cycle that saw workers. It ends in the first cycle that sees a running task instance; the time is known to
one cycle interval. Each wait is one event: late when it took (or has already taken) longer than ``late_after``.
A wait still open past ``late_after`` is counted late at once, so a scale-up that never happens burns the budget
while it lasts instead of staying invisible. Queued work that vanishes before anything runs ends the wait with no
event (unless it was already counted late).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleUpState:
    waiting_since: float | None = None  # unix time the current wait started; None = not waiting
    counted: bool = False  # the current wait was already counted (late)
    warm_at: float | None = None  # last cycle that saw workers (current > 0)


@dataclass(frozen=True)
class ScaleUpEvent:
    events: int = 0  # scale-ups counted this cycle (0 or 1)
    late: int = 0  # of which late
    seconds: float | None = None  # the scale-up time, in the cycle the first task runs


def track_scale_up(
    state: ScaleUpState,
    *,
    now: float,
    queued: int,
    running: int,
    workers: int | None,
    oldest_queued_age: float,
    late_after: float,
) -> tuple[ScaleUpState, ScaleUpEvent]:
    """One cycle of the scale-up tracker: the new state and what to publish (counts are 0 when nothing happened)."""
    if workers is None:  # no ECS target or it could not be read: keep the wait, decide nothing
        return state, ScaleUpEvent()
    warm_at = now if workers > 0 else state.warm_at
    if state.waiting_since is None:
        if workers == 0 and queued > 0 and running == 0:
            since = now - max(0.0, oldest_queued_age)
            if state.warm_at is not None:
                since = max(since, state.warm_at)
            since = min(since, now)
            late = now - since > late_after
            return ScaleUpState(since, late, warm_at), ScaleUpEvent(int(late), int(late))
        return ScaleUpState(None, False, warm_at), ScaleUpEvent()
    took = max(0.0, now - state.waiting_since)
    if running > 0:
        if state.counted:
            return ScaleUpState(None, False, warm_at), ScaleUpEvent(0, 0, took)
        return ScaleUpState(None, False, warm_at), ScaleUpEvent(1, int(took > late_after), took)
    if queued == 0:  # the work went away before anything ran (failed, removed): no scale-up to measure
        return ScaleUpState(None, False, warm_at), ScaleUpEvent()
    if not state.counted and took > late_after:
        return ScaleUpState(state.waiting_since, True, warm_at), ScaleUpEvent(1, 1)
    return ScaleUpState(state.waiting_since, state.counted, warm_at), ScaleUpEvent()
