"""Lighter money reads: funding history, the current funding rate, the account's money picture (pure
parts; the client supplies the REST calls).

| what | endpoint (lighter-sdk 1.1.8) | fields used |
|---|---|---|
| funding payments | `GET /api/v1/positionFunding?account_index&market_ids&limit&cursor&start_timestamp` + `authorization` (AccountApi.position_funding → PositionFundings) | `timestamp, market_id, funding_id, change, rate, position_size, position_side`; `next_cursor` |
| the same, streamed | `account_all/{A}`: `funding_histories {"<M>": [PositionFunding]}` | as above |
| current rate | `GET /api/v1/funding-rates` (FundingApi.funding_rates → FundingRates) | `market_id, exchange == "lighter", rate` |
| money picture | `GET /api/v1/account?by=index` (DetailedAccount, AccountPosition): one request | `collateral`; `realized_pnl, unrealized_pnl, total_funding_paid_out`; mark = `position_value / position` |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from hedged.venues.base import FundingPayment
from hedged.venues.lighter import normalize, wire

PAGE = 100  # the largest `limit` the SDK's model allows
# `GET /funding-rates` lists venues side by side (binance, bybit, hyperliquid, lighter) and documents no
# interval; its rates are taken as 8-hour rates (UNCONFIRMED: a listing beside Binance's 8 h rates only
# compares if normalised to one interval). Lighter itself settles hourly.
FUNDING_RATES_HOURS = 8

ReadPage = Callable[[str | None], Awaitable[tuple[list[wire.WireFunding], str | None]]]


async def fetch_funding(read_page: ReadPage, *, market_id: int, symbol: str, since_ms: int) -> list[FundingPayment]:
    """Our funding payments on `market_id` at or after `since_ms`, oldest first, each once. Pages are
    followed until the cursor is absent or repeats, or a page reaches before `since_ms`."""
    rows: dict[int, wire.WireFunding] = {}
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page, nxt = await read_page(cursor)
        for row in page:
            if row.market_id == market_id:
                rows.setdefault(row.funding_id, row)
        if not page or nxt is None or nxt in seen or min(normalize.epoch_ms(r.timestamp) for r in page) < since_ms:
            break
        seen.add(nxt)
        cursor = nxt
    out = [normalize.funding_payment(r, symbol) for r in rows.values()]
    return sorted((p for p in out if p.ts_ms >= since_ms), key=lambda p: (p.ts_ms, p.payment_id))


def funding_rate_per_hour(rates: list[wire.FundingRate], market_id: int) -> Decimal | None:
    """Lighter's own rate for the market, per hour (positive = longs pay shorts), or None if not listed."""
    for r in rates:
        if r.exchange == "lighter" and r.market_id == market_id:
            return r.rate / FUNDING_RATES_HOURS
    return None
