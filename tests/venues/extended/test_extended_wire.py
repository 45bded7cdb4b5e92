"""Decoding of constructed Extended payloads, including malformed ones."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest
from adapter_fixtures import MARKET, envelope, frame, order_json, position_json, trade_json

from hedged.venues.base import Liquidity, OrderStatus, Side
from hedged.venues.extended import wire


def test_envelope_accepts_error_code_as_int_or_string() -> None:
    as_int = wire.decode_envelope(envelope(status="ERROR", error={"code": 1121, "message": "step"}))
    as_str = wire.decode_envelope(envelope(status="ERROR", error={"code": "NOT_FOUND", "message": "x"}))
    assert as_int.error.code_text == "1121"
    assert as_str.error.code_text == "NOT_FOUND"
    assert not as_int.ok and not as_str.ok


def test_ok_envelope_with_error_object_is_not_ok() -> None:
    env = wire.decode_envelope(envelope({"id": 1}, error={"code": 1006, "message": "?"}))
    assert not env.ok


def test_placed_order_decodes_from_envelope_data() -> None:
    env = wire.decode_envelope(envelope({"id": 1802260413377142784, "externalId": "hd-1"}))
    placed = wire.decode_data(env.data, wire.PlacedOrder, "placed")
    assert placed == wire.PlacedOrder(id=1802260413377142784, external_id="hd-1")


def test_missing_data_is_a_wire_error() -> None:
    with pytest.raises(wire.WireError):
        wire.decode_data(None, wire.PlacedOrder, "placed")


def test_non_json_envelope_is_a_wire_error_without_echoing_the_body() -> None:
    with pytest.raises(wire.WireError) as info:
        wire.decode_envelope(b"<html>secret-ish</html>")
    assert "secret-ish" not in str(info.value)


def test_order_accepts_both_expiry_spellings_and_unknown_fields() -> None:
    a = msgspec.convert(order_json(), wire.Order)
    b = msgspec.convert({**order_json(expireTime=5, somethingNew=[1]), "expiryTime": None}, wire.Order)
    assert a.expiry_time == 1795622560208
    assert b.expire_time == 5


def test_cancelled_order_with_partial_fill_keeps_its_fill() -> None:
    order = msgspec.convert(order_json(status="CANCELLED", filledQty="0.40", averagePrice="142.37",
                                       cancelledQty="0.97"), wire.Order)
    update = wire.to_order_update(order, seq=45)
    assert update.status is OrderStatus.CANCELLED
    assert update.filled_qty == Decimal("0.40")
    assert update.avg_price == Decimal("142.37")
    assert update.order_id == "1802260413377142784" and update.client_id == "hd-1" and update.seq == 45


def test_new_order_with_fill_is_reported_partially_filled() -> None:
    order = msgspec.convert(order_json(status="NEW", filledQty="0.1"), wire.Order)
    assert wire.to_order_update(order).status is OrderStatus.PARTIALLY_FILLED


def test_post_only_failure_carries_its_reason_for_either_terminal_status() -> None:
    for status in ("CANCELLED", "REJECTED"):
        order = msgspec.convert(order_json(status=status, statusReason="POST_ONLY_FAILED"), wire.Order)
        update = wire.to_order_update(order)
        assert update.status.is_terminal and update.reason == "POST_ONLY_FAILED" and update.filled_qty == 0


def test_undocumented_status_reason_is_accepted() -> None:
    order = msgspec.convert(order_json(status="CANCELLED", statusReason="ACCOUNT_LIQUIDATION"), wire.Order)
    assert wire.to_order_update(order).reason == "ACCOUNT_LIQUIDATION"


def test_unknown_order_status_is_a_wire_error() -> None:
    order = msgspec.convert(order_json(status="WEIRD"), wire.Order)
    with pytest.raises(wire.WireError):
        wire.to_order_update(order)


def test_timestamps_in_seconds_are_scaled_to_ms() -> None:
    order = msgspec.convert(order_json(updatedTime=1795540000), wire.Order)
    assert wire.to_order_update(order).ts_ms == 1795540000000


def test_positions_are_signed_and_closed_or_missing_markets_are_flat() -> None:
    rows = [msgspec.convert(position_json(side="SHORT", size="2.5"), wire.Position)]
    assert wire.positions_for_market(rows, MARKET).size == Decimal("-2.5")
    closed = [msgspec.convert(position_json(status="CLOSED"), wire.Position)]
    assert wire.positions_for_market(closed, MARKET).size == 0
    assert wire.positions_for_market([], MARKET).size == 0


def test_position_accepts_created_time_spelling() -> None:
    pos = msgspec.convert({**position_json(), "updatedAt": None, "updatedTime": 1795540002901}, wire.Position)
    assert wire.to_position(pos).ts_ms == 1795540002901


def test_trade_maps_maker_flag_and_external_id() -> None:
    trade = wire.to_trade(msgspec.convert(trade_json(), wire.AccountTrade))
    assert trade.liquidity is Liquidity.MAKER and trade.client_id == "hd-1" and trade.side is Side.BUY
    assert trade.trade_id == "77" and trade.qty == Decimal("0.40")


def test_stream_frame_with_several_orders_decodes() -> None:
    data = {"orders": [order_json(), order_json(id=2, externalId="hd-2")], "trades": [trade_json()]}
    f = wire.decode_frame(frame("ORDER", data, 7))
    account = wire.decode_account(f.data)
    assert [o.external_id for o in account.orders] == ["hd-1", "hd-2"]
    assert f.seq == 7


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b"[]", b'{"type":"ORDER"}', b'{"type":"ORDER","ts":"x","seq":1}',
     json.dumps({"type": "ORDER", "ts": 1, "seq": None}).encode()],
)
def test_malformed_stream_frames_are_wire_errors(payload: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_frame(payload)


def test_malformed_account_data_is_a_wire_error() -> None:
    f = wire.decode_frame(frame("ORDER", {"orders": [{"id": "not-an-int"}]}, 1))
    with pytest.raises(wire.WireError):
        wire.decode_account(f.data)


def test_book_levels_accept_both_spellings() -> None:
    data = wire.decode_book(wire.decode_frame(frame("SNAPSHOT", {"market": MARKET, "bid": [{"price": "1", "qty": "2"}],
                                                                  "ask": []}, 1)).data)
    assert data.market_name == MARKET
    assert wire.level_price(data.bids[0]) == 1 and wire.level_qty(data.bids[0]) == 2


def test_a_null_fill_keeps_the_last_known_fill_else_follows_the_cancelled_qty() -> None:
    cancelled = msgspec.convert(order_json(status="CANCELLED", filledQty=None, cancelledQty="0.97", qty="1.37"),
                                wire.Order)
    last = wire.to_order_update(msgspec.convert(order_json(status="PARTIALLY_FILLED", filledQty="0.4"), wire.Order))
    kept = wire.to_order_update(cancelled, last=last)
    assert (kept.status, kept.filled_qty) == (OrderStatus.CANCELLED, Decimal("0.4"))
    derived = wire.to_order_update(cancelled)  # nothing known (a restart): qty - cancelledQty
    assert (derived.status, derived.filled_qty) == (OrderStatus.CANCELLED, Decimal("0.40"))
    bare = msgspec.convert(order_json(status="CANCELLED", filledQty=None), wire.Order)
    assert wire.to_order_update(bare).filled_qty == 0
