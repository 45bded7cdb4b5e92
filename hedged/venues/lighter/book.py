"""Lighter order book: the `begin_nonce` continuity rule over the shared `OrderBook` (pure, no I/O).

The `offset` field is not contiguous (it belongs to the API server and jumps on
reconnect), so continuity is checked only with `update.begin_nonce == previous.nonce`.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from hedged.venues.base import Side
from hedged.venues.book import OrderBook
from hedged.venues.lighter.markets import to_decimal
from hedged.venues.lighter.wire import BookBody, Level


def _levels(levels: list[Level]) -> list[tuple[Decimal, Decimal]]:
    return [(to_decimal(level.price), to_decimal(level.size)) for level in levels]


def _apply(book: OrderBook, bids: list[Level], asks: list[Level]) -> None:
    # Lighter sizes are absolute; a zero size (any spelling) deletes the level.
    for side, levels in ((Side.BUY, bids), (Side.SELL, asks)):
        for price, size in _levels(levels):
            book.set_level(side, price, size)


class Verdict(enum.Enum):
    APPLIED = "applied"
    IGNORED = "ignored"  # before the snapshot, stale or a duplicate
    GAP = "gap"  # continuity broken: the book is dropped, re-subscribe for a new snapshot
    CROSSED = "crossed"  # the book is now crossed (bid >= ask): dropped like a gap, never published


class BookSync:
    """Applies snapshots and updates to an `OrderBook` under the nonce-chain rule."""

    def __init__(self) -> None:
        self.book = OrderBook()
        self.nonce: int | None = None  # None = waiting for a snapshot
        self.gaps = 0
        self.ignored = 0
        self.crossed = 0

    @property
    def live(self) -> bool:
        return self.nonce is not None

    def reset(self) -> None:
        """Forget the book (reconnect/resubscribe): updates are ignored until a snapshot."""
        self.book.clear()
        self.nonce = None

    def on_snapshot(self, body: BookBody) -> Verdict:
        self.book.replace(_levels(body.bids), _levels(body.asks))
        self.nonce = body.nonce
        return self._check_crossed()

    def on_update(self, body: BookBody) -> Verdict:
        if self.nonce is None or body.nonce <= self.nonce:
            # Before the snapshot, or already covered (duplicate / late frame of an old subscription).
            self.ignored += 1
            return Verdict.IGNORED
        if body.begin_nonce != self.nonce:
            self.gaps += 1
            self.reset()
            return Verdict.GAP
        _apply(self.book, body.bids, body.asks)
        self.nonce = body.nonce
        return self._check_crossed()

    def _check_crossed(self) -> Verdict:
        # A crossed book no longer matches the venue's: drop it (not live) until a fresh snapshot.
        if self.book.is_crossed():
            self.crossed += 1
            self.reset()
            return Verdict.CROSSED
        return Verdict.APPLIED
