"""The exposure guard on the simulators when the venue fails the post-flatten re-read (autojump clock)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import trio
from trio_util import AsyncValue

from hedged.config import RiskConfig
from hedged.errors import Halted
from hedged.strategy.guard import RECONCILE_BACKOFF, ExposureGuard
from hedged.strategy.ports import wait_order
from hedged.strategy.sweep import Sweeper
from hedged.venues.base import OrderStatus, Side
from hedged.sim.common.faults import Fault, FaultKind

from .sims import sim_world

TOL = D("0.1")


def world_guard(w, alerts: list) -> ExposureGuard:
    async def alert(event, severity, **details):
        await trio.lowlevel.checkpoint()
        alerts.append((event, severity))

    sweeper = Sweeper(ledger=w.ledger, maker=w.ext, hedge=w.lig, risk=RiskConfig(), tolerance=lambda: TOL,
                      alert=alert, new_client_id=w.new_client_id, aggress_bps=D(50))
    return ExposureGuard(ledger=w.ledger, maker=w.ext, hedge=w.lig, hedge_busy=AsyncValue(False),
                         tolerance=lambda: TOL, grace_s=1.0, alert=alert, new_client_id=w.new_client_id,
                         aggress_bps=D(50), reconcile=sweeper.reconcile_periodic)


async def unhedged_maker_fill(w, qty: str) -> None:
    """A maker order that fills while no executor runs: exposure the guard must deal with."""
    cid = w.ext.new_client_id()
    w.ledger.register_order(w.ext.venue, cid, Side.BUY, D(qty))
    price = w.ext.rules.round_price(w.ext.top_of_book.value.bid, up=False)
    await w.ext.place_maker(Side.BUY, D(qty), price, cid)
    with trio.fail_after(10):
        await wait_order(w.ledger, w.ext.venue, cid, lambda rec: rec.status is OrderStatus.OPEN)
    w.ext_sim.force_fill(cid, D(qty))


def failing_lighter_reads(w, *, count: int) -> Fault:
    # The failure path reads GET /account twice itself (before and after flattening); the guard's
    # reconcile afterwards is what fails, `count` times (0: for good).
    fault = Fault(FaultKind.HTTP_ERROR, target="GET /account", status=503, skip=2, count=count)
    w.lig_sim.add_fault(fault)
    return fault


async def test_a_failing_reread_after_flattening_is_retried_with_backoff_and_the_guard_goes_on(
        autojump_clock, tmp_path):
    alerts: list = []
    async with sim_world(tmp_path) as w:
        guard = world_guard(w, alerts)
        failing_lighter_reads(w, count=3)
        await w.nursery.start(guard.run)
        await unhedged_maker_fill(w, "1")
        with trio.fail_after(120):
            while guard.recoveries < 1 or guard.reconcile_retries < 3:
                await w.ledger.version.wait_transition()
        assert guard.actions == 1 and guard.reconcile_retries == 3
        # Still running, and the ledger agrees with the venues after the retried re-read.
        with trio.fail_after(30):
            while (w.ledger.position(w.ext.venue), w.ledger.position(w.lig.venue)) != w.truth():
                await w.ledger.version.wait_transition()
        assert ("guard_reconcile_failed", "critical") not in alerts


async def test_a_reread_that_keeps_failing_halts_with_an_incident_after_the_budget(autojump_clock, tmp_path):
    alerts: list = []
    async with sim_world(tmp_path) as w:
        guard = world_guard(w, alerts)
        failing_lighter_reads(w, count=0)
        await unhedged_maker_fill(w, "1")
        t0 = trio.current_time()
        with pytest.raises(Halted, match="could not be re-read"):
            with trio.fail_after(600):
                await guard.run()
        # It gives up when the next pause would overrun the budget: within one longest pause of it.
        longest = RECONCILE_BACKOFF.max_s
        assert guard.reconcile_budget_s - longest <= trio.current_time() - t0 <= guard.reconcile_budget_s + 5
        assert ("guard_reconcile_failed", "critical") in alerts
        assert guard.reconcile_retries >= 4  # backoff within the budget, not one try
