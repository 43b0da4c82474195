"""The scaling decision (pure): measurement + config + previous state -> desired worker count + new state.

Formula (the Airflow Helm chart's KEDA query, with the broker as a cross-check; docs/adr/0002-scaling.md):

    work    = max(queued + running, broker_depth)
    target  = clamp(ceil(work / worker_concurrency), lo, hi)

``broker_depth`` counts the messages waiting in Redis plus the ones workers took but have not acked (Airflow acks
late, so those are the running ones): it is the broker's view of ``queued + running``. Taking the larger of the
two views means a Redis backlog scales up even when the DB says 0, and nothing is counted twice.

- Scale out at once. Scale in only after every target for ``cooldown`` seconds was below the current desired
  count, then to the highest of those targets.
- Inside an active window ``lo, hi = min, max``; off-hours ``lo = 0`` and ``hi = min(max, offhours_max)``.
  0 is reached only when ``work == 0`` (running work drains first).
- Missing data (no measurement) holds the previous desired count; it never moves towards 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .schedule import Schedule, parse_schedule

ALWAYS = parse_schedule("")


@dataclass(frozen=True)
class Measurement:
    queued: int  # task_instance rows in state 'queued'
    running: int  # task_instance rows in state 'running'
    broker_depth: int  # Redis: waiting messages (all priority lists) + unacked

    @property
    def work(self) -> int:
        return max(self.queued + self.running, self.broker_depth)


@dataclass(frozen=True)
class Config:
    concurrency: int
    min_workers: int
    max_workers: int
    cooldown: float = 300.0
    schedule: Schedule = ALWAYS
    offhours_max: int | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"worker concurrency must be >= 1, got {self.concurrency}")
        if self.min_workers < 0:
            raise ValueError(f"min workers must be >= 0, got {self.min_workers}")
        if self.max_workers < 1:
            raise ValueError(f"max workers must be >= 1, got {self.max_workers}")
        if self.min_workers > self.max_workers:
            raise ValueError(f"min workers ({self.min_workers}) > max workers ({self.max_workers})")
        if self.offhours_max is not None and self.offhours_max < 1:
            raise ValueError(
                f"off-hours max must be >= 1 (0 would strand queued work), got {self.offhours_max}"
            )
        if self.cooldown < 0:
            raise ValueError(f"cooldown must be >= 0 seconds, got {self.cooldown}")

    def bounds(self, now: float) -> tuple[str | None, int, int]:
        """(active window text or None when off-hours, lo, hi) at unix time ``now``."""
        window = self.schedule.active_window(now)
        if window is not None:
            return window, self.min_workers, self.max_workers
        hi = self.max_workers if self.offhours_max is None else min(self.max_workers, self.offhours_max)
        return None, 0, hi


@dataclass(frozen=True)
class State:
    desired: int | None = None  # the last desired count decided (None: nothing decided yet)
    below_since: float | None = None  # since when every target has been below `desired`
    below_peak: int | None = None  # the highest target seen since `below_since`


@dataclass(frozen=True)
class Decision:
    desired: int | None  # None only when nothing was ever measured and the current count is unknown
    target: int | None  # what the formula says right now (None when not measured)
    reason: str
    window: str  # active window text, "always" or "off-hours"
    min: int
    max: int
    queued: int | None = None
    running: int | None = None
    broker_depth: int | None = None
    current: int | None = None

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["bounds"] = {"min": doc.pop("min"), "max": doc.pop("max")}
        return doc


def target_for(work: int, concurrency: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, math.ceil(work / concurrency)))


def decide(
    measurement: Measurement | None,
    config: Config,
    state: State,
    *,
    now: float,
    current: int | None = None,
    error: str | None = None,
) -> tuple[Decision, State]:
    """One decision. ``current`` is the service's desiredCount as read from ECS (None when unknown)."""
    window, lo, hi = config.bounds(now)
    window_name = window if window is not None else "off-hours"
    prev = state.desired if state.desired is not None else current

    if measurement is None:
        held = "nothing (no previous decision)" if prev is None else str(prev)
        reason = (
            f"hold: could not measure ({error or 'no data'}); keeping {held}, never scaling on missing data"
        )
        decision = Decision(prev, None, reason, window_name, lo, hi, current=current)
        return decision, State(prev, None, None)

    m = measurement
    target = target_for(m.work, config.concurrency, lo, hi)
    load = f"work={m.work} (queued={m.queued} running={m.running} broker={m.broker_depth}) / {config.concurrency}"
    new_state: State
    if prev is None:
        desired, reason, new_state = target, f"initial: {load} -> {target}", State(target)
    elif target > prev:
        desired, reason, new_state = target, f"scale out {prev}->{target}: {load}", State(target)
    elif target == prev:
        desired, reason, new_state = prev, f"steady at {prev}: {load}", State(prev)
    else:
        since = state.below_since if state.below_since is not None else now
        peak = target if state.below_peak is None else max(state.below_peak, target)
        held_for = now - since
        if held_for >= config.cooldown:
            desired = peak
            reason = f"scale in {prev}->{peak}: lower value held {held_for:.0f}s >= cooldown {config.cooldown:.0f}s; {load}"
            new_state = State(peak)
        else:
            desired = prev
            reason = (
                f"hold {prev}: target {target} (peak {peak}) held {held_for:.0f}s of cooldown "
                f"{config.cooldown:.0f}s; {load}"
            )
            new_state = State(prev, since, peak)

    # Bounds are hard limits (a window change or an off-hours cap applies at once; busy tasks are protected).
    clamped = max(lo, min(hi, desired))
    if clamped != desired:
        reason += f"; clamped {desired}->{clamped} to bounds [{lo}, {hi}]"
        desired = clamped
        new_state = State(desired)
    if desired == 0:
        reason += "; zero: no work and zero allowed"
    decision = Decision(
        desired, target, reason, window_name, lo, hi, m.queued, m.running, m.broker_depth, current
    )
    return decision, new_state
