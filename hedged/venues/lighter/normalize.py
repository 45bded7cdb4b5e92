"""Normalization of Lighter wire orders, trades and positions to venue-neutral base.py events."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from hedged.venues.base import Liquidity, OrderStatus, OrderUpdate, PositionSnapshot, Side, Trade, Venue
from hedged.venues.lighter.markets import to_decimal

if TYPE_CHECKING:
    from hedged.venues.lighter.wire import WirePosition, WireTrade, WireOrder

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


FEE_RATE_UNIT = Decimal("0.000001")  # trade fee rates are integers in 1e-6 (UNCONFIRMED unit)


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
