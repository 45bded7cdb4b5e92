"""Exposure guard and graceful stop of the executor, under the autojump clock."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import trio

from hedged.errors import Halted
from hedged.venues.base import OrderRejected, OrderStatus, OrderUpdate, Side, Venue

from .rig import hedge_config, rig


def unexplained_fill(r, qty: str) -> None:
    """A maker fill the ledger learns about while nobody hedges it (e.g. the executor is wedged)."""
    r.maker.position += D(qty)
    r.ledger.apply(OrderUpdate(Venue.EXTENDED, "SOL-USD", "x-1", "ghost-1", Side.BUY, OrderStatus.FILLED, D(qty),
                               D(qty)))


async def test_the_guard_waits_out_the_grace_then_flattens_and_continues_when_recovered(autojump_clock):
    async with rig() as r:
        idle = r.executor()  # not running: the exposure stays unexplained
        guard = r.guard(idle)
        await r.nursery.start(guard.run)
        t0 = trio.current_time()
        unexplained_fill(r, "0.8")
        await r.until(lambda: guard.recoveries == 1 and r.ledger_matches_venues())
        assert trio.current_time() - t0 >= r.risk_cfg.guard_grace_s
        assert ("exposure_guard", "critical") in r.alerts.events()
        assert ("exposure_flattened", "warning") in r.alerts.events()
        assert abs(r.ledger.open_hedge_delta.value) <= r.tolerance()


async def test_a_breach_that_clears_inside_the_grace_period_is_left_alone(autojump_clock):
    async with rig() as r:
        guard = r.guard(r.executor())
        await r.nursery.start(guard.run)
        unexplained_fill(r, "0.8")
        await trio.sleep(r.risk_cfg.guard_grace_s / 2)
        r.hedge.position -= D("0.8")  # somebody hedged it in time
        r.ledger.apply(OrderUpdate(Venue.LIGHTER, "SOL", "y-1", "ghost-2", Side.SELL, OrderStatus.FILLED, D("0.8"),
                                   D("0.8")))
        await trio.sleep(r.risk_cfg.guard_grace_s * 3)
        assert guard.actions == 0 and r.alerts.sent == []


async def test_exposure_explained_by_a_working_executor_does_not_trip_the_guard(autojump_clock):
    async with rig(hedge_cfg=hedge_config(timeout_s=5.0)) as r:
        r.hedge.taker_fill = lambda o: D(0)  # the hedge rests for its whole deadline, much longer than the grace
        fills = iter([D(0), D(1)])
        r.hedge.taker_fill = lambda o: next(fills)
        ex = r.executor()
        await r.nursery.start(ex.run)
        guard = r.guard(ex)
        await r.nursery.start(guard.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: r.hedge.position == D(-1) and not ex.busy.value and r.ledger_matches_venues(), ex.busy)
        assert guard.actions == 0


async def test_the_guard_halts_when_flattening_does_not_recover(autojump_clock):
    async with rig() as r:
        r.maker.fail_taker = [OrderRejected(Venue.EXTENDED, "no")]
        guard = r.guard(r.executor())
        unexplained_fill(r, "0.8")
        with pytest.raises(Halted):
            await guard.run()
        assert ("exposure_unrecovered", "critical") in r.alerts.events()


async def test_graceful_stop_lets_an_open_hedge_finish_inside_the_deadline(autojump_clock):
    async with rig() as r:
        r.hedge.taker_fill = lambda o: D(0)
        ex = r.executor()
        stopping = trio.Event()
        done = trio.Event()

        async def run():
            await ex.run(stopping=stopping, graceful_s=10.0)
            done.set()

        r.nursery.start_soon(run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: bool(r.hedge.live_orders()))
        stopping.set()
        await trio.sleep(1)
        assert not done.is_set()  # it waits for the hedge
        r.hedge.fill(r.hedge.live_orders()[0].client_id, "1")
        await done.wait()
        assert r.venue_net() == 0 and not any(c == ("cancel_all",) for c in r.maker.calls)


async def test_graceful_stop_flattens_when_the_hedge_cannot_finish_in_time(autojump_clock):
    async with rig(hedge_cfg=hedge_config(timeout_s=30.0)) as r:
        r.hedge.taker_fill = lambda o: D(0)
        ex = r.executor()
        stopping, done = trio.Event(), trio.Event()

        async def run():
            await ex.run(stopping=stopping, graceful_s=3.0)
            done.set()

        r.nursery.start_soon(run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: bool(r.hedge.live_orders()))
        t0 = trio.current_time()
        stopping.set()
        await done.wait()
        assert 3.0 <= trio.current_time() - t0 < 10.0
        assert r.maker.position == 0 and not r.hedge.live_orders()
        assert r.alerts.events() == [("graceful_stop_flatten", "critical"), ("exposure_flattened", "warning")]


async def test_graceful_stop_waits_for_the_makers_to_stop_before_declaring_flat(autojump_clock):
    async with rig() as r:
        ex = r.executor()
        stopping, makers_stopped, done = trio.Event(), trio.Event(), trio.Event()

        async def run():
            await ex.run(stopping=stopping, makers_stopped=makers_stopped, graceful_s=10.0)
            done.set()

        r.nursery.start_soon(run)
        stopping.set()
        await trio.sleep(1)
        assert not done.is_set()
        await r.maker_fill(Side.BUY, "0.5")  # a last maker fill while the cycle is cancelling
        makers_stopped.set()
        await done.wait()
        assert r.hedge.position == D("-0.5")

