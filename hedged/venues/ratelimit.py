"""The one client-side rate limiter of both venues (docs/design.md): a rolling window, as the venues count.

Lighter weighs requests per endpoint and account tier (`venues/lighter/rest.py`, `Budgets`), Extended counts 1,000
REST requests per minute per IP (extended.md section 8): both are a `Limiter` over a `RollingBudget` of
`capacity` units per window, with a share kept for priority requests (hedges). A request granted at once passes no
checkpoint (on the hedge path every scheduler pass before signing is latency); one that waits is counted, timed
and logged, and `on_wait` (the Prometheus counters `hedged_rate_limit_wait*`) hears of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import trio
from loguru import logger


@dataclass(frozen=True, slots=True)
class LimiterStats:
    acquired: int
    waits: int
    waited_s: float


class RollingBudget:
    """Pure rolling-window budget with a share reserved for priority requests.

    `take(now, cost, priority)` records the request and returns None if it may go now, else the
    earliest time at which enough earlier requests will have aged out (the caller retries then).
    """

    def __init__(self, capacity: int, *, reserved: int = 0, window_s: float = 60.0) -> None:
        if not 0 <= reserved < capacity:
            raise ValueError("need 0 <= reserved < capacity")
        self.capacity = capacity
        self.reserved = reserved
        self.window_s = window_s
        self._slots: deque[tuple[float, int]] = deque()
        self.used = 0

    def take(self, now: float, cost: int, *, priority: bool = False) -> float | None:
        # `t + window_s <= now`, the very sum returned below as the retry time: written as
        # `t <= now - window_s` it can round the other way, so a caller retrying at the time it was
        # given is refused again at the same instant (a livelock under the autojump clock, found by DST).
        while self._slots and self._slots[0][0] + self.window_s <= now:
            self.used -= self._slots.popleft()[1]
        limit = self.capacity if priority else self.capacity - self.reserved
        cost = min(cost, limit)
        if self.used + cost <= limit:
            self._slots.append((now, cost))
            self.used += cost
            return None
        need, freed = self.used + cost - limit, 0
        for t, c in self._slots:
            freed += c
            if freed >= need:
                return t + self.window_s
        raise AssertionError("unreachable: cost <= limit")


class Limiter:
    """A `RollingBudget` on the Trio clock; counts how often and how long it made requests wait.

    Granted at once means no checkpoint at all: on the hedge path every scheduler pass before
    signing is latency.
    """

    def __init__(self, name: str, capacity: int, *, venue: str, reserved: int = 0, window_s: float = 61.0,
                 on_wait: Callable[[float], None] | None = None) -> None:
        # One second more than the venue's minute: our slot time precedes the request's arrival there.
        self.name = name
        self.venue = venue
        self._on_wait = on_wait
        self.budget = RollingBudget(capacity, reserved=reserved, window_s=window_s)
        self.acquired = 0
        self.waits = 0
        self.waited_s = 0.0
        self.priority_waits = 0
        self.priority_waited_s = 0.0

    async def acquire(self, cost: int = 1, *, priority: bool = False) -> bool:
        """Take `cost` units, waiting for them if the window is full; True when it waited."""
        self.acquired += 1
        started = trio.current_time()
        at = self.budget.take(started, cost, priority=priority)
        if at is None:
            return False
        while at is not None:
            await trio.sleep_until(at)
            at = self.budget.take(trio.current_time(), cost, priority=priority)
        waited = trio.current_time() - started
        self.waits += 1
        self.waited_s += waited
        if priority:
            # A hedge held back by the venue's budget is never silent: hedges alone used it up.
            self.priority_waits += 1
            self.priority_waited_s += waited
            logger.warning("{}_rate_limit_wait bucket={} priority=hedge wait_s={:.3f} waits={}",
                           self.venue, self.name, waited, self.priority_waits)
        else:
            logger.info("{}_rate_limit_wait bucket={} wait_s={:.3f} waits={}", self.venue, self.name, waited, self.waits)
        if self._on_wait is not None:
            self._on_wait(waited)
        return True

    def stats(self) -> LimiterStats:
        return LimiterStats(acquired=self.acquired, waits=self.waits, waited_s=self.waited_s)
