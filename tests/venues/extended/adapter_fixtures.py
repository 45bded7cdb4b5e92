"""Constructed Extended payloads for the adapter's unit tests (values invented, shapes exact)."""

from __future__ import annotations

import json
import random
from typing import Any

import fast_stark_crypto

MARKET = "SOL-USD"


def market_json(**trading: Any) -> dict[str, Any]:
    cfg = {"minOrderSize": "0.1", "minOrderSizeChange": "0.01", "minPriceChange": "0.01",
           "maxMarketOrderValue": "500000", "maxLimitOrderValue": "2500000", "maxPositionValue": "5000000",
           "maxLeverage": "20.00", "maxNumOrders": 200, "limitPriceCap": "0.05", "limitPriceFloor": "0.05",
           "riskFactorConfig": [{"upperBound": "250000", "riskFactor": "0.05"}]}
    cfg.update(trading)
    return {
        "name": MARKET, "type": "PERPETUAL", "status": "ACTIVE", "assetName": "SOL", "assetPrecision": 2,
        "collateralAssetName": "USD", "collateralAssetPrecision": 6, "active": True, "isRfq": False,
        "isOffHours": False, "tradingHours": "CONTINUOUS",
        "marketStats": {"dailyVolume": "1", "dailyVolumeBase": "1", "dailyPriceChange": "0", "dailyLow": "140",
                        "dailyHigh": "145", "lastPrice": "142.41", "askPrice": "142.43", "bidPrice": "142.40",
                        "markPrice": "142.415", "indexPrice": "142.42", "fundingRate": "0.000012",
                        "nextFundingRate": 1795593600000, "openInterest": "1", "openInterestBase": "1"},
        "tradingConfig": cfg,
        "l2Config": {"type": "STARKX", "collateralId": "0x1e2f", "collateralResolution": 1000000,
                     "syntheticId": "0x534f4c2d33", "syntheticResolution": 1000},
    }


def order_json(**over: Any) -> dict[str, Any]:
    order = {"id": 1802260413377142784, "accountId": 55012, "externalId": "hd-1", "market": MARKET,
             "type": "LIMIT", "side": "BUY", "status": "NEW", "price": "142.37", "averagePrice": "0",
             "qty": "1.37", "filledQty": "0", "payedFee": "0", "reduceOnly": False, "postOnly": True,
             "timeInForce": "GTT", "createdTime": 1795540000100, "updatedTime": 1795540000100,
             "expiryTime": 1795622560208}
    order.update(over)
    return order


def position_json(**over: Any) -> dict[str, Any]:
    pos = {"id": 1, "accountId": 55012, "market": MARKET, "status": "OPENED", "side": "LONG", "leverage": "5",
           "size": "0.40", "value": "56.95", "openPrice": "142.37", "markPrice": "142.38", "unrealisedPnl": "0",
           "realisedPnl": "0", "createdAt": 1795540002900, "updatedAt": 1795540002900}
    pos.update(over)
    return pos


def trade_json(**over: Any) -> dict[str, Any]:
    trade = {"id": 77, "accountId": 55012, "market": MARKET, "orderId": 1802260413377142784,
             "externalOrderId": "hd-1", "side": "BUY", "price": "142.37", "qty": "0.40", "value": "56.948",
             "fee": "0", "tradeType": "TRADE", "isTaker": False, "createdTime": 1795540002900}
    trade.update(over)
    return trade


def frame(type_: str | None, data: Any, seq: int, *, ts: int = 1795540001234, error: str | None = None) -> bytes:
    return json.dumps({"type": type_, "data": data, "error": error, "ts": ts, "seq": seq}).encode()


def book_frame(type_: str, seq: int, bids: list[tuple[str, str, str | None]], asks: list[tuple[str, str, str | None]],
               market: str = MARKET) -> bytes:
    def levels(rows):
        out = []
        for p, q, c in rows:
            lv = {"p": p, "q": q}
            if c is not None:
                lv["c"] = c
            out.append(lv)
        return out

    return frame(type_, {"m": market, "b": levels(bids), "a": levels(asks)}, seq)


def envelope(data: Any = None, *, status: str = "OK", error: dict | None = None) -> bytes:
    body: dict[str, Any] = {"status": status}
    if data is not None:
        body["data"] = data
    if error is not None:
        body["error"] = error
    return json.dumps(body).encode()


def throwaway_keys(seed: int) -> tuple[str, str]:
    """A test-only Stark key pair derived from `seed` (never a real key)."""
    private = random.Random(seed).getrandbits(250) | 1
    return hex(private), hex(fast_stark_crypto.get_public_key(private))
