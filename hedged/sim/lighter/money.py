"""The Lighter simulator's funding: hourly settlements on a seeded rate path, their JSON (pure parts)
and the task that runs them on the venue clock.

Lighter pays funding every hour (lighter.md); the sim settles at every multiple of
`funding.interval_s` of venue time (the epoch grid, like the venue's on-the-hour rounds). Each
settlement credits or debits the collateral of every account with a position on the traded market,
appends a `PositionFunding` to the history (`GET /api/v1/positionFunding`) and is streamed on
`account_all/{A}` as `funding_histories`, followed by the position (its `total_funding_paid_out`).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import trio

from hedged.sim.lighter.exchange import Event, FundingEvent, LighterExchange, PositionEvent
from hedged.sim.lighter.tx import MarketSpec, SimFunding
from hedged.sim.common.money import funding_amount, next_settlement_ms

if TYPE_CHECKING:
    from hedged.sim.lighter.host import LighterHost

_FUNDING_ID_BASE = 90_000
# `GET /funding-rates` serves 8-hour rates, the reading the adapter takes (money.py; UNCONFIRMED).
FUNDING_RATES_HOURS = 8


def settle(ex: LighterExchange, rate: Decimal, mark: Decimal, *, now_ms: int, funding_id: int) -> list[Event]:
    """One funding round at `rate` (longs pay shorts when > 0) for every account holding a position."""
    m = ex.market
    events: list[Event] = []
    for acct in ex.accounts.values():
        pos = acct.positions.get(m.market_id)
        if pos is None or pos.size == 0:
            continue
        amount = funding_amount(m.size(pos.size), mark, rate)
        acct.collateral += amount
        acct.money.funding += amount
        acct.money.payments += 1
        pos.funding_paid_out -= amount
        rec = SimFunding(timestamp_ms=now_ms, market_id=m.market_id, funding_id=funding_id,
                         change=amount, rate=rate, position_size=m.size(abs(pos.size)),
                         position_side="long" if pos.size > 0 else "short")  # fmt: skip
        ex.fundings.append((acct.index, rec))
        events += [FundingEvent(acct.index, rec), PositionEvent(acct.index, replace(pos))]
    return events


def position_funding_json(m: MarketSpec, f: SimFunding) -> dict[str, Any]:
    """A `PositionFunding` (lighter-sdk 1.1.8 model: every field required, amounts as strings)."""
    return {
        "timestamp": f.timestamp_ms, "market_id": f.market_id, "funding_id": f.funding_id,
        "change": f"{f.change:.6f}", "discount": "0.000000", "rate": format(f.rate, "f"),
        "position_size": f"{f.position_size:.{m.size_decimals}f}", "position_side": f.position_side,
    }  # fmt: skip


def settle_now(sim: LighterHost, now_ms: int | None = None) -> list[SimFunding]:
    """Run one settlement at the path's current rate; the payments it made."""
    m = sim.settings.market
    mark = sim.market_model.reference.quantize(Decimal(1).scaleb(-m.price_decimals))
    rate = sim.funding.advance()
    events = settle(sim.exchange, rate, mark, now_ms=sim.now_ms() if now_ms is None else now_ms,
                    funding_id=_FUNDING_ID_BASE + sim.settings.id_base + sim.funding.settled)
    sim.dispatch(events)
    return [ev.funding for ev in events if isinstance(ev, FundingEvent)]


async def funding_task(sim: LighterHost) -> None:
    """Settle at every multiple of the interval of venue time. The last round is remembered, so a
    venue clock that lags the trio clock (a real wall clock under a MockClock) never settles twice."""
    interval = sim.settings.funding.interval_s
    last = 0
    while True:
        due = next_settlement_ms(max(sim.now_ms(), last), interval)
        await trio.sleep(max(0.0, (due - sim.now_ms()) / 1000))
        settle_now(sim, due)
        last = due
