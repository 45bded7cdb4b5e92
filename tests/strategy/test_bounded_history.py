"""Issue 12 point 12 (the strategy's part): per-fill state outside the ledger is bounded, so a month-long
run keeps what an hour does. The executor's hedge ids and the cycle reports keep their tail, indexed
as the whole run; live-order state empties as hedges settle."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest
import trio

from hedged.config import HedgeConfig
from hedged.strategy.cycle import REPORTS_KEPT, CycleSummary
from hedged.strategy.executor import HedgeExecutor
from hedged.strategy.recent import Recent
from hedged.venues.base import Side

from .sims import sim_world


async def test_after_many_settled_hedges_the_executor_keeps_only_its_last_ids_and_no_live_state(
        autojump_clock, tmp_path):
    async with sim_world(tmp_path, live_market=False, lighter_flow_rate=0.0) as w:
        async def alert(event, severity, **details):
            await trio.lowlevel.checkpoint()

        ex = HedgeExecutor(ledger=w.ledger, maker=w.ext, hedge=w.lig, cfg=HedgeConfig(), tolerance=lambda: D("0.05"),
                           rng=random.Random(1), alert=alert, new_client_id=w.new_client_id, history=5)
        await w.nursery.start(ex.run)
        mark = None
        for n in range(20):
            if n == 17:
                mark = len(ex.hedge_orders)  # a cycle's first hedge: the last three from here
            await w.maker_fill(Side.BUY, D("0.2"))
            with trio.fail_after(10):
                await w.ledger.version.wait_value(lambda _: w.ledger.position(w.lig.venue) == D("-0.2") * (n + 1))
            await ex.wait_flat()
        assert len(ex.hedge_orders) == 20  # every hedge sent counts...
        assert len(list(ex.hedge_orders)) == 5  # ...but only the last 5 ids are held
        assert ex._live == {} and ex._machine.orders == {} and not ex._machine.busy
        assert ex.fills_since(mark)[0] == D("0.6")  # a position kept across the pruning reads the right hedges
        assert w.truth() == (D("4.0"), D("-4.0"))


def test_recent_keeps_the_tail_indexed_as_the_whole_series():
    r: Recent[int] = Recent(3)
    for i in range(10):
        r.append(i)
    assert len(r) == 10 and list(r) == [7, 8, 9] and r.first == 7
    assert r[-1] == 9 and r[8] == 8 and r[8:] == [8, 9] and r[0:] == [7, 8, 9] and r[10:] == []
    with pytest.raises(IndexError):
        r[6]


def test_cycle_reports_are_kept_to_their_tail_and_a_reader_by_position_still_sees_each_new_one():
    s = CycleSummary()
    seen = 0
    for n in range(REPORTS_KEPT + 50):
        s.reports.append(n)
        new, seen = s.reports[seen:], len(s.reports)  # how the PnL exporter reads them
        assert new == [n]
    assert len(list(s.reports)) == REPORTS_KEPT and s.reports[-1] == REPORTS_KEPT + 49
