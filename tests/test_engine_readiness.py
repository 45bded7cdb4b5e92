"""/readyz is the engine's readiness: it flips on a stale feed and on a halt (autojump clock,
production adapters on the in-memory simulators)."""

from __future__ import annotations

import random

import trio

from hedged.engine import Engine
from hedged.nursery import Supervisor
from hedged.venues.assembly import SimPair, build_venues
from hedged.sim.lighter.server import trio_wall_clock
from hedged.sim.common.faults import Fault, FaultKind


async def _no_alerts(event, severity, **details):
    return None


async def _drain(recv) -> None:
    async for _ in recv:
        pass


async def test_readiness_flips_on_a_frozen_feed_and_on_a_halt(autojump_clock, sim_config):
    pair = SimPair.build(sim_config, wall_clock=trio_wall_clock())
    engine = Engine(sim_config, Supervisor(graceful_stop_s=1), _no_alerts)
    assert not engine.readiness().ok and "not reconciled" in engine.readiness().reasons
    engine.venues = build_venues(sim_config, sim=pair, rng=random.Random(3), in_memory=True)
    send, recv = trio.open_memory_channel(1000)
    with trio.fail_after(600):
        async with pair.running(), trio.open_nursery() as n:
            n.start_soon(_drain, recv)
            await n.start(engine.venues.extended.run, send.clone())
            await n.start(engine.venues.lighter.run, send.clone())
            engine.reconciled = True
            await engine.venues.extended.top_of_book.wait_value(lambda t: t is not None)
            assert engine.readiness().ok, engine.readiness().reasons
            # A quiet account stream (nothing trades) is not a stale feed.
            await trio.sleep(sim_config.metrics.stale_feed_s * 3)
            assert engine.readiness().ok, engine.readiness().reasons

            pair.extended.faults.add(Fault(FaultKind.FREEZE, target="orderbooks/*"))
            await trio.sleep(sim_config.metrics.stale_feed_s + 1)
            verdict = engine.readiness()
            assert not verdict.ok
            assert verdict.reasons == ("extended feed down or stale: book",), verdict.reasons

            engine.halted = "exposure not recovered"
            assert "halted: exposure not recovered" in engine.readiness().reasons
            n.cancel_scope.cancel()
