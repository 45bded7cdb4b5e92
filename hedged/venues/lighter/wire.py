"""Lighter wire shapes (msgspec) and the only place integer encodings become `Decimal`.

Decoding is lenient: unknown fields are ignored and fields hedged does not use are
optional, because live replies sometimes lack fields the SDK models require. A frame
that cannot be decoded is logged and counted by `FrameDecoder`; it never raises into
the stream task.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import msgspec
from loguru import logger

from hedged.venues.base import (
    Liquidity,
    MarketRules,
    OrderStatus,
    OrderUpdate,
    PositionSnapshot,
    Side,
    Trade,
    Venue,
)

ZERO = Decimal(0)
MAX_CLIENT_ORDER_INDEX = 2**48 - 1
MAX_SIGNED_PRICE = 2**31 - 1  # SignCreateOrder declares `price` as a C int

# ---- REST --------------------------------------------------------------------


class Envelope(msgspec.Struct):
    """Every REST body: `code` 200 means OK; anything else is a failure whatever the HTTP status."""

    code: int = 200
    message: str | None = None


class OrderBookInfo(msgspec.Struct):
    symbol: str
    market_id: int
    market_type: str = "perp"
    status: str = "active"
    supported_size_decimals: int = 0
    supported_price_decimals: int = 0
    min_base_amount: str = "0"
    min_quote_amount: str = "0"
    taker_fee: str = "0"
    maker_fee: str = "0"
    multiplier: str | int | None = None
    quote_multiplier: str | int | None = None


class OrderBooksResp(Envelope):
    order_books: list[OrderBookInfo] = []


class NextNonceResp(Envelope):
    nonce: int = -1


class SendTxResp(Envelope):
    tx_hash: str | None = None
    predicted_execution_time_ms: int | None = None
    volume_quota_remaining: int | None = None


class WireOrder(msgspec.Struct):
    """An `Order`. Update frames may abbreviate it, so all but the ids are optional."""

    order_index: int
    client_order_index: int = 0
    market_index: int | None = None
    is_ask: bool | None = None
    initial_base_amount: str | None = None
    price: str | None = None
    filled_base_amount: str = "0"
    filled_quote_amount: str = "0"
    remaining_base_amount: str | None = None
    status: str = "open"
    time_in_force: str | None = None
    type: str | None = None
    timestamp: int = 0
    updated_at: int = 0


class OrdersResp(Envelope):
    orders: list[WireOrder] = []
    next_cursor: str | None = None


class WirePosition(msgspec.Struct):
    market_id: int
    symbol: str = ""
    sign: int = 1
    position: str = "0"
    avg_entry_price: str | None = None


class DetailedAccount(msgspec.Struct):
    index: int | None = None
    account_index: int | None = None
    available_balance: str | None = None
    collateral: str | None = None
    positions: list[WirePosition] = []


class AccountResp(Envelope):
    accounts: list[DetailedAccount] = []


# ---- WebSocket ---------------------------------------------------------------


class Level(msgspec.Struct):
    price: str
    size: str


class BookBody(msgspec.Struct):
    nonce: int
    begin_nonce: int = 0
    asks: list[Level] = []
    bids: list[Level] = []
    offset: int | None = None


class WireTrade(msgspec.Struct):
    trade_id: int
    market_id: int
    size: str
    price: str
    ask_id: int = 0
    bid_id: int = 0
    ask_client_id: int = 0
    bid_client_id: int = 0
    ask_account_id: int = 0
    bid_account_id: int = 0
    is_maker_ask: bool = False
    usd_amount: str | None = None
    taker_fee: int | None = None
    maker_fee: int | None = None
    timestamp: int = 0


class WireTx(msgspec.Struct):
    hash: str = ""
    type: int = 0
    status: int | None = None
    nonce: int | None = None
    api_key_index: int | None = None


class Frame(msgspec.Struct, tag_field="type"):
    channel: str | None = None


class Connected(Frame, tag="connected"):
    session_id: str | None = None


class Ping(Frame, tag="ping"):
    pass


class Pong(Frame, tag="pong"):
    pass


class Shutdown(Frame, tag="shutdown"):
    close_in_ms: int | None = None


class ErrorFrame(Frame, tag="error"):
    code: int | None = None
    message: str | None = None
    id: str | None = None


class BookFrame(Frame):
    order_book: BookBody | None = None
    timestamp: int = 0


class BookSnapshot(BookFrame, tag="subscribed/order_book"):
    pass


class BookUpdate(BookFrame, tag="update/order_book"):
    pass


class OrdersFrame(Frame):
    account: int | None = None
    orders: dict[str, list[WireOrder]] = {}


class OrdersSubscribed(OrdersFrame, tag="subscribed/account_orders"):
    pass


class OrdersUpdate(OrdersFrame, tag="update/account_orders"):
    pass


class TradesFrame(Frame):
    # The snapshot carries a (usually empty) list, updates a dict keyed by market id.
    trades: list[WireTrade] | dict[str, list[WireTrade]] = []


class TradesSubscribed(TradesFrame, tag="subscribed/account_all_trades"):
    pass


class TradesUpdate(TradesFrame, tag="update/account_all_trades"):
    pass


class PositionsFrame(Frame):
    positions: dict[str, WirePosition] = {}


class PositionsSubscribed(PositionsFrame, tag="subscribed/account_all_positions"):
    pass


class PositionsUpdate(PositionsFrame, tag="update/account_all_positions"):
    pass


class TxFrame(Frame):
    txs: list[WireTx] = []


class TxSubscribed(TxFrame, tag="subscribed/account_tx"):
    pass


class TxUpdate(TxFrame, tag="update/account_tx"):
    pass


class SendTxReply(Frame, tag="jsonapi/sendtx"):
    id: str | None = None
    code: int = 200
    message: str | None = None
    tx_hash: str | None = None
    predicted_execution_time_ms: int | None = None


AnyFrame = (
    Connected | Ping | Pong | Shutdown | ErrorFrame | BookSnapshot | BookUpdate | OrdersSubscribed | OrdersUpdate
    | TradesSubscribed | TradesUpdate | PositionsSubscribed | PositionsUpdate | TxSubscribed | TxUpdate | SendTxReply
)


class _Head(msgspec.Struct):
    type: str | None = None
    channel: str | None = None


class FrameDecoder:
    """Bytes -> typed frame, or None (counted) for malformed and unknown frames."""

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder(AnyFrame)
        self._head = msgspec.json.Decoder(_Head)
        self.malformed = 0
        self.unknown = 0

    def decode(self, raw: bytes | str) -> AnyFrame | None:
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError as exc:
            return self._reject(raw, exc)

    def _reject(self, raw: bytes | str, exc: Exception) -> None:
        try:
            head = self._head.decode(raw)
        except msgspec.DecodeError:
            head = None
        if head is not None and head.type is not None and head.type not in _KNOWN_TAGS:
            self.unknown += 1
            logger.debug("lighter_ws_unknown_frame type={} channel={}", head.type, head.channel)
            return None
        self.malformed += 1
        logger.warning("lighter_ws_malformed_frame error={} count={} head={!r}", exc, self.malformed, _preview(raw))
        return None


_KNOWN_TAGS = frozenset(
    cls.__struct_config__.tag  # type: ignore[attr-defined]
    for cls in AnyFrame.__args__  # type: ignore[attr-defined]
)


def _preview(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text[:160]


def encode(obj: object) -> bytes:
    return msgspec.json.encode(obj)


# ---- markets and integer encodings --------------------------------------------


class MarketUnsupported(ValueError):
    """The market's metadata is outside what hedged knows how to trade safely."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One Lighter market: ids and the integer scale of its prices and sizes."""

    symbol: str
    market_id: int
    size_decimals: int
    price_decimals: int
    min_base: Decimal
    min_quote: Decimal

    @staticmethod
    def from_info(info: OrderBookInfo) -> MarketSpec:
        for name in ("multiplier", "quote_multiplier"):
            value = getattr(info, name)
            if value is not None and Decimal(str(value)) != 1:
                raise MarketUnsupported(f"market {info.symbol} has {name}={value}; only 1 is supported")
        if info.status != "active":
            raise MarketUnsupported(f"market {info.symbol} is {info.status}")
        return MarketSpec(
            symbol=info.symbol,
            market_id=info.market_id,
            size_decimals=info.supported_size_decimals,
            price_decimals=info.supported_price_decimals,
            min_base=to_decimal(info.min_base_amount),
            min_quote=to_decimal(info.min_quote_amount),
        )

    def rules(self) -> MarketRules:
        return MarketRules(
            venue=Venue.LIGHTER,
            market=self.symbol,
            tick=Decimal(1).scaleb(-self.price_decimals),
            size_step=Decimal(1).scaleb(-self.size_decimals),
            min_size=self.min_base,
            min_notional=self.min_quote,
        )

    def encode_size(self, qty: Decimal) -> int:
        return _to_int(qty, self.size_decimals, "size")

    def encode_price(self, price: Decimal) -> int:
        value = _to_int(price, self.price_decimals, "price")
        if value > MAX_SIGNED_PRICE:
            raise ValueError(f"price {price} does not fit the signer's 32-bit price")
        return value

    def decode_size(self, value: int) -> Decimal:
        return Decimal(value).scaleb(-self.size_decimals)

    def decode_price(self, value: int) -> Decimal:
        return Decimal(value).scaleb(-self.price_decimals)


def _to_int(value: Decimal, decimals: int, what: str) -> int:
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value} is not a multiple of 10^-{decimals}")
    if scaled < 1:
        raise ValueError(f"{what} {value} encodes below 1")
    return int(scaled)


def to_decimal(text: str | int | float | None) -> Decimal:
    """A wire decimal string as Decimal; raises ValueError (not InvalidOperation) on junk."""
    if text is None:
        raise ValueError("missing decimal")
    try:
        value = Decimal(str(text))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {text!r}")
    return value


# ---- normalization to venue-neutral events -------------------------------------

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
    filled = to_decimal(o.filled_base_amount)
    if o.initial_base_amount is not None:
        qty = to_decimal(o.initial_base_amount)
    elif prior is not None:
        qty = prior.qty
    elif o.remaining_base_amount is not None:
        qty = filled + to_decimal(o.remaining_base_amount)
    else:
        raise ValueError(f"order {o.order_index} has no size")
    price = to_decimal(o.price) if o.price is not None else (prior.price if prior is not None else None)
    quote = to_decimal(o.filled_quote_amount)
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
        avg_price=(quote / filled) if filled > 0 else None,
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
