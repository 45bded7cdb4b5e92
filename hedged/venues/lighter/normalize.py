"""Normalization of Lighter wire orders, trades and positions to venue-neutral base.py events."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from hedged.venues.base import (
    AccountMoney, FundingPayment, Liquidity, OrderStatus, OrderUpdate, PositionSnapshot, Side, Trade, Venue,
)  # fmt: skip
from hedged.venues.lighter.markets import to_decimal

if TYPE_CHECKING:
    from hedged.venues.lighter.wire import DetailedAccount, WireFunding, WireOrder, WirePosition, WireTrade

ZERO = Decimal(0)

_STATUS = {
    "in-progress": OrderStatus.PENDING,
    "pending": OrderStatus.OPEN,
    "open": OrderStatus.OPEN,
    "filled": OrderStatus.FILLED,
}


def order_status(wire_status: str, filled: Decimal) -> OrderStatus:
    # Every `canceled*` is terminal and may carry a partial fill: CANCELLED + filled_qty counts it.
    if wire_status.startswith("canceled"):
        return OrderStatus.CANCELLED
    status = _STATUS.get(wire_status)
    if status is None:
        raise ValueError(f"unknown order status {wire_status!r}")
    if status is OrderStatus.OPEN and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def order_update(o: WireOrder, market: str, client_id: str | None, prior: OrderUpdate | None) -> OrderUpdate:
    """A wire order as an OrderUpdate; `prior` fills in what an abbreviated update leaves out."""
    if o.is_ask is not None:
        side = Side.SELL if o.is_ask else Side.BUY
    elif prior is not None:
        side = prior.side
    else:
        raise ValueError(f"order {o.order_index} has no side")
    if o.filled_base_amount is not None:
        filled = to_decimal(o.filled_base_amount)
        avg = to_decimal(o.filled_quote_amount or "0") / filled if filled > 0 else None
    elif prior is not None:
        filled, avg = prior.filled_qty, prior.avg_price
    else:
        filled, avg = ZERO, None
    if o.initial_base_amount is not None:
        qty = to_decimal(o.initial_base_amount)
    elif prior is not None:
        qty = prior.qty
    elif o.remaining_base_amount is not None:
        qty = filled + to_decimal(o.remaining_base_amount)
    else:
        raise ValueError(f"order {o.order_index} has no size")
    price = to_decimal(o.price) if o.price is not None else (prior.price if prior is not None else None)
    status = order_status(o.status, filled)
    return OrderUpdate(
        venue=Venue.LIGHTER,
        market=market,
        order_id=str(o.order_index) if o.order_index else None,
        client_id=client_id,
        side=side,
        status=status,
        qty=qty,
        filled_qty=filled,
        avg_price=avg,
        price=price,
        reason=o.status if status is OrderStatus.CANCELLED else None,
        ts_ms=o.updated_at or o.timestamp,
    )


# Trade `taker_fee`/`maker_fee` are integer rates in 1e-6 of the quote amount: the unit the official SDK's
# partner-integration docs give for its fee integers (`fee = quote × value / 1e6`, 500 = 5 bps), and the one
# under which the published Premium tiers are whole numbers (0.028 % = 280, 0.0196 % = 196, 0.004 % = 40).
FEE_RATE_UNIT = Decimal("0.000001")


def trade_event(t: WireTrade, market: str, account: int, client_id: str | None) -> Trade | None:
    """Our side of a trade, or None when neither side is our account."""
    if t.bid_account_id == account:
        side, order_id, ours_is_maker = Side.BUY, t.bid_id, not t.is_maker_ask
    elif t.ask_account_id == account:
        side, order_id, ours_is_maker = Side.SELL, t.ask_id, t.is_maker_ask
    else:
        return None
    qty, price = to_decimal(t.size), to_decimal(t.price)
    rate = t.maker_fee if ours_is_maker else t.taker_fee
    fee = (qty * price * rate * FEE_RATE_UNIT) if rate else ZERO
    return Trade(
        venue=Venue.LIGHTER,
        market=market,
        trade_id=str(t.trade_id),
        order_id=str(order_id) if order_id else None,
        client_id=client_id,
        side=side,
        qty=qty,
        price=price,
        fee=fee,
        liquidity=Liquidity.MAKER if ours_is_maker else Liquidity.TAKER,
        ts_ms=t.timestamp,
    )


def position_snapshot(p: WirePosition, market: str, ts_ms: int = 0) -> PositionSnapshot:
    size = to_decimal(p.position)
    # A flat market may show sign 1 with position 0; the sign only matters when size is non-zero.
    signed = -size if (p.sign < 0 and size != 0) else size
    return PositionSnapshot(venue=Venue.LIGHTER, market=market, size=signed, ts_ms=ts_ms)


def epoch_ms(ts: int) -> int:
    """A venue timestamp in ms. PositionFunding's unit is UNCONFIRMED (trades carry ms, funding candles
    seconds): a value below 10^11 can only be seconds (10^11 ms is 1973)."""
    return ts * 1000 if 0 < ts < 10**11 else ts


def funding_payment(f: WireFunding, market: str) -> FundingPayment:
    """A `PositionFunding` as a FundingPayment. `change` is taken as the collateral change (received > 0;
    the sign is UNCONFIRMED: the SDK's model documents none; the simulator follows this reading). The id
    is market + funding round, which is what the venue numbers (`funding_id`)."""
    size = to_decimal(f.position_size) if f.position_size is not None else None
    position = None if size is None else (-size if f.position_side == "short" else size)
    return FundingPayment(
        venue=Venue.LIGHTER, market=market, payment_id=f"{f.market_id}:{f.funding_id}", amount=to_decimal(f.change),
        rate=to_decimal(f.rate) if f.rate is not None else None, position=position, ts_ms=epoch_ms(f.timestamp),
    )  # fmt: skip


def account_money(a: DetailedAccount, market_id: int, market: str, price_decimals: int, ts_ms: int) -> AccountMoney:
    """`GET /account` as the venue's money picture: collateral, the market's position PnL (trade PnL only,
    as the venue splits it) and its funding (`total_funding_paid_out` is paid out, so received = minus it;
    sign UNCONFIRMED). The mark is `position_value / position` on the price grid (None when flat: nothing
    to mark). A market missing from `positions` gives None for these fields, never zero."""
    p = next((p for p in a.positions if p.market_id == market_id), None)

    def dec(x: str | None) -> Decimal | None:
        return to_decimal(x) if x is not None else None

    size, value = (dec(p.position), dec(p.position_value)) if p is not None else (None, None)
    mark = (value / size).quantize(Decimal(1).scaleb(-price_decimals)) if size and value is not None else None
    paid_out = dec(p.total_funding_paid_out) if p is not None else None
    return AccountMoney(
        venue=Venue.LIGHTER, market=market, balance=dec(a.collateral),
        realised_pnl=dec(p.realized_pnl) if p is not None else None,
        unrealised_pnl=dec(p.unrealized_pnl) if p is not None else None, mark_price=mark,
        funding_total=None if paid_out is None else -paid_out, ts_ms=ts_ms,
    )  # fmt: skip
