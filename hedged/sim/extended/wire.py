"""JSON shapes the Extended simulator emits (camelCase, decimals as strings, ints as ints).

Field names follow extended.md §4, §6, §11 and §12 so the official x10 models parse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from hedged.sim.extended.config import ExtendedSimSettings, SimKeys

_encoder = msgspec.json.Encoder()
ZERO = Decimal(0)


def dec(x: Decimal) -> str:
    """A decimal as plain text (never exponent notation)."""
    return format(x, "f")


def dumps(obj: Any) -> bytes:
    return _encoder.encode(obj)


def ok(data: Any = None, *, pagination: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {"status": "OK"}
    if data is not None:
        body["data"] = data
    if pagination is not None:
        body["pagination"] = pagination
    return dumps(body)


def error(code: int, message: str) -> bytes:
    return dumps({"status": "ERROR", "error": {"code": code, "message": message}})


def stream_frame(frame_type: str, data: Any, ts: int, seq: int) -> str:
    return _encoder.encode({"type": frame_type, "data": data, "error": None, "ts": ts, "seq": seq}).decode()


@dataclass(slots=True)
class SimOrder:
    id: int
    external_id: str
    market: str
    type: str
    side: str  # BUY | SELL
    price: Decimal
    qty: Decimal
    reduce_only: bool
    post_only: bool
    time_in_force: str
    fee_cap: Decimal
    created_ms: int
    updated_ms: int
    expiry_ms: int
    status: str = "PENDING"  # internal until the engine acts; never emitted
    reason: str | None = None
    filled: Decimal = ZERO
    notional: Decimal = ZERO  # sum(price * qty) of fills, for averagePrice
    fee_paid: Decimal = ZERO
    cancelled_qty: Decimal = ZERO
    accepted_at: float | None = None  # trio time the engine accepted it (GET-by-id lag)
    cancel_id: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled - self.cancelled_qty

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def sign(self) -> int:
        return 1 if self.side == "BUY" else -1


def order_json(o: SimOrder, account_id: int, *, null_fill: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": o.id,
        "accountId": account_id,
        "externalId": o.external_id,
        "market": o.market,
        "type": o.type,
        "side": o.side,
        "status": o.status,
        "statusReason": o.reason or "NONE",
        "price": dec(o.price),
        "averagePrice": dec((o.notional / o.filled).quantize(Decimal("1e-8")).normalize()) if o.filled else "0",
        "qty": dec(o.qty),
        "filledQty": dec(o.filled),
        "cancelledQty": dec(o.cancelled_qty),
        "payedFee": dec(o.fee_paid),
        "reduceOnly": o.reduce_only,
        "postOnly": o.post_only,
        "timeInForce": o.time_in_force,
        "createdTime": o.created_ms,
        "updatedTime": o.updated_ms,
        "expiryTime": o.expiry_ms,
        "expireTime": o.expiry_ms,
    }
    if null_fill:
        out["filledQty"] = None
    return out


@dataclass(slots=True)
class SimPosition:
    id: int
    market: str
    size: Decimal = ZERO  # signed: long > 0
    open_price: Decimal = ZERO
    open_cost: Decimal = ZERO  # exact entry cost of |size| (open_price is derived from it, for display)
    realised: Decimal = ZERO  # trade PnL - fees + funding, as the SDK's RealisedPnlBreakdownModel splits it
    created_ms: int = 0
    updated_ms: int = 0


def position_json(p: SimPosition, account_id: int, mark: Decimal, leverage: Decimal) -> dict[str, Any]:
    size = abs(p.size)
    upnl = (mark - p.open_price) * p.size
    return {
        "id": p.id,
        "accountId": account_id,
        "market": p.market,
        "status": "OPENED" if p.size else "CLOSED",
        "side": "LONG" if p.size >= 0 else "SHORT",
        "leverage": dec(leverage),
        "size": dec(size),
        "value": dec((size * mark).quantize(Decimal("1e-6"))),
        "openPrice": dec(p.open_price),
        "markPrice": dec(mark),
        "unrealisedPnl": dec(upnl.quantize(Decimal("1e-6"))),
        "realisedPnl": dec(p.realised.quantize(Decimal("1e-6"))),
        "createdAt": p.created_ms,
        "updatedAt": p.updated_ms,
        "createdTime": p.created_ms,
        "updatedTime": p.updated_ms,
    }


def balance_json(balance: Decimal, upnl: Decimal, initial_margin: Decimal, ts: int) -> dict[str, Any]:
    q = Decimal("1e-6")
    equity = balance + upnl
    available = equity - initial_margin
    return {
        "collateralName": "USD",
        "balance": dec(balance.quantize(q)),
        "equity": dec(equity.quantize(q)),
        "availableForTrade": dec(available.quantize(q)),
        "availableForWithdrawal": dec(max(ZERO, available).quantize(q)),
        "unrealisedPnl": dec(upnl.quantize(q)),
        "initialMargin": dec(initial_margin.quantize(q)),
        "marginRatio": dec((initial_margin / equity).quantize(Decimal("1e-4")) if equity > 0 else ZERO),
        "updatedTime": ts,
    }


def trade_json(
    *, trade_id: int, account_id: int, o: SimOrder, price: Decimal, qty: Decimal, fee: Decimal, taker: bool, ts: int
) -> dict[str, Any]:
    return {
        "id": trade_id,
        "accountId": account_id,
        "market": o.market,
        "orderId": o.id,
        "externalOrderId": o.external_id,
        "side": o.side,
        "price": dec(price),
        "qty": dec(qty),
        "value": dec(price * qty),
        "fee": dec(fee),
        "tradeType": "TRADE",
        "isTaker": taker,
        "createdTime": ts,
    }


def funding_json(*, payment_id: int, account_id: int, p: SimPosition, mark: Decimal, amount: Decimal,
                 rate: Decimal, ts: int) -> dict[str, Any]:
    """A row of `GET /user/funding/history` (the SDK has no model; fields as the venue's docs list them).
    `fundingFee` is what the account received (+) or paid (-) (sign UNCONFIRMED, see docs/simulators.md)."""
    size = abs(p.size)
    return {
        "id": payment_id, "accountId": account_id, "market": p.market, "positionId": p.id,
        "side": "LONG" if p.size > 0 else "SHORT", "size": dec(size), "value": dec((size * mark).quantize(Decimal("1e-6"))),
        "markPrice": dec(mark), "fundingFee": dec(amount), "fundingRate": dec(rate), "paidTime": ts,
    }  # fmt: skip


def levels_json(levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
    return [{"qty": dec(q), "price": dec(p)} for p, q in levels]


def market_json(
    s: ExtendedSimSettings, *, bid: Decimal | None, ask: Decimal | None, mark: Decimal, next_funding_ms: int,
    funding_rate: Decimal = Decimal("0.000012"),
) -> dict[str, Any]:
    bid = bid if bid is not None else mark
    ask = ask if ask is not None else mark
    return {
        "name": s.market,
        "type": "PERPETUAL",
        "status": "ACTIVE",
        "assetName": s.asset,
        "assetPrecision": s.asset_precision,
        "collateralAssetName": "USD",
        "collateralAssetPrecision": 6,
        "active": True,
        "isRfq": False,
        "isOffHours": False,
        "tradingHours": "CONTINUOUS",
        "marketStats": {
            "dailyVolume": "8123456.12",
            "dailyVolumeBase": "57012.40",
            "dailyPriceChange": "0",
            "dailyLow": dec(mark * Decimal("0.98")),
            "dailyHigh": dec(mark * Decimal("1.02")),
            "lastPrice": dec(mark),
            "askPrice": dec(ask),
            "bidPrice": dec(bid),
            "markPrice": dec(mark),
            "indexPrice": dec(mark),
            "fundingRate": dec(funding_rate),
            "nextFundingRate": next_funding_ms,
            "openInterest": "3521004.77",
            "openInterestBase": "24724.10",
        },
        "tradingConfig": {
            "minOrderSize": dec(s.min_size),
            "minOrderSizeChange": dec(s.step),
            "minPriceChange": dec(s.tick),
            "maxMarketOrderValue": dec(s.max_market_order_value),
            "maxLimitOrderValue": dec(s.max_limit_order_value),
            "maxPositionValue": dec(s.max_position_value),
            "maxLeverage": dec(s.max_leverage),
            "maxNumOrders": s.max_num_orders,
            "limitPriceCap": dec(s.limit_price_cap),
            "limitPriceFloor": dec(s.limit_price_floor),
            "riskFactorConfig": [
                {"upperBound": "250000", "riskFactor": "0.05"},
                {"upperBound": "100000000", "riskFactor": "1"},
            ],
        },
        "l2Config": {
            "type": "STARKX",
            "collateralId": s.collateral_id,
            "collateralResolution": s.collateral_resolution,
            "syntheticId": s.synthetic_id,
            "syntheticResolution": s.synthetic_resolution,
        },
    }


def account_json(s: ExtendedSimSettings, keys: SimKeys) -> dict[str, Any]:
    return {
        "accountId": s.account_id,
        "accountIndex": s.account_index,
        "description": "hedged simulator",
        "status": "ACTIVE",
        "l2Key": keys.public_key_hex,
        "l2Vault": s.vault,
    }
