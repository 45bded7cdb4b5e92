"""Journal rows produced by the pure core and written by the journal.

The core appends plain tuples (cheap to build on the hot path) to an outbox; the journal
writes them in order. Each tuple is `(KIND, values...)`; the column order per kind is
fixed here and used by both the core (`row_*` builders) and `journal.py`.
Rows hold Decimals and StrEnums as they are (both immutable, so a row is a snapshot);
the journal stores Decimals as text so nothing is lost to binary floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hedged.ledger.orders import OrderRecord
    from hedged.venues.base import FundingPayment

ORDER = "order"  # upsert of an order's whole state, keyed by order key
FILL = "fill"  # insert-or-ignore, keyed by fill key (venue+trade id, or venue+order id+cumulative qty)
SNAPSHOT = "snapshot"  # a venue position snapshot as received
ADJUSTMENT = "adjustment"  # a reconciliation position adjustment with its reason (unique adjustment id)
LINK = "link"  # upsert: how much of a maker fill a hedge order covers
RESIDUAL = "residual"  # lot residual after planning a hedge
CYCLE = "cycle"  # cycle phase changes, from the strategy
FUNDING = "funding"  # insert-or-ignore, keyed by venue + the venue's payment id
COUNTER = "counter"  # core id counters, so keys stay unique across restarts
POSITION = "position"  # upsert: a leg's position at the end of a batch (replay starts from it)

Row = tuple


def row_order(o: OrderRecord) -> Row:
    return (
        ORDER, o.key, o.leg.venue, o.leg.market, o.order_id, o.client_id, o.side, o.status, o.qty, o.cum,
        o.trade_qty, o.counted, o.baseline, o.avg_price, o.is_hedge, o.cancel_requested, o.merged_into,
        o.closed_by_reconcile, o.ts_ms,
    )


def row_fill(
    fill_key: str, order_key: str, venue: str, market: str, side: str, qty: Decimal, price: Decimal | None,
    counted_delta: Decimal, trade_id: str | None, ts_ms: int, *, fee: Decimal | None = None,
    liquidity: str | None = None, cycle_seq: int | None = None,
) -> Row:
    # ts_ms stays last: the journal stamps a 0 there with the wall clock of the write.
    return (FILL, fill_key, order_key, venue, market, side, qty, price, counted_delta, trade_id, fee, liquidity,
            cycle_seq, ts_ms)


def row_funding(p: FundingPayment, cycle_seq: int | None = None) -> Row:
    return (FUNDING, p.venue, p.payment_id, p.market, p.amount, p.rate, p.position, cycle_seq, p.ts_ms)
