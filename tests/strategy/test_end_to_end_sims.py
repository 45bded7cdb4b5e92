"""End to end on the simulators: the real adapters, the real Ledger, the executor and the cycle runner.

After every cycle: net exposure within tolerance and the ledger equal to the simulators' truth.
"""

from __future__ import annotations

import random
from decimal import Decimal as D

import trio

from hedged.config import CycleConfig, HedgeConfig, RiskConfig
from hedged.strategy.cycle import CycleRunner
from hedged.strategy.executor import HedgeExecutor
from hedged.strategy.sweep import Sweeper
from hedged.strategy.tolerance import tolerance

from hedged.sim.lighter.server import Latency

from .sims import LIGHTER_ACCOUNT, sim_world

CYCLES = 50


async def test_fifty_cycles_on_the_simulators_stay_within_tolerance_and_match_the_venues(autojump_clock, tmp_path):
    await _cycles(tmp_path, CYCLES)


async def test_cycles_with_lighters_300_ms_taker_hold_hedge_concurrently_and_match_the_venues(autojump_clock, tmp_path):
    """Fills arrive while earlier hedges are held by Lighter's sequencer: concurrent hedge orders
    and netting through the real adapters, and still exact."""
    assert await _cycles(tmp_path, 12, lighter_latency=Latency.standard()) >= 2


async def _cycles(tmp_path, cycles: int, **world) -> int:
    """Returns the most hedge orders that were live at once."""
    CYCLES = cycles  # noqa: N806 (the loop below reads it)
    cycle_cfg = CycleConfig(direction="random", size_min=D("0.5"), size_max=D("1.5"), size_step=D("0.1"),
                            delay_min_s=0.5, delay_max_s=1.0, hold_min_s=1.0, hold_max_s=2.0, iterations=0,
                            maker_timeout_s=120.0)
    hedge_cfg = HedgeConfig(timeout_s=5.0, reprice_after_s=2.0, max_attempts=4)
    risk = RiskConfig()
    alerts = []

    async def alert(event, severity, **details):
        await trio.lowlevel.checkpoint()
        alerts.append((event, severity, details))

    async with sim_world(tmp_path, **world) as w:
        tol = lambda: tolerance(cycle_cfg.size_max, None, risk.tolerance_pct, risk.tolerance_floor)  # noqa: E731
        ex = HedgeExecutor(ledger=w.ledger, maker=w.ext, hedge=w.lig, cfg=hedge_cfg, tolerance=tol,
                           rng=random.Random(1), alert=alert, new_client_id=w.new_client_id)
        await w.nursery.start(ex.run)
        most = [0]

        def count(_):
            most[0] = max(most[0], len(ex._live))
            return False

        w.nursery.start_soon(lambda: w.ledger.version.wait_value(count))
        sweeper = Sweeper(ledger=w.ledger, maker=w.ext, hedge=w.lig, risk=risk, tolerance=tol, alert=alert,
                          new_client_id=w.new_client_id, aggress_bps=D(50), hedge_idle=ex.wait_flat)
        cycle = CycleRunner(ledger=w.ledger, maker=w.ext, executor=ex, sweeper=sweeper, cycle_cfg=cycle_cfg,
                            risk_cfg=risk, rng=random.Random(2), new_client_id=w.new_client_id, alert=alert)
        stopping = trio.Event()
        n = 0
        while cycle.summary.completed < CYCLES and n < CYCLES + 10:
            n += 1
            with trio.fail_after(900):  # virtual seconds: a stuck cycle fails here instead of spinning the sims
                report = await cycle.run_cycle(n, stopping)
                await ex.wait_flat()
            with trio.fail_after(30):
                while (w.ledger.position(w.ext.venue), w.ledger.position(w.lig.venue)) != w.truth():
                    await w.ledger.version.wait_transition()
            assert abs(w.ledger.net_exposure.value) <= cycle.tolerance(), (n, report)
        assert cycle.summary.completed == CYCLES, cycle.summary
        # The Lighter sim refuses hedges under its minimum notional although MarketRules allows the size,
        # so a failure path may run; it must always end back within tolerance.
        assert not [a for a in alerts if a[0] == "exposure_unrecovered"]
        assert w.ext_sim.open_orders() == [] and w.lig_sim.open_orders(LIGHTER_ACCOUNT) == []
    return most[0]
