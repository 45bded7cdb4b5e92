"""Decoding of constructed Lighter payloads, including malformed ones."""

from decimal import Decimal

import msgspec
import pytest

from hedged.venues.base import Liquidity, OrderStatus, Side
from hedged.venues.lighter import markets, normalize, wire

ACCOUNT = 604118


def test_order_book_snapshot_frame_decodes_levels_and_nonces():
    raw = (
        b'{"type":"subscribed/order_book","channel":"order_book:2","offset":40211,"timestamp":1795540000101,'
        b'"order_book":{"code":0,"asks":[{"price":"142.450","size":"35.120"}],"bids":[{"price":"142.410","size":"12.500"}],'
        b'"offset":40211,"nonce":5550120,"begin_nonce":0,"last_updated_at":1795540000100200}}'
    )
    frame = wire.FrameDecoder().decode(raw)
    assert isinstance(frame, wire.BookSnapshot)
    assert frame.order_book.nonce == 5550120
    assert frame.order_book.asks[0].price == "142.450"


def test_malformed_json_is_counted_and_returns_none():
    dec = wire.FrameDecoder()
    assert dec.decode(b'{"type":"update/order_book", "order_book": {') is None
    assert dec.decode(b"\xff\xfe") is None
    assert dec.malformed == 2 and dec.unknown == 0


def test_known_type_with_wrong_field_types_is_malformed_not_a_crash():
    dec = wire.FrameDecoder()
    assert dec.decode(b'{"type":"update/order_book","order_book":{"nonce":"abc"}}') is None
    assert dec.decode(b'{"type":"update/account_orders","orders":{"2":[{"order_index":"x"}]}}') is None
    assert dec.malformed == 2


def test_unknown_frame_type_is_counted_separately_and_ignored():
    dec = wire.FrameDecoder()
    assert dec.decode(b'{"type":"update/market_stats","channel":"market_stats:2"}') is None
    assert dec.unknown == 1 and dec.malformed == 0


def test_unknown_fields_are_ignored_and_missing_unused_fields_tolerated():
    raw = b'{"type":"update/account_orders","account":1,"extra":5,"orders":{"2":[{"order_index":7,"status":"open","new_field":1}]}}'
    frame = wire.FrameDecoder().decode(raw)
    assert isinstance(frame, wire.OrdersUpdate)
    assert frame.orders["2"][0].order_index == 7


def test_trades_snapshot_list_and_update_dict_both_decode():
    dec = wire.FrameDecoder()
    snap = dec.decode(b'{"type":"subscribed/account_all_trades","trades":[],"total_volume":0}')
    upd = dec.decode(
        b'{"type":"update/account_all_trades","trades":{"2":[{"trade_id":1,"market_id":2,"size":"0.4","price":"142.5"}]}}'
    )
    assert isinstance(snap, wire.TradesSubscribed) and snap.trades == []
    assert isinstance(upd, wire.TradesUpdate) and upd.trades["2"][0].size == "0.4"


def _spec(**kw):
    info = wire.OrderBookInfo(
        symbol="SOL",
        market_id=2,
        supported_size_decimals=3,
        supported_price_decimals=3,
        min_base_amount="0.050",
        min_quote_amount="10.000000",
        multiplier="1",
        **kw,
    )
    return markets.MarketSpec.from_info(info)


def test_market_spec_encodes_the_documented_example():
    spec = _spec()
    assert spec.encode_size(Decimal("1.250")) == 1250
    assert spec.encode_price(Decimal("142.370")) == 142370
    assert spec.decode_price(142370) == Decimal("142.370")
    rules = spec.rules()
    assert rules.tick == Decimal("0.001") and rules.size_step == Decimal("0.001") and rules.min_size == Decimal("0.050")


@pytest.mark.parametrize("bad", [Decimal("1.2505"), Decimal("0"), Decimal("0.0001")])
def test_market_spec_refuses_sizes_off_the_grid_or_below_one_unit(bad):
    with pytest.raises(ValueError):
        _spec().encode_size(bad)


def test_market_spec_refuses_prices_beyond_the_signers_32_bit_int():
    with pytest.raises(ValueError):
        _spec().encode_price(Decimal("2147483.648"))


def test_market_with_a_multiplier_other_than_one_is_refused():
    with pytest.raises(markets.MarketUnsupported):
        _spec(quote_multiplier="1000")


def _order(**kw):
    base = dict(order_index=281476930120044, client_order_index=91007, is_ask=False, initial_base_amount="1.250",
                price="142.655", filled_base_amount="0.900", filled_quote_amount="128.349500",
                remaining_base_amount="0.000", status="canceled-not-enough-liquidity")
    base.update(kw)
    return msgspec.convert(base, wire.WireOrder)


def test_cancelled_order_with_partial_fill_is_a_cancel_that_carries_the_fill():
    upd = normalize.order_update(_order(), "SOL", "91007", None)
    assert upd.status is OrderStatus.CANCELLED
    assert upd.filled_qty == Decimal("0.900")
    assert upd.avg_price == Decimal("128.349500") / Decimal("0.900")
    assert upd.reason == "canceled-not-enough-liquidity" and upd.side is Side.BUY


def test_open_order_with_fills_is_partially_filled():
    upd = normalize.order_update(_order(status="open", remaining_base_amount="0.350"), "SOL", "1", None)
    assert upd.status is OrderStatus.PARTIALLY_FILLED


def test_abbreviated_update_takes_side_and_size_from_the_prior_observation():
    prior = normalize.order_update(_order(status="open", filled_base_amount="0", filled_quote_amount="0"), "SOL", "1", None)
    short = msgspec.convert({"order_index": 5, "client_order_index": 91007, "status": "filled",
                             "filled_base_amount": "1.250", "filled_quote_amount": "178.0"}, wire.WireOrder)
    upd = normalize.order_update(short, "SOL", "1", prior)
    assert (upd.side, upd.qty, upd.status) == (Side.BUY, Decimal("1.250"), OrderStatus.FILLED)


def test_abbreviated_update_without_prior_or_side_is_refused():
    short = msgspec.convert({"order_index": 5, "status": "filled"}, wire.WireOrder)
    with pytest.raises(ValueError):
        normalize.order_update(short, "SOL", None, None)


def test_unknown_status_is_refused_rather_than_guessed():
    with pytest.raises(ValueError):
        normalize.order_update(_order(status="weird"), "SOL", None, None)


def test_trade_side_and_liquidity_follow_our_account():
    t = msgspec.convert({"trade_id": 9, "market_id": 2, "size": "0.400", "price": "142.565", "ask_id": 1, "bid_id": 2,
                         "bid_client_id": 91007, "ask_account_id": 77120, "bid_account_id": ACCOUNT,
                         "is_maker_ask": True, "taker_fee": 196}, wire.WireTrade)
    tr = normalize.trade_event(t, "SOL", ACCOUNT, "91007")
    assert tr.side is Side.BUY and tr.liquidity is Liquidity.TAKER and tr.order_id == "2"
    assert tr.fee == Decimal("0.400") * Decimal("142.565") * 196 * Decimal("0.000001")
    assert normalize.trade_event(t, "SOL", 1, None) is None


def test_short_position_is_negative_and_flat_with_sign_one_is_zero():
    short = msgspec.convert({"market_id": 2, "sign": -1, "position": "1.5"}, wire.WirePosition)
    flat = msgspec.convert({"market_id": 2, "sign": -1, "position": "0.000"}, wire.WirePosition)
    assert normalize.position_snapshot(short, "SOL").size == Decimal("-1.5")
    assert normalize.position_snapshot(flat, "SOL").size == 0


def test_junk_decimal_raises_value_error_not_invalid_operation():
    with pytest.raises(ValueError):
        markets.to_decimal("12,5")
    with pytest.raises(ValueError):
        markets.to_decimal("NaN")
