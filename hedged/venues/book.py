"""A venue-neutral price-level order book on sortedcontainers.

Pure data structure: no I/O, no Trio. Each venue's stream code decides what a
message means (snapshot, delta with change or absolute sizes, continuity) and
calls `replace`, `set_level` or `add_to_level`. Levels at size <= 0 disappear.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sortedcontainers import SortedDict

from hedged.venues.base import Side

ZERO = Decimal(0)


class OrderBook:
    __slots__ = ("_bids", "_asks")

    def __init__(self) -> None:
        # Bids keyed by negated price so index 0 is the best level on both sides.
        self._bids: SortedDict = SortedDict()
        self._asks: SortedDict = SortedDict()

    def _side(self, side: Side) -> SortedDict:
        return self._bids if side is Side.BUY else self._asks

    @staticmethod
    def _key(side: Side, price: Decimal) -> Decimal:
        return -price if side is Side.BUY else price

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()

    def replace(self, bids: Iterable[tuple[Decimal, Decimal]], asks: Iterable[tuple[Decimal, Decimal]]) -> None:
        """Drop everything and load absolute levels (a snapshot)."""
        self._bids = SortedDict({-p: s for p, s in bids if s > 0})
        self._asks = SortedDict({p: s for p, s in asks if s > 0})

    def set_level(self, side: Side, price: Decimal, size: Decimal) -> None:
        """Set the absolute size at a price; zero (or less) removes the level."""
        levels = self._side(side)
        key = self._key(side, price)
        if size > 0:
            levels[key] = size
        else:
            levels.pop(key, None)

    def add_to_level(self, side: Side, price: Decimal, change: Decimal) -> Decimal:
        """Add a size change at a price and return the resulting size."""
        levels = self._side(side)
        key = self._key(side, price)
        size = levels.get(key, ZERO) + change
        if size > 0:
            levels[key] = size
        else:
            levels.pop(key, None)
        return max(size, ZERO)

    def size_at(self, side: Side, price: Decimal) -> Decimal:
        return self._side(side).get(self._key(side, price), ZERO)

    def best(self, side: Side) -> tuple[Decimal, Decimal] | None:
        levels = self._side(side)
        if not levels:
            return None
        key, size = levels.peekitem(0)
        return (-key if side is Side.BUY else key), size

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        return self.best(Side.BUY)

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        return self.best(Side.SELL)

    def levels(self, side: Side, depth: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Best-first (price, size) pairs, at most `depth` of them."""
        items = self._side(side).items()
        out: list[tuple[Decimal, Decimal]] = []
        for key, size in items:
            if depth is not None and len(out) >= depth:
                break
            out.append(((-key if side is Side.BUY else key), size))
        return out

    def is_crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)
