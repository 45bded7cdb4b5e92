"""Lighter order book: level storage and the `begin_nonce` continuity rule (pure, no I/O).

The `offset` field is not contiguous (it belongs to the API server and jumps on
reconnect), so continuity is checked only with `update.begin_nonce == previous.nonce`.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from sortedcontainers import SortedDict

from hedged.venues.lighter.wire import BookBody, Level, to_decimal

ZERO = Decimal(0)


class LevelBook:
    """Price levels of one market; sizes are absolute and a zero size deletes the level."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict(lambda price: -price)  # best (highest) first
        self.asks: SortedDict = SortedDict()  # best (lowest) first

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def apply(self, bids: list[Level], asks: list[Level]) -> None:
        _apply_side(self.bids, bids)
        _apply_side(self.asks, asks)

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        return self.bids.peekitem(0) if self.bids else None

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        return self.asks.peekitem(0) if self.asks else None

    def crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]


def _apply_side(side: SortedDict, levels: list[Level]) -> None:
    for level in levels:
        price, size = to_decimal(level.price), to_decimal(level.size)
        if size == 0:
            side.pop(price, None)
        else:
            side[price] = size


class Verdict(enum.Enum):
    APPLIED = "applied"
    IGNORED = "ignored"  # before the snapshot, stale or a duplicate
    GAP = "gap"  # continuity broken: the book is dropped, re-subscribe for a new snapshot


class BookSync:
    """Applies snapshots and updates to a `LevelBook` under the nonce-chain rule."""

    def __init__(self) -> None:
        self.book = LevelBook()
        self.nonce: int | None = None  # None = waiting for a snapshot
        self.gaps = 0
        self.ignored = 0

    @property
    def live(self) -> bool:
        return self.nonce is not None

    def reset(self) -> None:
        """Forget the book (reconnect/resubscribe): updates are ignored until a snapshot."""
        self.book.clear()
        self.nonce = None

    def on_snapshot(self, body: BookBody) -> Verdict:
        self.book.clear()
        self.book.apply(body.bids, body.asks)
        self.nonce = body.nonce
        return Verdict.APPLIED

    def on_update(self, body: BookBody) -> Verdict:
        if self.nonce is None or body.nonce <= self.nonce:
            # Before the snapshot, or already covered (duplicate / late frame of an old subscription).
            self.ignored += 1
            return Verdict.IGNORED
        if body.begin_nonce != self.nonce:
            self.gaps += 1
            self.reset()
            return Verdict.GAP
        self.book.apply(body.bids, body.asks)
        self.nonce = body.nonce
        return Verdict.APPLIED
