"""The one backoff: how long to wait before the next try, after `n` tries that failed (docs/design.md).

`Backoff(initial_s, max_s).delay(n)` is `min(max_s, initial_s * factor**n)`, then jittered:

* `jitter="none"`: exactly that (hedge attempts, the guard's re-reads, alert deliveries);
* `jitter="equal"`: uniform in [base/2, base], so clients never reconnect in step and never at once
  (both venues' stream reconnects, Extended's lookup of a lost placement);
* `jitter="spread"`: base * (1 +- `spread`), floored at 0 (the supervisor's restarts).

The randomness comes from the caller's seeded RNG, one `random()` draw per jittered delay. `Retries` keeps the
count for a loop that only knows "failed again" and "worked".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

_MAX_EXPONENT = 64  # a long outage never overflows a float; every realistic cap is reached long before


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float
    max_s: float
    factor: float = 2.0
    jitter: Literal["none", "equal", "spread"] = "none"
    spread: float = 0.0  # for jitter="spread": +- this fraction of each delay

    def base(self, failed: int) -> float:
        """The delay before try `failed + 1`, before jitter."""
        return min(self.max_s, self.initial_s * self.factor ** min(max(failed, 0), _MAX_EXPONENT))

    def delay(self, failed: int, rng: random.Random | None = None) -> float:
        base = self.base(failed)
        if self.jitter == "none":
            return base
        if rng is None:
            raise ValueError("a jittered backoff needs the caller's seeded rng")
        if self.jitter == "equal":
            return base / 2 + rng.random() * base / 2
        return max(0.0, base * (1 + rng.uniform(-self.spread, self.spread)))


class Retries:
    """One retry loop's place in a `Backoff`: `next()` after a failure, `reset()` after a success."""

    def __init__(self, backoff: Backoff, rng: random.Random | None = None, *, failed: int = 0) -> None:
        self.backoff = backoff
        self._rng = rng
        self.failed = failed  # Lighter's streams start at 1: the first session that ends unready waits base(1)

    def next(self) -> float:
        delay = self.backoff.delay(self.failed, self._rng)
        self.failed += 1
        return delay

    def reset(self) -> None:
        self.failed = 0
