"""Extended full-depth book feed: the pure state machine behind the book stream.

Rules (extended.md §11.1):
* `seq` is 1 on the first SNAPSHOT of a connection and +1 on each message after it.
  A message whose `seq` is not `last + 1` means we missed something: the caller
  reconnects. A `seq` at or below the last one is a duplicate and is ignored
  (applying a change-size DELTA twice would corrupt the book).
* SNAPSHOT levels carry the absolute size in `q`; it replaces the whole book.
* DELTA levels carry the change in `q` and the resulting size in `c`: set `c` when
  present, otherwise add `q`; a level at zero disappears.
* A frame that leaves the book crossed (best bid >= best ask) is `CROSSED`: the book no
  longer matches the venue's, so it is never published and the caller reconnects for a
  fresh SNAPSHOT (the REST snapshot has no seq to join the stream with).
"""

from __future__ import annotations

import enum
from decimal import Decimal

from hedged.venues.base import Side, TopOfBook
from hedged.venues.book import OrderBook
from hedged.venues.extended.wire import VENUE, StreamFrame, decode_book, level_price, level_qty


class BookResult(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # seq already seen: ignored
    GAP = "gap"  # continuity lost: reconnect
    CROSSED = "crossed"  # applied, and the book is now crossed (bid >= ask): never publish it, reconnect
    IGNORED = "ignored"  # other market / error frame / unknown type


class BookFeed:
    """Applies one connection's frames to an `OrderBook`; `reset()` on every new connection."""

    def __init__(self, market: str) -> None:
        self.market = market
        self.book = OrderBook()
        self.last_seq: int | None = None
        self.snapshots = 0
        self.deltas = 0

    @property
    def synced(self) -> bool:
        return self.last_seq is not None

    def reset(self) -> None:
        self.book.clear()
        self.last_seq = None

    def apply(self, frame: StreamFrame) -> BookResult:
        """Apply one decoded frame. Raises WireError on a malformed payload (book untouched)."""
        kind = (frame.type or "").upper()
        if frame.error is not None or kind not in ("SNAPSHOT", "DELTA"):
            return BookResult.IGNORED
        if self.last_seq is not None and frame.seq <= self.last_seq:
            return BookResult.DUPLICATE
        if kind == "DELTA" and (self.last_seq is None or frame.seq != self.last_seq + 1):
            return BookResult.GAP
        if kind == "SNAPSHOT" and self.last_seq is not None and frame.seq != self.last_seq + 1:
            return BookResult.GAP
        data = decode_book(frame.data)
        if data.market_name is not None and data.market_name != self.market:
            return BookResult.IGNORED
        if kind == "SNAPSHOT":
            # Parse fully before touching the book so a bad level leaves it intact.
            bids = [(level_price(lv), level_qty(lv)) for lv in data.bids]
            asks = [(level_price(lv), level_qty(lv)) for lv in data.asks]
            self.book.replace(bids, asks)
            self.snapshots += 1
        else:
            changes = [(Side.BUY, lv) for lv in data.bids] + [(Side.SELL, lv) for lv in data.asks]
            parsed = []
            for side, lv in changes:
                price = level_price(lv)
                if lv.c is not None:
                    parsed.append((side, price, lv.c, True))
                else:
                    parsed.append((side, price, level_qty(lv), False))
            for side, price, size, absolute in parsed:
                if absolute:
                    self.book.set_level(side, price, size)
                else:
                    self.book.add_to_level(side, price, size)
            self.deltas += 1
        self.last_seq = frame.seq
        if self.book.is_crossed():
            return BookResult.CROSSED
        return BookResult.APPLIED

    def top(self, now: float) -> TopOfBook:
        bid = self.book.best_bid()
        ask = self.book.best_ask()
        return TopOfBook(
            venue=VENUE,
            market=self.market,
            bid=bid[0] if bid else None,
            bid_size=bid[1] if bid else Decimal(0),
            ask=ask[0] if ask else None,
            ask_size=ask[1] if ask else Decimal(0),
            ts=now,
        )


def same_top(a: TopOfBook | None, b: TopOfBook | None) -> bool:
    """Equal prices and sizes (the local timestamp does not count)."""
    if a is None or b is None:
        return a is b
    return (a.bid, a.bid_size, a.ask, a.ask_size) == (b.bid, b.bid_size, b.ask, b.ask_size)

