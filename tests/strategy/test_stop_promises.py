"""Issue 12 points 3 and 4: a graceful stop never abandons a hedge, and what a stop leaves is the
operator's choice (daemon.on_stop)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import trio

from hedged.errors import Halted
from hedged.deadlines import StopBudget
from hedged.venues.base import OrderRejected, Side, Venue

from .rig import rig


def test_the_stop_budget_leaves_the_flatten_its_time_before_the_supervisor_cancels():
    b = StopBudget.of(20.0)
    assert b.hedge_grace_s + b.flatten_s < b.total_s
    assert b.hedge_grace_s > 0 and b.flatten_s > 0


async def test_a_graceful_stop_with_a_hedge_that_never_fills_flattens_in_budget_and_halts_if_that_fails(autojump_clock):
    budget = StopBudget.of(20.0)
    async with rig() as r:
        r.hedge.taker_fill = lambda o: D(0)  # the hedge rests and never fills
        r.maker.fail_taker = [OrderRejected(Venue.EXTENDED, "flatten refused")]
        stopping, makers_stopped = trio.Event(), trio.Event()
        ex = r.executor()
        ex.cfg = type(ex.cfg)(**{**ex.cfg.__dict__, "timeout_s": 60.0})  # the stop comes before its deadline
        await r.maker_fill(Side.BUY, "1")
        t0 = trio.current_time()
        async with trio.open_nursery() as n:
            async def stop_soon():
                await trio.sleep(1)
                stopping.set()
                makers_stopped.set()
            n.start_soon(stop_soon)
            with pytest.raises(Halted):
                await ex.run(stopping=stopping, makers_stopped=makers_stopped, graceful_s=budget.hedge_grace_s,
                             flatten_s=budget.flatten_s)
        assert trio.current_time() - t0 < 1 + budget.total_s  # done before the supervisor would cancel it
        assert ("graceful_stop_flatten", "critical") in r.alerts.events()
        assert ("exposure_unrecovered", "critical") in r.alerts.events()
        assert r.hedge.live_orders() == []


async def test_on_stop_keep_leaves_the_hedged_legs_open(autojump_clock):
    async with rig() as r:
        stopping = trio.Event()
        ex = r.executor()
        async with trio.open_nursery() as n:
            n.start_soon(lambda: ex.run(stopping=stopping, on_stop="keep"))
            await r.maker_fill(Side.BUY, "1")
            await r.until(lambda: r.hedge.position == D(-1))
            stopping.set()
        assert (r.maker.position, r.hedge.position) == (D(1), D(-1))


async def test_on_stop_flatten_closes_both_legs_before_it_returns(autojump_clock):
    async with rig() as r:
        stopping = trio.Event()
        ex = r.executor()
        async with trio.open_nursery() as n:
            n.start_soon(lambda: ex.run(stopping=stopping, on_stop="flatten"))
            await r.maker_fill(Side.BUY, "1")
            await r.until(lambda: r.hedge.position == D(-1))
            stopping.set()
        assert (r.maker.position, r.hedge.position) == (0, 0)
        assert r.ledger_matches_venues()
