"""Extended wire types (msgspec) and their translation into base.py events.

Everything here is pure: bytes in, Structs or base.py records out. Decoding is
tolerant where extended.md says the venue is inconsistent (two spellings of some
fields, error codes as int or string, timestamps occasionally in seconds) and
strict everywhere else: a frame that does not fit raises `WireError`, which the
stream layer logs and counts without dropping the connection.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from hedged.venues.base import (
    Liquidity,
    OrderStatus,
    OrderUpdate,
    PositionSnapshot,
    Side,
    Trade,
    Venue,
)

VENUE = Venue.EXTENDED


class WireError(ValueError):
    """A payload that does not have the documented shape."""


# ---------------------------------------------------------------- REST -----


class ApiError(msgspec.Struct, frozen=True):
    # The SDK sends an int, some doc examples a string ("NOT_FOUND"): compare as text.
    code: int | str | None = None
    message: str | None = None

    @property
    def code_text(self) -> str | None:
        return None if self.code is None else str(self.code)


class Pagination(msgspec.Struct, frozen=True):
    cursor: int | None = None
    count: int | None = None


class Envelope(msgspec.Struct, frozen=True):
    """The REST envelope; `data` stays raw so each endpoint decodes its own type."""

    status: str
    data: msgspec.Raw = msgspec.Raw()  # empty when absent (msgspec cannot make Raw optional)
    error: ApiError | None = None
    pagination: Pagination | None = None

    @property
    def ok(self) -> bool:
        return self.status == "OK" and self.error is None


class TradingConfig(msgspec.Struct, frozen=True, rename="camel"):
    min_order_size: Decimal
    min_order_size_change: Decimal
    min_price_change: Decimal
    max_limit_order_value: Decimal | None = None
    max_num_orders: int | None = None
    limit_price_cap: Decimal | None = None
    limit_price_floor: Decimal | None = None


class L2Config(msgspec.Struct, frozen=True, rename="camel"):
    type: str
    collateral_id: str
    collateral_resolution: int
    synthetic_id: str
    synthetic_resolution: int


class MarketStats(msgspec.Struct, frozen=True, rename="camel"):
    mark_price: Decimal | None = None
    funding_rate: Decimal | None = None  # the current rate per hour (Extended settles hourly)
    next_funding_rate: int | None = None  # despite the name, the next settlement's time (epoch ms)


class Market(msgspec.Struct, frozen=True, rename="camel"):
    name: str
    trading_config: TradingConfig
    l2_config: L2Config
    active: bool = True
    status: str | None = None  # docs only (ACTIVE|REDUCE_ONLY|...)
    market_stats: MarketStats | None = None


class FeeRates(msgspec.Struct, frozen=True, rename="camel"):
    market: str
    maker_fee_rate: Decimal
    taker_fee_rate: Decimal
    builder_fee_rate: Decimal | None = None


class PlacedOrder(msgspec.Struct, frozen=True, rename="camel"):
    id: int
    external_id: str | None = None


class Order(msgspec.Struct, frozen=True, rename="camel"):
    id: int
    market: str
    side: str
    status: str
    qty: Decimal
    external_id: str | None = None
    account_id: int | None = None
    type: str | None = None
    status_reason: str | None = None
    price: Decimal | None = None
    average_price: Decimal | None = None
    filled_qty: Decimal | None = None
    cancelled_qty: Decimal | None = None
    payed_fee: Decimal | None = None
    reduce_only: bool | None = None
    post_only: bool | None = None
    time_in_force: str | None = None
    created_time: int | None = None
    updated_time: int | None = None
    # Docs say expireTime, the SDK expiryTime; both are accepted, neither is needed.
    expiry_time: int | None = None
    expire_time: int | None = None


class Position(msgspec.Struct, frozen=True, rename="camel"):
    market: str
    side: str
    size: Decimal
    status: str | None = None
    open_price: Decimal | None = None
    mark_price: Decimal | None = None
    unrealised_pnl: Decimal | None = None
    realised_pnl: Decimal | None = None
    # Docs and SDK disagree (createdAt/updatedAt vs createdTime/updatedTime).
    updated_at: int | None = None
    updated_time: int | None = None


class AccountTrade(msgspec.Struct, frozen=True, rename="camel"):
    id: int | str
    market: str
    side: str
    price: Decimal
    qty: Decimal
    order_id: int | None = None
    external_order_id: str | None = None
    fee: Decimal = Decimal(0)
    is_taker: bool = False
    trade_type: str | None = None
    created_time: int | None = None


class Balance(msgspec.Struct, frozen=True, rename="camel"):
    balance: Decimal
    equity: Decimal | None = None
    available_for_trade: Decimal | None = None
    unrealised_pnl: Decimal | None = None


class FundingRow(msgspec.Struct, frozen=True, rename="camel"):
    """A row of `GET /user/funding/history` (the SDK 2.6.0 has no model for it; fields as the venue's
    docs and its answers list them)."""

    id: int | str
    market: str
    funding_fee: Decimal
    paid_time: int
    side: str | None = None
    size: Decimal | None = None
    funding_rate: Decimal | None = None
    mark_price: Decimal | None = None
    position_id: int | None = None


# -------------------------------------------------------------- streams -----


class StreamFrame(msgspec.Struct, frozen=True):
    """WS v1 envelope; `data` stays raw until the stream knows what it expects."""

    ts: int
    seq: int
    type: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    error: str | None = None


class Level(msgspec.Struct, frozen=True):
    # Stream levels are p/q/c, REST snapshot levels price/qty: accept either.
    p: Decimal | None = None
    q: Decimal | None = None
    c: Decimal | None = None
    price: Decimal | None = None
    qty: Decimal | None = None


class BookData(msgspec.Struct, frozen=True):
    m: str | None = None
    market: str | None = None
    b: list[Level] | None = None
    a: list[Level] | None = None
    bid: list[Level] | None = None
    ask: list[Level] | None = None

    @property
    def market_name(self) -> str | None:
        return self.m if self.m is not None else self.market

    @property
    def bids(self) -> list[Level]:
        return self.b if self.b is not None else (self.bid or [])

    @property
    def asks(self) -> list[Level]:
        return self.a if self.a is not None else (self.ask or [])


class AccountData(msgspec.Struct, frozen=True, rename="camel"):
    orders: list[Order] | None = None
    positions: list[Position] | None = None
    trades: list[AccountTrade] | None = None
    balance: Balance | None = None


# --------------------------------------------------------------- decoding ---

_envelope_dec = msgspec.json.Decoder(Envelope)
_frame_dec = msgspec.json.Decoder(StreamFrame)
_book_dec = msgspec.json.Decoder(BookData)
_account_dec = msgspec.json.Decoder(AccountData)
_decoders: dict[type, msgspec.json.Decoder] = {}


def _decode(dec: msgspec.json.Decoder, raw: bytes | str | msgspec.Raw, what: str):
    try:
        return dec.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # The exception text names the offending field but never echoes values.
        raise WireError(f"bad {what}: {exc}") from None


def decode_envelope(body: bytes) -> Envelope:
    return _decode(_envelope_dec, body, "envelope")


def has_data(raw: msgspec.Raw | None) -> bool:
    """False for an absent (empty) or JSON-null `data`."""
    return raw is not None and len(raw) > 0 and bytes(raw).strip() != b"null"


def decode_data(raw: msgspec.Raw | None, typ: type, what: str):
    """Decode an envelope's `data` as `typ` (e.g. `list[Order]`, `PlacedOrder`)."""
    if not has_data(raw):
        raise WireError(f"bad {what}: no data")
    dec = _decoders.get(typ)
    if dec is None:
        dec = _decoders[typ] = msgspec.json.Decoder(typ)
    return _decode(dec, raw, what)


def decode_frame(message: bytes | str) -> StreamFrame:
    return _decode(_frame_dec, message, "stream frame")


def decode_book(raw: msgspec.Raw | None) -> BookData:
    if not has_data(raw):
        raise WireError("bad book data: none")
    return _decode(_book_dec, raw, "book data")


def decode_account(raw: msgspec.Raw | None) -> AccountData:
    if not has_data(raw):
        return AccountData()
    return _decode(_account_dec, raw, "account data")


def level_price(level: Level) -> Decimal:
    price = level.p if level.p is not None else level.price
    if price is None:
        raise WireError("bad book level: no price")
    return price


def level_qty(level: Level) -> Decimal:
    """`q` (or `qty`): the absolute size in a SNAPSHOT, the change in a DELTA."""
    qty = level.q if level.q is not None else level.qty
    if qty is None:
        raise WireError("bad book level: no size")
    return qty


# ---------------------------------------------------------- normalizing -----

_STATUS = {
    "PENDING": OrderStatus.PENDING,  # not in the SDK enum; accepted in case a venue echo shows it
    "NEW": OrderStatus.OPEN,
    "UNTRIGGERED": OrderStatus.OPEN,
    "TRIGGERED": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}
_SIDE = {"BUY": Side.BUY, "SELL": Side.SELL}


def epoch_ms(value: int | None) -> int:
    """Epoch ms; a few doc examples show seconds, so small values are scaled."""
    if not value:
        return 0
    return value * 1000 if value < 10**11 else value


def side_of(text: str) -> Side:
    try:
        return _SIDE[text.upper()]
    except KeyError:
        raise WireError(f"unknown side {text!r}") from None


def to_order_update(order: Order, *, seq: int | None = None, last: OrderUpdate | None = None) -> OrderUpdate:
    """`last` is what we knew of this order: a `filledQty: null` (optional in the SDK's model) means
    "not stated", so the last known fill stands rather than reading as 0 (which would hide a cancel).
    Without a last known fill (e.g. after a restart) it is `qty - cancelledQty` when that is given."""
    status = _STATUS.get(order.status.upper())
    if status is None:
        raise WireError(f"unknown order status {order.status!r}")
    if order.filled_qty is not None:
        filled, avg = order.filled_qty, order.average_price
    elif last is not None:
        filled, avg = last.filled_qty, last.avg_price
    elif order.cancelled_qty is not None and Decimal(0) <= order.cancelled_qty <= order.qty:
        filled, avg = order.qty - order.cancelled_qty, order.average_price
    else:
        filled, avg = Decimal(0), None
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    reason = order.status_reason if order.status_reason not in (None, "NONE") else None
    return OrderUpdate(
        venue=VENUE,
        market=order.market,
        order_id=str(order.id),
        client_id=order.external_id,
        side=side_of(order.side),
        status=status,
        qty=order.qty,
        filled_qty=filled,
        avg_price=avg if filled > 0 else None,
        price=order.price,
        reason=reason,
        ts_ms=epoch_ms(order.updated_time or order.created_time),
        seq=seq,
    )


def to_trade(trade: AccountTrade) -> Trade:
    return Trade(
        venue=VENUE,
        market=trade.market,
        trade_id=str(trade.id),
        order_id=None if trade.order_id is None else str(trade.order_id),
        client_id=trade.external_order_id,
        side=side_of(trade.side),
        qty=trade.qty,
        price=trade.price,
        fee=trade.fee,
        liquidity=Liquidity.TAKER if trade.is_taker else Liquidity.MAKER,
        ts_ms=epoch_ms(trade.created_time),
    )


def to_position(position: Position) -> PositionSnapshot:
    """Signed size: LONG is +size, SHORT is -size, CLOSED is flat."""
    ts = epoch_ms(position.updated_at or position.updated_time)
    if (position.status or "").upper() == "CLOSED":
        return PositionSnapshot(venue=VENUE, market=position.market, size=Decimal(0), ts_ms=ts)
    side = position.side.upper()
    if side not in ("LONG", "SHORT"):
        raise WireError(f"unknown position side {position.side!r}")
    size = abs(position.size) if side == "LONG" else -abs(position.size)
    return PositionSnapshot(venue=VENUE, market=position.market, size=size, ts_ms=ts)


def positions_for_market(positions: list[Position], market: str) -> PositionSnapshot:
    """One market's signed position; missing from the list means flat."""
    found = [to_position(p) for p in positions if p.market == market]
    if not found:
        return PositionSnapshot(venue=VENUE, market=market, size=Decimal(0))
    # Several rows (e.g. a CLOSED one and an OPENED one) sum to the net.
    return PositionSnapshot(venue=VENUE, market=market, size=sum((p.size for p in found), Decimal(0)),
                            ts_ms=max(p.ts_ms for p in found))
