"""Lighter simulator: data records and transaction decoding/validation (pure, no I/O).

`parse_tx(tx_type, tx_info)` turns a `sendTx` body into a typed `ParsedTx` or raises `TxRejected` with the
venue's error code. Signatures cannot be verified offline (the shipped library exports no verify
function), so a well-formed `Sig` (base64 of 80 bytes) from a registered key is accepted.

Error codes: 21104/21105/21108/21100/21504/21728 are the venue's (lighter.md §8). Codes for the other
refusals are not documented; the simulator uses 21120 (bad signature), 21121 (tx expired), 21122
(invalid order fields) and 20001 (malformed request), always with a descriptive `message`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
TX_CANCEL_ALL = 16
TX_MODIFY_ORDER = 17

ERR_MALFORMED = 20001
ERR_UNKNOWN_ACCOUNT = 21100
ERR_INVALID_NONCE = 21104
ERR_BATCH_NONCE = 21105
ERR_KEY_NOT_REGISTERED = 21108
ERR_BAD_SIGNATURE = 21120
ERR_TX_EXPIRED = 21121
ERR_INVALID_ORDER = 21122
ERR_AUTH = 21504
ERR_DUPLICATE_CLIENT_ORDER = 21728
WS_MALFORMED = 30000
WS_ALREADY_SUBSCRIBED = 30003
WS_SUBSCRIBE_FAILED = 30012

MAX_CLIENT_ORDER_INDEX = 2**48 - 1

_COMMON = ("AccountIndex", "ApiKeyIndex", "ExpiredAt", "Nonce")
_FIELDS: dict[int, tuple[str, ...]] = {
    TX_CREATE_ORDER: _COMMON
    + ("MarketIndex", "ClientOrderIndex", "BaseAmount", "Price", "IsAsk", "Type", "TimeInForce", "ReduceOnly",
       "TriggerPrice", "OrderExpiry"),  # fmt: skip
    TX_CANCEL_ORDER: _COMMON + ("MarketIndex", "Index"),
    TX_CANCEL_ALL: _COMMON + ("TimeInForce", "Time"),
    TX_MODIFY_ORDER: _COMMON + ("MarketIndex", "Index", "BaseAmount", "Price", "TriggerPrice"),
}

# Wire spellings of the signer's numbers (lighter.md §5.5).
ORDER_TYPES = {0: "limit", 1: "market"}
TIME_IN_FORCE = {0: "immediate-or-cancel", 1: "good-till-time", 2: "post-only"}
TIF_IOC, TIF_GTT, TIF_POST_ONLY = 0, 1, 2


class TxRejected(Exception):
    """A refusal at the API: the reply carries `code` and `message`; the nonce is not consumed."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ParsedTx:
    tx_type: int
    info: dict[str, Any]
    raw: str  # tx_info text as received (echoed into account_tx `info`)

    @property
    def account(self) -> int:
        return self.info["AccountIndex"]

    @property
    def api_key(self) -> int:
        return self.info["ApiKeyIndex"]

    @property
    def nonce(self) -> int:
        return self.info["Nonce"]


def parse_tx(tx_type: Any, tx_info: Any, *, now_ms: int) -> ParsedTx:
    """Decode and check one tx as the API server would before it consumes a nonce."""
    try:
        tx_type = int(tx_type)
    except (TypeError, ValueError):
        raise TxRejected(ERR_MALFORMED, "invalid tx_type") from None
    if tx_type not in _FIELDS:
        raise TxRejected(ERR_MALFORMED, f"unsupported tx_type {tx_type}")
    if isinstance(tx_info, dict):  # jsonapi/sendtx may embed the object
        info, raw = tx_info, json.dumps(tx_info, separators=(",", ":"))
    else:
        try:
            info, raw = json.loads(tx_info), str(tx_info)
        except (TypeError, ValueError):
            raise TxRejected(ERR_MALFORMED, "tx_info is not JSON") from None
    if not isinstance(info, dict):
        raise TxRejected(ERR_MALFORMED, "tx_info is not an object")
    for name in _FIELDS[tx_type]:
        value = info.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TxRejected(ERR_MALFORMED, f"tx_info field {name} missing or not an integer")
    sig = info.get("Sig")
    try:
        ok = isinstance(sig, str) and len(base64.b64decode(sig, validate=True)) == 80
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise TxRejected(ERR_BAD_SIGNATURE, "invalid signature")
    if info["ExpiredAt"] <= now_ms:
        raise TxRejected(ERR_TX_EXPIRED, "transaction expired")
    if tx_type == TX_CREATE_ORDER:
        _check_create(info)
    elif tx_type == TX_MODIFY_ORDER and (info["BaseAmount"] < 1 or info["Price"] < 1):
        raise TxRejected(ERR_INVALID_ORDER, "invalid base amount or price")
    return ParsedTx(tx_type=tx_type, info=info, raw=raw)


def _check_create(info: dict[str, Any]) -> None:
    if info["BaseAmount"] < 1:
        raise TxRejected(ERR_INVALID_ORDER, "BaseAmount should not be less than 1")
    if info["Price"] < 1:
        raise TxRejected(ERR_INVALID_ORDER, "OrderPrice should not be less than 1")
    if not 0 <= info["ClientOrderIndex"] <= MAX_CLIENT_ORDER_INDEX:
        raise TxRejected(ERR_INVALID_ORDER, "ClientOrderIndex is invalid")
    if info["Type"] not in ORDER_TYPES:
        raise TxRejected(ERR_INVALID_ORDER, "unsupported order type")
    tif = info["TimeInForce"]
    if tif not in TIME_IN_FORCE:
        raise TxRejected(ERR_INVALID_ORDER, "OrderTimeInForce is not valid")
    if (tif == TIF_IOC) != (info["OrderExpiry"] == 0):
        raise TxRejected(ERR_INVALID_ORDER, "OrderExpiry is invalid")
    if info["Type"] == 1 and tif != TIF_IOC:
        raise TxRejected(ERR_INVALID_ORDER, "OrderTimeInForce is not valid")


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One simulated Lighter market. Prices/sizes on the wire are integers scaled by 10^decimals."""

    symbol: str = "SOL"
    market_id: int = 2
    size_decimals: int = 3
    price_decimals: int = 3
    min_base_amount: Decimal = Decimal("0.050")
    min_quote_amount: Decimal = Decimal("10")
    initial_margin_fraction: Decimal = Decimal("0.05")  # 20x

    def price(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.price_decimals)

    def size(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.size_decimals)

    def price_units(self, price: Decimal) -> int:
        return int(price.scaleb(self.price_decimals).to_integral_value())

    def size_units(self, size: Decimal) -> int:
        return int(size.scaleb(self.size_decimals).to_integral_value())

    def fmt_price(self, units: int) -> str:
        return f"{self.price(units):.{self.price_decimals}f}"

    def fmt_size(self, units: int) -> str:
        return f"{self.size(units):.{self.size_decimals}f}"


@dataclass(slots=True)
class SimOrder:
    """The venue's record of one order (integers as signed; amounts cumulative)."""

    order_index: int
    client_order_index: int
    market_id: int
    account: int
    api_key: int
    is_ask: bool
    order_type: int
    tif: int
    reduce_only: bool
    price: int
    initial_base: int
    remaining_base: int
    order_expiry: int
    nonce: int
    created_ms: int
    filled_base: int = 0
    filled_quote: Decimal = Decimal(0)
    status: str = "open"
    updated_ms: int = 0
    version: int = 0

    @property
    def live(self) -> bool:
        return self.status in ("open", "pending", "in-progress")


@dataclass(frozen=True, slots=True)
class SimTrade:
    trade_id: int
    market_id: int
    tx_hash: str
    price: int
    size: int
    ask_id: int
    bid_id: int
    ask_client_id: int
    bid_client_id: int
    ask_account: int
    bid_account: int
    is_maker_ask: bool
    timestamp_ms: int
    taker_position_before: Decimal
    maker_position_before: Decimal
    taker_fee: int = 0  # fee rates charged, in 1e-6 of the quote amount (omitted from the JSON when 0)
    maker_fee: int = 0


@dataclass(slots=True)
class SimPosition:
    market_id: int
    size: int = 0  # signed, in size units
    entry_quote: Decimal = Decimal(0)  # |size| x avg entry price, in quote (exact)
    realized_pnl: Decimal = Decimal(0)  # trade PnL only (fees and funding are not in it)
    funding_paid_out: Decimal = Decimal(0)  # cumulative funding paid (+) / received (-): total_funding_paid_out


FEE_UNIT = Decimal("0.000001")  # trade fee rates are integers in 1e-6 of the quote amount


@dataclass(frozen=True, slots=True)
class LighterFees:
    """Fee rates by account tier, in 1e-6 of the quote amount (lighter.md §7; the unit is the one the
    official partner-integration docs give for fee integers: `fee = quote × value / 1e6`)."""

    maker: int = 0
    taker: int = 0

    @classmethod
    def standard(cls) -> LighterFees:
        return cls(0, 0)

    @classmethod
    def premium(cls) -> LighterFees:
        """Premium with no staked LIT: 0.004 % maker, 0.028 % taker."""
        return cls(40, 280)


@dataclass(frozen=True, slots=True)
class SimFunding:
    """One funding payment to one account (a `PositionFunding` of `GET /positionFunding` and of the
    `account_all` channel's `funding_histories`). `change` is what the account received (+) or paid (-)."""

    timestamp_ms: int
    market_id: int
    funding_id: int
    change: Decimal
    rate: Decimal
    position_size: Decimal  # absolute
    position_side: str  # long | short


@dataclass(slots=True)
class TxRecord:
    """A tx the API accepted; `status` 1 pending until the sequencer runs it, then 2 executed or 0 failed."""

    tx_hash: str
    tx: ParsedTx
    queued_ms: int
    block_height: int
    status: int = 1
    executed_ms: int = 0
    event_info: dict[str, Any] = field(default_factory=dict)
