"""The pure account-stream core: continuity, idempotence, malformed frames, backoff."""

from __future__ import annotations

from decimal import Decimal

from adapter_fixtures import MARKET, frame, order_json, position_json, trade_json

from hedged.venues.base import OrderStatus, OrderUpdate, PositionSnapshot, Side, Trade, Venue
from hedged.venues.extended.account import AccountCore, OrderTracker, SeqCheck, StreamStats


def core() -> AccountCore:
    return AccountCore(MARKET, OrderTracker(MARKET), StreamStats())


def orders(*rows: dict, seq: int) -> bytes:
    return frame("ORDER", {"orders": list(rows)}, seq)


def test_one_message_with_several_orders_yields_each() -> None:
    c = core()
    events, gap = c.handle(orders(order_json(), order_json(id=2, externalId="hd-2"), seq=1))
    assert not gap and [e.client_id for e in events] == ["hd-1", "hd-2"]


def test_duplicated_frame_is_ignored_and_counted() -> None:
    c = core()
    raw = orders(order_json(status="PARTIALLY_FILLED", filledQty="0.4"), seq=1)
    assert len(c.handle(raw)[0]) == 1
    assert c.handle(raw) == ([], False)
    assert c.stats.duplicates == 1


def test_seq_gap_is_reported() -> None:
    c = core()
    c.handle(orders(order_json(), seq=1))
    assert c.handle(orders(order_json(), seq=3)) == ([], True)
    assert c.stats.gaps == 1


def test_stale_partial_after_cancel_is_dropped_but_cancel_keeps_the_fill() -> None:
    c = core()
    c.handle(orders(order_json(status="NEW"), seq=1))
    cancelled, _ = c.handle(orders(order_json(status="CANCELLED", filledQty="0.4"), seq=2))
    stale, _ = c.handle(orders(order_json(status="PARTIALLY_FILLED", filledQty="0.4"), seq=3))
    assert cancelled[0].status is OrderStatus.CANCELLED and cancelled[0].filled_qty == Decimal("0.4")
    assert stale == [] and c.stats.stale_updates == 1


def test_fill_growth_is_forwarded_even_with_the_same_status() -> None:
    c = core()
    c.handle(orders(order_json(status="PARTIALLY_FILLED", filledQty="0.1"), seq=1))
    events, _ = c.handle(orders(order_json(status="PARTIALLY_FILLED", filledQty="0.3"), seq=2))
    lower, _ = c.handle(orders(order_json(status="PARTIALLY_FILLED", filledQty="0.2"), seq=3))
    assert events[0].filled_qty == Decimal("0.3") and lower == []


def test_trades_are_deduplicated_by_id_and_positions_forwarded() -> None:
    c = core()
    events, _ = c.handle(frame("TRADE", {"trades": [trade_json(), trade_json()],
                                         "positions": [position_json(side="SHORT", size="1")]}, 1))
    assert [type(e) for e in events] == [Trade, PositionSnapshot]
    assert events[1].size == Decimal("-1")


def test_malformed_frames_are_counted_and_later_frames_still_work() -> None:
    c = core()
    for bad in (b"garbage", frame("ORDER", {"orders": [{"id": "x"}]}, 1),
                orders(order_json(status="WHAT"), seq=2), frame(None, None, 3, error="nope")):
        assert c.handle(bad) == ([], False)
    assert c.stats.malformed == 4
    events, gap = c.handle(orders(order_json(), seq=4))
    assert len(events) == 1 and not gap


def test_other_markets_are_ignored() -> None:
    c = core()
    events, _ = c.handle(orders(order_json(market="BTC-USD"), seq=1))
    assert events == []


def test_pending_order_is_live_until_the_venue_reports_on_it() -> None:
    tracker = OrderTracker(MARKET)
    pending = OrderUpdate(venue=Venue.EXTENDED, market=MARKET, order_id=None, client_id="hd-1", side=Side.BUY,
                          status=OrderStatus.PENDING, qty=Decimal("1.37"), filled_qty=Decimal(0))
    tracker.pending(pending)
    assert tracker.live() == [pending]
    c = AccountCore(MARKET, tracker, StreamStats())
    c.handle(orders(order_json(status="REJECTED", statusReason="POST_ONLY_FAILED"), seq=1))
    assert tracker.live() == [] and tracker.get("hd-1").reason == "POST_ONLY_FAILED"


def test_seq_check_accepts_any_base_then_plus_one() -> None:
    seq = SeqCheck()
    assert [seq.check(s) for s in (5, 6, 6, 8)] == ["ok", "ok", "duplicate", "gap"]


# ---------------------------------------------------------------- properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hedged.venues.book import OrderBook  # noqa: E402
from hedged.venues.extended.book import BookFeed  # noqa: E402
from hedged.venues.extended.wire import decode_frame  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=8),
       cancel=st.booleans(), data=st.data())
def test_tracker_forwards_monotonic_fills_ending_at_the_truth_whatever_the_delivery_order(steps, cancel, data) -> None:
    # The venue's true history of one order: cumulative fills, then a terminal status.
    history, filled = [], Decimal(0)
    for step in steps:
        filled += step
        history.append(order_json(status="PARTIALLY_FILLED" if filled else "NEW", filledQty=str(filled)))
    history.append(order_json(status="CANCELLED" if cancel else "FILLED", filledQty=str(filled),
                              qty=str(filled if not cancel else filled + 1) if filled else "1"))
    delivered = data.draw(st.lists(st.sampled_from(history), max_size=20)) + [history[-1]]
    tracker = OrderTracker(MARKET)
    c = AccountCore(MARKET, tracker, StreamStats())
    forwarded = []
    for seq, row in enumerate(delivered, start=1):
        events, _ = c.handle(orders(row, seq=seq))
        forwarded += events
    fills = [e.filled_qty for e in forwarded]
    assert fills == sorted(fills) and fills[-1] == filled
    assert forwarded[-1].status.is_terminal and tracker.live() == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 20), st.integers(0, 50), st.booleans()), max_size=40))
def test_book_feed_matches_a_plain_dict_model(changes) -> None:
    feed = BookFeed(MARKET)
    feed.apply(decode_frame(frame("SNAPSHOT", {"m": MARKET, "b": [], "a": []}, 1)))
    model: dict[tuple[bool, int], int] = {}
    for seq, (is_bid, tick, size, with_c) in enumerate(changes, start=2):
        price = (100 - tick) if is_bid else (100 + tick)
        change = size - model.get((is_bid, price), 0)
        level = {"p": str(price), "q": str(change)} | ({"c": str(size)} if with_c else {})
        feed.apply(decode_frame(frame("DELTA", {"m": MARKET, "b": [level] if is_bid else [],
                                                "a": [] if is_bid else [level]}, seq)))
        if size:
            model[(is_bid, price)] = size
        else:
            model.pop((is_bid, price), None)
    expected = OrderBook()
    for (is_bid, price), size in model.items():
        expected.set_level(Side.BUY if is_bid else Side.SELL, Decimal(price), Decimal(size))
    for side in (Side.BUY, Side.SELL):
        assert feed.book.levels(side) == expected.levels(side)
