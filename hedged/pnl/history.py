"""Fold the journal's money rows into a `PnlBook` (read-only; used at daemon start and by `hedged pnl`).

The book is fed the venue's trade records (rows with a trade id: exact price and fee) in the
order they were journaled, and every funding payment. A fill the journal knows only from an
order's cumulative quantity (no trade record yet: the venue's trade stream or history has not
delivered it) has no price of its own and no fee; it is left out and reported as `unpriced`, so
the numbers shown are exact for what they cover and say what they do not.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from hedged.ledger.orders import Roles
from hedged.pnl.core import PnlBook
from hedged.venues.base import ZERO, Side, Venue

# (kind "fill" | "funding", ts_ms, cycle_seq) -> the buckets an event goes to
Bucketer = Callable[[str, int, int | None], Iterable[Hashable]]


DAY_MS = 86_400_000  # Unix time has no leap seconds: a UTC day is always this long


def day_of(ts_ms: int) -> str:
    """The UTC date of a venue time in ms, as "YYYY-MM-DD" (every trade asks: on the ledger's hot path)."""
    return _day_name(ts_ms // DAY_MS)


@functools.lru_cache(maxsize=8)
def _day_name(day: int) -> str:
    return datetime.fromtimestamp(day * (DAY_MS // 1000), UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Folded:
    fills: int
    payments: int
    unpriced: dict[Venue, Decimal]  # filled qty known only from order rows, per venue
    last_price: dict[Venue, Decimal]  # price of the newest trade per venue (a fallback mark)
    funding_ts: dict[Venue, int]  # newest funding payment time per venue (the funding back-fill watermark)


def fold(conn: sqlite3.Connection, roles: Roles, book: PnlBook, bucketer: Bucketer) -> Folded:
    """Feed every money row of the journal behind `conn` into `book`."""
    legs = {roles.maker.venue: roles.maker.market, roles.hedge.venue: roles.hedge.market}
    fills = payments = 0
    funding_ts: dict[Venue, int] = {}
    order_qty: dict[tuple[str, str], Decimal] = {}
    trade_qty: dict[tuple[str, str], Decimal] = {}
    last_price: dict[Venue, Decimal] = {}
    rows = conn.execute("SELECT venue, market, order_key, side, qty, price, trade_id, fee, liquidity, cycle_seq, "
                        "ts_ms FROM fills ORDER BY id")
    for venue_s, market, order_key, side, qty, price, trade_id, fee, liq, cycle_seq, ts_ms in rows:
        venue = Venue(venue_s)
        if legs.get(venue) != market:
            continue
        q = Decimal(qty)
        if trade_id is None:
            order_qty[(venue_s, order_key)] = order_qty.get((venue_s, order_key), ZERO) + q
            continue
        trade_qty[(venue_s, order_key)] = trade_qty.get((venue_s, order_key), ZERO) + q
        if price is None:
            continue
        book.fill(venue, Side(side), q, Decimal(price), None if fee is None else Decimal(fee), liq,
                  bucketer("fill", ts_ms, cycle_seq))
        last_price[venue] = Decimal(price)
        fills += 1
    for venue_s, market, amount, cycle_seq, ts_ms in conn.execute(
            "SELECT venue, market, amount, cycle_seq, ts_ms FROM funding ORDER BY ts_ms, venue, payment_id"):
        venue = Venue(venue_s)
        if legs.get(venue) != market:
            continue
        book.funding(venue, Decimal(amount), bucketer("funding", ts_ms, cycle_seq))
        funding_ts[venue] = max(funding_ts.get(venue, 0), ts_ms)
        payments += 1
    unpriced: dict[Venue, Decimal] = {}
    for key, q in order_qty.items():
        missing = q - trade_qty.get(key, ZERO)
        if missing > 0:
            v = Venue(key[0])
            unpriced[v] = unpriced.get(v, ZERO) + missing
    return Folded(fills, payments, unpriced, last_price, funding_ts)


def cycle_starts(conn: sqlite3.Connection) -> dict[int, tuple[str, int]]:
    """Journal-wide cycle number -> (the run's own cycle number, start time ms)."""
    out: dict[int, tuple[str, int]] = {}
    for cycle_id, detail, ts_ms in conn.execute("SELECT cycle_id, detail, ts_ms FROM cycles WHERE phase = 'start' "
                                                "ORDER BY id"):
        head = detail.split(" ", 1)[0]
        if head.startswith("seq=") and head[4:].isdigit():
            out[int(head[4:])] = (cycle_id, ts_ms)
    return out
