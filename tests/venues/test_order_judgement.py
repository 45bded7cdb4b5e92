"""One judgement of order updates for both adapters (hedged/venues/orderstate.py, issue 16 point 3): the verdict
table, and the same stream of updates through Extended's OrderTracker and Lighter's stream handler gives the same
forwarded fills and holds the same state."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from hedged.venues.base import OrderStatus as S
from hedged.venues.base import OrderUpdate, Side, Venue
from hedged.venues.extended.account import OrderTracker
from hedged.venues.lighter import wire
from hedged.venues.lighter.account import AccountEvents
from hedged.venues.lighter.ids import ClientOrderIndexAllocator, OrderRegistry
from hedged.venues.lighter.markets import MarketSpec
from hedged.venues.orderstate import Verdict, judge, remembered

D = Decimal
SPEC = MarketSpec(symbol="SOL", market_id=2, size_decimals=3, price_decimals=3, min_base=D("0.05"), min_quote=D(10))


def upd(status: S, filled: str, ts: int, venue: Venue = Venue.EXTENDED) -> OrderUpdate:
    return OrderUpdate(venue=venue, market="SOL", order_id="7", client_id="7", side=Side.BUY, status=status,
                       qty=D(2), filled_qty=D(filled), avg_price=D(100) if D(filled) else None, ts_ms=ts)  # fmt: skip


@pytest.mark.parametrize(("last", "new", "verdict"), [
    (None, upd(S.OPEN, "0", 1), Verdict.NEWS),
    (upd(S.PENDING, "0", 0), upd(S.OPEN, "0", 1), Verdict.NEWS),
    (upd(S.OPEN, "0", 1), upd(S.PARTIALLY_FILLED, "1", 2), Verdict.NEWS),
    (upd(S.PARTIALLY_FILLED, "1", 2), upd(S.PARTIALLY_FILLED, "1.5", 2), Verdict.NEWS),  # more fill, same stamp
    (upd(S.PARTIALLY_FILLED, "1", 2), upd(S.CANCELLED, "1", 3), Verdict.NEWS),
    (upd(S.PARTIALLY_FILLED, "1", 2), upd(S.PARTIALLY_FILLED, "1", 2), Verdict.DUPLICATE),
    (upd(S.FILLED, "2", 3), upd(S.CANCELLED, "2", 4), Verdict.DUPLICATE),  # one finished state for another
    (upd(S.CANCELLED, "1", 3), upd(S.PARTIALLY_FILLED, "1", 2), Verdict.STALE),  # a finished order never reopens
    (upd(S.PARTIALLY_FILLED, "1", 3), upd(S.OPEN, "0", 2), Verdict.STALE),
    (upd(S.PARTIALLY_FILLED, "1", 3), upd(S.PARTIALLY_FILLED, "0.5", 3), Verdict.STALE),
    (upd(S.PARTIALLY_FILLED, "1", 3), upd(S.PARTIALLY_FILLED, "0.5", 4), Verdict.REGRESSED),
    (upd(S.CANCELLED, "1", 3), upd(S.PARTIALLY_FILLED, "1.5", 2), Verdict.NEWS),  # late news of more fill
])  # fmt: skip
def test_the_verdicts(last, new, verdict):
    assert judge(new, last) is verdict


def test_what_is_held_keeps_the_highest_fill_and_a_finished_order_finished():
    held = remembered(upd(S.PARTIALLY_FILLED, "0.5", 4), upd(S.PARTIALLY_FILLED, "1", 3), Verdict.REGRESSED)
    assert (held.filled_qty, held.ts_ms, held.status) == (D(1), 4, S.PARTIALLY_FILLED)
    held = remembered(upd(S.PARTIALLY_FILLED, "1.5", 2), upd(S.CANCELLED, "1", 3), Verdict.NEWS)
    assert (held.filled_qty, held.status, held.ts_ms) == (D("1.5"), S.CANCELLED, 3)


def _lighter_events(registry: OrderRegistry) -> AccountEvents:
    """Lighter's real frame -> update path, without a socket (to_update reads only the registry and the spec)."""

    def unused(*_a, **_k):
        raise AssertionError("not on this path")

    return AccountEvents(settings=None, registry=registry, top_of_book=None, rest=None, nonces=None, wall=unused,
                         spec=lambda: SPEC, private=unused, positions=unused, open_orders=unused)  # fmt: skip


def _lighter_frame(u: OrderUpdate) -> wire.WireOrder:
    status = {S.OPEN: "open", S.PARTIALLY_FILLED: "open", S.CANCELLED: "canceled", S.FILLED: "filled"}[u.status]
    filled = int(u.filled_qty * 1000)
    return wire.WireOrder(order_index=7, client_order_index=7, market_index=2, is_ask=False,
                          initial_base_amount="2.000", price="100.000", filled_base_amount=f"{u.filled_qty:.3f}",
                          filled_quote_amount=f"{u.filled_qty * 100:.6f}", remaining_base_amount=f"{2 - filled / 1000:.3f}",
                          status=status, updated_at=u.ts_ms)  # fmt: skip


def test_a_late_report_of_more_fill_on_a_finished_order_is_forwarded_by_both_and_it_stays_finished(tmp_path):
    # A cancel whose reported fill lags, then the partial fill it did not count yet (stamped before it).
    stream = [upd(S.OPEN, "0", 1), upd(S.CANCELLED, "1", 4), upd(S.PARTIALLY_FILLED, "1.5", 3),
              upd(S.PARTIALLY_FILLED, "1", 2), upd(S.CANCELLED, "1", 4)]  # fmt: skip

    tracker = OrderTracker("SOL")
    extended = [u.filled_qty for u in stream if tracker.observe(u)]

    registry = OrderRegistry(ClientOrderIndexAllocator(tmp_path, random.Random(1)), tmp_path)
    registry.track(7, "7", upd(S.PENDING, "0", 0, Venue.LIGHTER))
    events = _lighter_events(registry)
    out = [events.to_update(_lighter_frame(u)) for u in stream]
    lighter = [u.filled_qty for u in out if u is not None]

    assert extended == [D(0), D(1), D("1.5")]  # the rest is stale or nothing new: dropped
    assert lighter[:3] == extended  # Lighter answers the stale ones with what it holds
    for held in (tracker.get("7"), registry.orders[7].last):
        assert (held.filled_qty, held.status) == (D("1.5"), S.CANCELLED)
    assert tracker.live() == []  # not reopened
