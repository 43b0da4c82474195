"""Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """``delay()`` after each failure; ``reset()`` after a success.

    The n-th consecutive failure waits ``uniform(0, min(cap, base * 2**(n-1)))`` seconds.
    """

    base: float = 1.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={self.base} cap={self.cap}")

    def ceiling(self) -> float:
        """Upper bound of the next delay."""
        exp = min(self.failures, 62)
        return float(min(self.cap, self.base * (2 ** max(exp - 1, 0))))

    def delay(self) -> float:
        """Record one more failure and return how long to wait before the next try."""
        self.failures += 1
        return self.rng.uniform(0, self.ceiling())

    def reset(self) -> None:
        self.failures = 0
