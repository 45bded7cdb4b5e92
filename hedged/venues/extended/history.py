"""Extended trade history (`GET /user/trades`): the back-fill of fills made while we were away.

Pages are followed by the venue's opaque `pagination.cursor` until it runs out or repeats. Whether
the venue pages newest first is not documented (the simulator does): the walk stops early only when a
page is itself newest-first and already reaches before `since_ms`, so an oldest-first venue is read in
full rather than cut short. REST trades carry no `externalOrderId` in the SDK's model (the stream's do),
so our client id comes from what the adapter knows of the order when the row lacks it, else from one
lookup of that order by venue id (`GET /user/orders/{id}`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from hedged.venues.base import Trade
from hedged.venues.extended import wire

PAGE = 100  # rows asked per page (the SDK passes `limit` through; the venue's cap is undocumented)

ReadPage = Callable[[int | None], Awaitable[tuple[list[wire.AccountTrade], int | None]]]
_Row = TypeVar("_Row")


async def read_pages(read_page: Callable[[int | None], Awaitable[tuple[list[_Row], int | None]]], since_ms: int,
                     time_of: Callable[[_Row], object]) -> list[_Row]:
    """Every row of a cursor-paged history (trades, funding), each id once, in the venue's order. Pages
    are followed until the cursor runs out or repeats, or a newest-first page reaches before `since_ms`."""
    rows: dict[str, _Row] = {}
    cursor: int | None = None
    seen: set[int] = set()
    while True:
        page, nxt = await read_page(cursor)
        for row in page:
            rows.setdefault(str(row.id), row)  # type: ignore[attr-defined]
        times = [wire.epoch_ms(time_of(r)) for r in page]
        newest_first = all(a >= b for a, b in zip(times, times[1:]))
        if nxt is None or nxt in seen or not page or (newest_first and times[-1] < since_ms):
            break
        seen.add(nxt)
        cursor = nxt
    return list(rows.values())


async def fetch_trades(read_page: ReadPage, *, market: str, since_ms: int, client_ids: dict[str, str],
                       external_id_of: Callable[[str], Awaitable[str | None]] | None = None) -> list[Trade]:
    """Our fills on `market` at or after `since_ms`, oldest first, each trade id once.

    `client_ids` maps the venue order ids the adapter knows to our ids; `external_id_of` is asked once
    per other order id (after a restart the adapter knows none of the orders that filled meanwhile)."""
    rows = await read_pages(read_page, since_ms, lambda r: r.created_time)
    wanted = [r for r in rows if r.market == market and wire.epoch_ms(r.created_time) >= since_ms]
    if external_id_of is not None:
        client_ids = dict(client_ids)
        for order_id in sorted({str(r.order_id) for r in wanted if r.order_id is not None and not r.external_order_id}):
            if order_id not in client_ids and (found := await external_id_of(order_id)) is not None:
                client_ids[order_id] = found
    out = []
    for row in wanted:
        trade = wire.to_trade(row)
        if trade.client_id is None and trade.order_id is not None:
            trade = replace(trade, client_id=client_ids.get(trade.order_id))
        out.append(trade)
    out.sort(key=lambda t: (t.ts_ms, int(t.trade_id) if t.trade_id.isdigit() else 0, t.trade_id))
    return out
