"""Issue 12 review: interleavings of concurrent hedge orders on the simulators (real adapters, real
ledger, Lighter's standard 300 ms taker hold, autojump clock). The checker reads the simulators'
truth, never the executor's view."""

from __future__ import annotations

import random
from decimal import Decimal as D

import trio

from hedged.config import HedgeConfig
from hedged.strategy.executor import HedgeExecutor
from hedged.venues.base import Side
from hedged.venues.lighter.sim import Latency

from .sims import LIGHTER_ACCOUNT, sim_world


def _executor(w, alerts: list, **cfg) -> HedgeExecutor:
    async def alert(event, severity, **details):
        alerts.append(event)
        await trio.lowlevel.checkpoint()

    return HedgeExecutor(ledger=w.ledger, maker=w.ext, hedge=w.lig, cfg=HedgeConfig(**cfg),
                         tolerance=lambda: D("0.05"), rng=random.Random(1), alert=alert,
                         new_client_id=w.new_client_id)


async def _until(w, pred, timeout=30.0):
    with trio.fail_after(timeout):
        await w.ledger.version.wait_value(lambda _: pred())


async def test_a_hedge_still_in_lighters_taker_hold_when_the_failure_path_runs_is_cancelled_not_left_to_trade(
        autojump_clock, tmp_path):
    # H1 is acked, then refused by Lighter's sequencer after the 300 ms hold: the only attempt fails and
    # the executor gives up. H2 (a second maker fill, sent 250 ms after H1) is still in the hold when the
    # failure path cancels everything and reads the venues, so the cancel-all misses it and the read does
    # not see it; it then executes and fills. The failure path must not leave it to trade behind its back.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        alerts: list[str] = []
        ex = _executor(w, alerts, max_attempts=1, timeout_s=30.0)
        await w.nursery.start(ex.run)
        a, b = await w.rest_maker(Side.BUY, D("0.5")), await w.rest_maker(Side.BUY, D("0.3"))
        w.lig_sim.reject_next_orders(1)
        w.ext_sim.force_fill(a, D("0.5"))
        await _until(w, lambda: len(ex.hedge_orders) == 1)
        await trio.sleep(0.25)
        w.ext_sim.force_fill(b, D("0.3"))
        await _until(w, lambda: len(ex.hedge_orders) == 2)
        await _until(w, lambda: "exposure_flattened" in alerts or "exposure_unrecovered" in alerts)
        await trio.sleep(5.0)  # everything the venues were asked to do has been done
        assert w.lig_sim.open_orders(LIGHTER_ACCOUNT) == []
        ext_pos, lig_pos = w.truth()
        assert abs(ext_pos + lig_pos) <= D("0.05"), (ext_pos, lig_pos, alerts)
