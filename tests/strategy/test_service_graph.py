"""Issue 16 point 4: the strategy's objects are built in one place (`hedged.strategy.graph`), by the engine
once both venue services have started and before the reconciler runs, and they share one tolerance rule
(the guard's): nobody reaches it through the cycle object. Production adapters, in-memory simulators,
autojump clock."""

from __future__ import annotations

from decimal import Decimal as D

import trio

from hedged.config import CycleConfig, RiskConfig
from hedged.engine import Engine
from hedged.nursery import Supervisor
from hedged.strategy.tolerance import ToleranceRule
from hedged.venues.assembly import SimPair
from hedged.sim.lighter.server import trio_wall_clock


async def _no_alerts(event, severity, **details):
    return None


async def test_the_strategy_graph_is_built_when_the_venues_are_up_and_before_the_reconciler_starts(
        autojump_clock, sim_config):
    pair = SimPair.build(sim_config, wall_clock=trio_wall_clock())
    engine = Engine(sim_config, Supervisor(graceful_stop_s=20.0), _no_alerts, sim=pair, in_memory=True)
    services = {s.name: s for s in engine.services()}
    with trio.fail_after(600):
        async with pair.running(), trio.open_nursery() as n:
            for name in ("ledger", "credentials", "venue:extended", "venue:lighter"):
                await n.start(services[name].run)
            assert engine.executor is None and engine.cycle is None
            await n.start(services["venue-rules"].run)
            assert engine.executor is not None, "the reconciler service must find the graph built, not build it"
            s = engine.strategy
            assert (engine.executor, engine.reconciler, engine.cycle, engine.guard) == (
                s.executor, s.reconciler, s.cycle, s.guard)
            # One rule: the executor's tolerance is the guard's, not a view through the cycle.
            assert s.executor.tolerance is s.tolerance and s.guard.tolerance is s.tolerance
            assert s.sweeper.tolerance is s.tolerance and s.cycle.rule is s.tolerance
            assert s.sweeper.reconciler is s.reconciler
            # Hedge first: the maker worker, the guard and the journal writer defer to the executor's hedges.
            defer = s.executor.first.defer
            assert s.cycle.worker.defer == defer and s.guard.defer == defer and engine.ledger.defer_writes == defer
            before = s.executor.tolerance()
            s.tolerance.cycle_size = D(1000)  # what the cycle task sets when it plans a bigger cycle
            assert s.executor.tolerance() == s.guard.tolerance() > before
            n.cancel_scope.cancel()


def test_the_tolerance_rule_follows_the_cycles_size_and_never_drops_below_the_hedge_minimum():
    rule = ToleranceRule.of(CycleConfig(size_min=D("0.5"), size_max=D("1")), RiskConfig())
    assert rule() == D("0.05")  # 5 % of size_max 1
    rule.cycle_size = D("3")  # a restart left a cycle bigger than today's size_max
    assert rule() == D("0.15")
    rule.untradeable = lambda: D("0.2")
    assert rule() == D("0.2")
