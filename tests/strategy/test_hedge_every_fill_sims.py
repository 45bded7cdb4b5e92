"""Issue 12 on the simulators (real adapters, real ledger, Lighter's standard 300 ms taker hold):
no fill waits for another fill's hedge, and a stop never leaves a hedge resting."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest
import trio

from hedged.config import HedgeConfig
from hedged.strategy.executor import HedgeExecutor
from hedged.venues.base import AuthError, Side
from hedged.sim.lighter.server import Latency
from hedged.sim.common.faults import Fault, FaultKind

from .sims import LIGHTER_ACCOUNT, sim_world


async def _alert(event, severity, **details):
    await trio.lowlevel.checkpoint()


def _executor(w, samples, **cfg) -> HedgeExecutor:
    return HedgeExecutor(ledger=w.ledger, maker=w.ext, hedge=w.lig, cfg=HedgeConfig(**cfg), tolerance=lambda: D("0.05"),
                         rng=random.Random(1), alert=_alert, new_client_id=w.new_client_id,
                         on_latency=lambda phase, s: samples.append((phase, s)))


async def _until(w, pred, timeout=30.0):
    with trio.fail_after(timeout):
        await w.ledger.version.wait_value(lambda _: pred())


async def test_a_second_fill_while_the_first_hedge_rests_is_sent_within_milliseconds(autojump_clock, tmp_path):
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False) as w:
        samples: list[tuple[str, float]] = []
        ex = _executor(w, samples)
        stamps: list[float | None] = []
        note = w.ledger.on_fill

        def tap(event, delta):  # what the adapters hand over: the socket read time of each fill
            if event.venue == w.ext.venue:
                stamps.append(event.received_at)
            note(event, delta)

        w.ledger.on_fill = tap
        await w.nursery.start(ex.run)
        a, b = await w.rest_maker(Side.BUY, D("0.5")), await w.rest_maker(Side.BUY, D("0.3"))
        w.ext_sim.force_fill(a, D("0.5"))
        await _until(w, lambda: len(ex.hedge_orders) == 1)
        first = ex.hedge_orders[0]
        await trio.sleep(0.1)  # the first hedge is held by Lighter's sequencer (300 ms)
        t_fill = trio.current_time()
        w.ext_sim.force_fill(b, D("0.3"))
        await _until(w, lambda: len(ex.hedge_orders) == 2)
        assert trio.current_time() - t_fill < 0.01  # virtual time: not after the first episode
        assert w.ledger.order(w.lig.venue, first).counted == 0  # the first one had not filled yet
        await _until(w, lambda: w.ledger.position(w.lig.venue) == D("-0.8"))
        await ex.wait_flat()
        assert w.truth() == (D("0.8"), D("-0.8"))
        fill_to_sent = [s for p, s in samples if p == "fill_to_sent"]
        assert len(fill_to_sent) == 2 and max(fill_to_sent) < 0.01  # one sample per fill, from its frame
        assert len(stamps) == 2 and None not in stamps and stamps[1] >= t_fill


async def test_a_stop_during_the_send_still_cancels_the_hedge_on_the_venue(autojump_clock, tmp_path):
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, tx_over_ws=False,
                         lighter_flow_rate=0.0) as w:
        w.lig_sim.pull_book()  # the hedge can never fill: a GTT order would rest
        # The venue takes the order, but its reply is slow: the stop lands while place_taker waits.
        w.lig_sim.add_fault(Fault(FaultKind.LOST_ACK, target="POST /sendTx", delay=None))
        ex = _executor(w, [], timeout_s=30.0)
        async with trio.open_nursery() as scope:
            scope.start_soon(ex.run)
            await w.maker_fill(Side.BUY, D("0.5"))
            # the hedge is registered and its send is under way: stop right now
            await _until(w, lambda: len(ex.hedge_orders) == 1)
            await trio.sleep(0.001)  # virtual: the request reaches the sim, the client still waits
            assert w.lig_sim.faults.history  # the order reached the venue, its reply did not come back
            scope.cancel_scope.cancel()
        with trio.fail_after(30):
            while True:
                await trio.sleep(0.5)
                if not w.lig_sim.open_orders(LIGHTER_ACCOUNT) and w.lig_sim.executed.value >= 2:
                    break
        assert w.lig_sim.open_orders(LIGHTER_ACCOUNT) == []


async def test_a_stop_while_a_hedge_waits_for_a_refused_session_ends_at_once_and_sends_nothing(autojump_clock,
                                                                                                 tmp_path):
    # DST seed 3191: Lighter refuses every token, so its session is not ready and a hedge's send waits for
    # it (nothing written). The credentials halt stops the executor there: its cancel-on-exit tried to cancel
    # an order that never left, against the refusing venue, and held the stop for its whole bound (5 s) while
    # the fill stayed naked. A hedge whose sendTx never reached the wire, its call over, is not on the venue.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False,
                         lighter_flow_rate=0.0) as w:
        w.lig_sim.revoke_tokens()
        with pytest.raises(AuthError):  # the next private call is refused: the client re-subscribes, refused
            await w.lig.open_orders()
        with trio.fail_after(10):
            await w.lig.synced.wait_value(False)
        ex = _executor(w, [], timeout_s=30.0)
        async with trio.open_nursery() as scope:
            scope.start_soon(ex.run)
            await w.maker_fill(Side.BUY, D("0.5"))
            await _until(w, lambda: len(ex.hedge_orders) == 1)
            await trio.sleep(0.1)  # the send waits for the session
            stop = trio.current_time()
            scope.cancel_scope.cancel()
        assert trio.current_time() - stop < 0.5
        rec = w.ledger.order(w.lig.venue, ex.hedge_orders[0])
        assert rec.status.is_terminal and rec.counted == 0
        assert w.lig_sim.order_by_client_id(LIGHTER_ACCOUNT, int(ex.hedge_orders[0])) is None
