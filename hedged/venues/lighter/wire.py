"""Lighter wire shapes (msgspec) and frame decoding. Integer encodings become `Decimal` in markets.py
and normalize.py, which import this module (for types); this one imports neither.

Decoding is lenient: unknown fields are ignored and fields hedged does not use are
optional, because live replies sometimes lack fields the SDK models require. A frame
that cannot be decoded is logged and counted by `FrameDecoder`; it never raises into
the stream task.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from loguru import logger

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
    filled_base_amount: str | None = None  # absent = not stated: the last known fill stands (never 0)
    filled_quote_amount: str | None = None
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
    position_value: str | None = None
    unrealized_pnl: str | None = None
    realized_pnl: str | None = None
    total_funding_paid_out: str | None = None  # optional in the SDK's AccountPosition


class DetailedAccount(msgspec.Struct):
    index: int | None = None
    account_index: int | None = None
    available_balance: str | None = None
    collateral: str | None = None
    positions: list[WirePosition] = []


class AccountResp(Envelope):
    accounts: list[DetailedAccount] = []


class WireFunding(msgspec.Struct):
    """A `PositionFunding` (REST `positionFunding` and the `account_all` channel's `funding_histories`)."""

    timestamp: int
    market_id: int
    funding_id: int
    change: str
    rate: str | None = None
    position_size: str | None = None
    position_side: str | None = None
    discount: str | None = None


class PositionFundingsResp(Envelope):
    position_fundings: list[WireFunding] = []
    next_cursor: str | None = None


class FundingRate(msgspec.Struct):
    market_id: int
    exchange: str
    rate: Decimal  # a JSON number in the SDK's model; decoded from its text, exactly
    symbol: str = ""


class FundingRatesResp(Envelope):
    funding_rates: list[FundingRate] = []


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


class TradesResp(Envelope):
    """`GET /api/v1/trades`: one page, and the cursor of the next (absent on the last page)."""

    trades: list[WireTrade] = []
    next_cursor: str | None = None


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


class AccountAllFrame(Frame):
    # Only the funding payments are read from `account_all` (its trades and positions come on their own
    # channels): `{"<M>": [PositionFunding]}`, every payment so far in the snapshot, new ones in updates.
    funding_histories: dict[str, list[WireFunding]] = {}


class AccountAllSubscribed(AccountAllFrame, tag="subscribed/account_all"):
    pass


class AccountAllUpdate(AccountAllFrame, tag="update/account_all"):
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
    | AccountAllSubscribed | AccountAllUpdate
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
