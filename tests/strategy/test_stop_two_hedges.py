"""Issue 12 review, graceful stop with two concurrent hedges resting (whole daemon, in-process
harness, real sockets, SIGTERM): both are cancelled and the naked maker fill is flattened."""

from __future__ import annotations

from decimal import Decimal as D

import trio

from hedged import daemon
from hedged.errors import EXIT_OK
from hedged.venues.base import OrderStatus
from tests.daemon_harness import run_daemon

from .test_stop_through_the_daemon import _positions, stop_config


async def _two_resting_hedges(rt: daemon.Runtime) -> None:
    eng = rt.engine
    worker, sim, ledger = eng.cycle.worker, eng.sim, eng.ledger
    sim.lighter.freeze_feed()
    sim.lighter.pull_book()  # hedges are priced from the last book and rest: they never fill

    def maker_open() -> bool:
        rec = ledger.order(eng.venues.extended.venue, worker.own_cid) if worker.own_cid else None
        return rec is not None and rec.status is OrderStatus.OPEN

    def resting(n: int) -> bool:
        orders = eng.executor.hedge_orders
        return len(orders) == n and all(
            ledger.order(eng.venues.lighter.venue, c).status is OrderStatus.OPEN for c in orders)

    await ledger.version.wait_value(lambda _: maker_open())
    cid = worker.own_cid
    sim.extended.force_fill(cid, D("0.3"))
    await ledger.version.wait_value(lambda _: resting(1))
    sim.extended.force_fill(cid, D("0.5"))  # cumulative: 0.2 more, while the first hedge rests
    await ledger.version.wait_value(lambda _: resting(2))


async def test_sigterm_with_two_concurrent_hedges_resting_cancels_both_and_flattens_before_exit(tmp_path):
    with trio.fail_after(60):
        rt, code = await run_daemon(stop_config(tmp_path), _two_resting_hedges)
    sim = rt.engine.sim
    assert sim.lighter.open_orders(sim.lighter_account) == []
    assert code == EXIT_OK
    assert _positions(rt) == (0, 0)
