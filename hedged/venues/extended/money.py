"""Extended money reads: funding history, the account's money picture, the current funding rate (pure
parts; the client supplies the REST calls).

| what | endpoint | fields used |
|---|---|---|
| funding payments | `GET /user/funding/history?market&fromTime&cursor&limit` (no SDK 2.6.0 model; venue docs, ccxt's `fetchFundingHistory`) | `id, market, side, size, fundingFee, fundingRate, paidTime`; `pagination.cursor` |
| current rate | `GET /info/markets?market=` (`MarketStatsModel`) | `marketStats.fundingRate` (per hour: Extended settles hourly), `markPrice` |
| money picture | `GET /user/balance` (`BalanceModel`), `GET /user/positions` (`PositionModel`): two requests | `balance`, `unrealisedPnl`; `realisedPnl, unrealisedPnl, markPrice` |

Signs: a trade's `fee` is what we paid (a rebate is negative), as the venue reports it. `fundingFee` is
taken as the collateral change, received > 0 (UNCONFIRMED: the SDK has no model; third-party clients read
it so, and the simulator does the same). Extended does not stream funding payments on the account stream
(only the BALANCE and POSITION that follow), so they come from the history only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from hedged.venues.base import AccountMoney, FundingPayment
from hedged.venues.extended import wire
from hedged.venues.extended.history import read_pages

PAGE = 100

ReadPage = Callable[[int | None], Awaitable[tuple[list[wire.FundingRow], int | None]]]


def to_funding(row: wire.FundingRow) -> FundingPayment:
    side = (row.side or "").upper()
    position = None if row.size is None else (-abs(row.size) if side == "SHORT" else abs(row.size))
    return FundingPayment(venue=wire.VENUE, market=row.market, payment_id=str(row.id), amount=row.funding_fee,
                          rate=row.funding_rate, position=position, ts_ms=wire.epoch_ms(row.paid_time))


async def fetch_funding(read_page: ReadPage, *, market: str, since_ms: int) -> list[FundingPayment]:
    """Our funding payments on `market` at or after `since_ms`, oldest first, each id once. Pages are
    followed by the venue's cursor until it runs out or repeats, or a newest-first page reaches before
    `since_ms` (history.read_pages, shared with the trade back-fill)."""
    rows = await read_pages(read_page, since_ms, lambda r: r.paid_time)
    out = [to_funding(r) for r in rows if r.market == market and wire.epoch_ms(r.paid_time) >= since_ms]
    return sorted(out, key=lambda p: (p.ts_ms, p.payment_id))


def account_money(market: str, balance: wire.Balance | None, positions: list[wire.Position],
                  ts_ms: int) -> AccountMoney:
    """The venue's picture: collateral balance (a 404 balance is zero, as the venue means it), the open
    position's realised/unrealised PnL and mark (its realisedPnl includes fees and funding, as the SDK's
    RealisedPnlBreakdownModel splits it); flat: the account's unrealised PnL and no mark (nothing to mark,
    and no third request of the reconcile pass)."""
    open_rows = [p for p in positions if p.market == market and (p.status or "").upper() != "CLOSED"]
    pos = open_rows[0] if open_rows else None
    return AccountMoney(
        venue=wire.VENUE, market=market,
        balance=balance.balance if balance is not None else Decimal(0),
        realised_pnl=pos.realised_pnl if pos is not None else None,
        unrealised_pnl=pos.unrealised_pnl if pos is not None else (balance.unrealised_pnl if balance else None),
        mark_price=pos.mark_price if pos is not None else None, ts_ms=ts_ms,
    )  # fmt: skip
