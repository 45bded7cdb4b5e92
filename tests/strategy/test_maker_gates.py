"""Issue 12 points 7 and 10: no new maker exposure while a fill is unhedged, and the maker leg
never grows past risk.max_position."""

from __future__ import annotations

from decimal import Decimal as D

import trio

from hedged.config import RiskConfig
from hedged.venues.base import Side

from .rig import rig


def makers(venue):
    return [c for c in venue.calls if c[0] == "place_maker"]


async def test_a_fill_the_executor_has_not_seen_yet_blocks_chasing_the_partly_filled_maker_order(autojump_clock):
    async with rig() as r:
        ex = r.executor()  # not running: the fill is in the ledger, no hedge is registered yet
        cycle = r.cycle(ex)
        r.nursery.start_soon(cycle.worker.work, Side.BUY, D(1))
        await r.until(lambda: len(makers(r.maker)) == 1)
        first = makers(r.maker)[0]
        r.maker.fill(first[4], "0.04")  # inside the tolerance, but a hedge is owed for it
        await r.until(lambda: r.ledger.position(r.maker.venue) == D("0.04"))
        r.maker.set_book("100.05", "100.1")  # somebody outbids us: the chaser would re-price
        await trio.sleep(5)
        assert len(makers(r.maker)) == 1 and not any(c[0] == "cancel" for c in r.maker.calls)
        assert ex.oldest_unhedged_age() >= 5  # the gauge behind HedgedFillUnhedged
        await r.nursery.start(ex.run)  # the executor hedges it; then the chase goes on
        await r.until(lambda: len(makers(r.maker)) == 2, r.maker.top_of_book)
        assert r.hedge.position == D("-0.04") and ex.oldest_unhedged_age() == 0


async def test_the_maker_never_grows_a_leg_past_max_position(autojump_clock):
    async with rig(risk_cfg=RiskConfig(max_position=D("0.6"))) as r:
        ex = r.executor()
        await r.nursery.start(ex.run)
        cycle = r.cycle(ex)
        async with trio.open_nursery() as n:
            done = []

            async def work():
                done.append(await cycle.worker.work(Side.BUY, D(1)))

            n.start_soon(work)
            await r.until(lambda: len(makers(r.maker)) == 1)
            assert makers(r.maker)[0][2] == D("0.6")  # capped at the limit, not the 1.0 wanted
            r.maker.fill(makers(r.maker)[0][4], "0.6")
        assert done[0].why == "max_position" and r.maker.position == D("0.6")
        assert len(makers(r.maker)) == 1


async def test_a_leg_beyond_max_position_is_a_guard_event(autojump_clock):
    async with rig(risk_cfg=RiskConfig(max_position=D("0.6"))) as r:
        ex = r.executor()
        await r.nursery.start(ex.run)
        guard = r.guard(ex, max_position=D("0.6"))
        await r.nursery.start(guard.run)
        await r.maker_fill(Side.BUY, "0.5")  # inside the limit: nothing
        await r.until(lambda: r.hedge.position == D("-0.5"))
        assert not [e for e in r.alerts.events() if e[0] == "max_position_breach"]
        await r.maker_fill(Side.BUY, "0.3")  # an order placed outside the maker's cap (e.g. by hand)
        await r.until(lambda: any(e[0] == "max_position_breach" for e in r.alerts.events()))
        await r.until(lambda: r.hedge.position == D("-0.8"))
        await trio.sleep(1)
        breaches = [d for e, _, d in r.alerts.sent if e == "max_position_breach"]
        assert {b["venue"] for b in breaches} == {"extended", "lighter"}  # once per leg, not per change


async def test_a_fill_below_the_hedge_minimum_is_residual_not_an_unhedged_fill(autojump_clock):
    async with rig() as r:
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "0.005")  # below the hedge venue's 0.01 minimum: carried as residual
        await trio.sleep(5)
        assert ex.oldest_unhedged_age() == 0 and r.hedge.calls == []
