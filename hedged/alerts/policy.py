"""Pure alert policy: de-duplication, per-event rate limit, retry backoff.

Times are monotonic seconds (`trio.current_time()`) passed in by the caller, so tests
drive them with plain numbers and the Alerter with the (mock) Trio clock.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from hedged.alerts.settings import AlertSettings
from hedged.backoff import Backoff


class Verdict(enum.StrEnum):
    SEND = "send"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    original_id: int | None = None  # the incident a duplicate repeats


class Suppressor:
    """Decides whether a new alert is sent, counted as a repeat, or rate limited.

    A duplicate is the same (event, key) within `dedup_window_s` of the incident it
    repeats. The rate limit counts incidents of one event kind that were actually routed
    to sinks within the last `rate_limit_period_s`.
    """

    def __init__(self, dedup_window_s: float, rate_limit_count: int, rate_limit_period_s: float) -> None:
        self._window = dedup_window_s
        self._count = rate_limit_count
        self._period = rate_limit_period_s
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}
        self._sent: dict[str, deque[float]] = {}

    @classmethod
    def from_settings(cls, s: AlertSettings) -> Suppressor:
        return cls(s.dedup_window_s, s.rate_limit_count, s.rate_limit_period_s)

    def decide(self, event: str, key: str, now: float) -> Decision:
        seen = self._seen.get((event, key))
        if seen is not None and now - seen[0] < self._window:
            return Decision(Verdict.DUPLICATE, seen[1])
        sent = self._sent.get(event)
        if sent is not None:
            while sent and now - sent[0] >= self._period:
                sent.popleft()
            if len(sent) >= self._count:
                return Decision(Verdict.RATE_LIMITED)
        return Decision(Verdict.SEND)

    def record(self, event: str, key: str, now: float, incident_id: int, verdict: Verdict) -> None:
        """Remember a stored incident (sent or rate limited) for later decisions."""
        self._seen[(event, key)] = (now, incident_id)
        if verdict is Verdict.SEND:
            self._sent.setdefault(event, deque()).append(now)
        if len(self._seen) > 4096:  # keep memory bounded under an alert storm of distinct keys
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self._window}


def backoff_delay(failed_attempts: int, settings: AlertSettings, retry_after: float | None = None) -> float:
    """Delay before the next attempt after `failed_attempts` (>= 1) failures."""
    backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, settings.backoff_factor)
    delay = backoff.delay(failed_attempts - 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.backoff_max_s))
    return delay
