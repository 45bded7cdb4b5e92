"""Lighter trade history (`GET /api/v1/trades` with auth): the back-fill of fills made while we were away.

Pages come newest first and are followed by `next_cursor` until it is absent or repeats, or a page
reaches before `since_ms`. A trade names both sides (`ask_account_id`/`bid_account_id`, `is_maker_ask`);
`normalize.trade_event` keeps our side only and says whether we were maker or taker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hedged.venues.base import Trade
from hedged.venues.lighter import normalize, wire

PAGE = 100  # the largest `limit` the SDK's model allows

ReadPage = Callable[[str | None], Awaitable[tuple[list[wire.WireTrade], str | None]]]


async def fetch_trades(read_page: ReadPage, *, market_id: int, symbol: str, account: int, since_ms: int,
                       client_id_for: Callable[[int], str | None]) -> list[Trade]:
    """Our fills on `market_id` at or after `since_ms`, oldest first, each trade id once."""
    rows: dict[int, wire.WireTrade] = {}
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page, nxt = await read_page(cursor)
        for row in page:
            rows.setdefault(row.trade_id, row)
        if not page or nxt is None or nxt in seen or min(r.timestamp for r in page) < since_ms:
            break
        seen.add(nxt)
        cursor = nxt
    out = []
    for row in rows.values():
        if row.market_id != market_id or row.timestamp < since_ms:
            continue
        ours = row.bid_client_id if row.bid_account_id == account else row.ask_client_id
        trade = normalize.trade_event(row, symbol, account, client_id_for(ours))
        if trade is not None:
            out.append(trade)
    out.sort(key=lambda t: (t.ts_ms, int(t.trade_id)))
    return out
