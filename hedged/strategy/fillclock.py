"""The clock of `fill_to_sent`: maker fills not yet covered by a hedge order, oldest first.

Each fill starts its clock when the frame carrying it was read off the socket
(`OrderUpdate.received_at`); the first hedge order that covers it takes one sample. A fill on the
other side nets against the newest waiting fills (it needs no hedge of its own). Owned by the
executor; fed by the ledger's `on_fill` hook, read by the age gauge.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal

import trio

from hedged.venues.base import OrderUpdate, Trade, Venue


class FillClock:
    def __init__(self, venue: Venue, min_size: Callable[[], Decimal], on_sample: Callable[[float], None]) -> None:
        self.venue = venue  # the maker venue: only its fills need a hedge
        self.min_size = min_size  # below this a remainder is lot residual, not a fill waiting for its hedge
        self.on_sample = on_sample
        self._waiting: deque[list] = deque()  # [arrival time, signed qty not yet covered]

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def note(self, event, delta: Decimal) -> None:
        """Ledger hook: a venue event moved a position."""
        if event.venue != self.venue or not isinstance(event, OrderUpdate | Trade):
            return
        at = event.received_at if event.received_at is not None else trio.current_time()
        while self._waiting and delta and (self._waiting[-1][1] > 0) != (delta > 0):
            last = self._waiting[-1]
            take = min(abs(last[1]), abs(delta))
            last[1] -= take * (1 if last[1] > 0 else -1)
            delta -= take * (1 if delta > 0 else -1)
            if not last[1]:
                self._waiting.pop()
        if delta:
            self._waiting.append([at, delta])

    def cover(self, qty: Decimal, sent_at: float) -> None:
        """A hedge of `qty` was sent: each fill it covers (oldest first) gets its sample."""
        while self._waiting and qty > 0:
            entry = self._waiting[0]
            take = min(qty, abs(entry[1]))
            qty -= take
            entry[1] -= take * (1 if entry[1] > 0 else -1)
            if abs(entry[1]) < self.min_size():
                self._waiting.popleft()
                self.on_sample(max(0.0, sent_at - entry[0]))

    def clear(self) -> None:
        self._waiting.clear()

    def oldest_age(self) -> float:
        """Seconds since the oldest uncovered fill arrived (0 if none)."""
        if not self._waiting:
            return 0.0
        try:
            now = trio.current_time()
        except RuntimeError:  # read outside the Trio run (a scrape after the daemon stopped)
            return 0.0
        return max(0.0, now - self._waiting[0][0])
