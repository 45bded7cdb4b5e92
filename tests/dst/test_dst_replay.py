"""One seed decides everything: the same seed gives the same trace, byte for byte, in one process."""

from __future__ import annotations

from hedged.dst.plan import Action, draw_plan
from hedged.dst.runner import run_seed
from hedged.sim.common.faults import Fault, FaultKind

# A plan with a bit of everything the runner does: a stream fault, a REST fault, a crash with a
# restart on the same journal, a graceful stop and restart, then the final stop.
PLAN = [
    Action(5.0, "fault", "extended", {"fault": Fault(FaultKind.DUPLICATE, target="account", on="TRADE", count=2)}),
    Action(8.0, "fault", "lighter", {"fault": Fault(FaultKind.REJECT, target="POST /sendTx", code=21104)}),
    Action(20.0, "crash", "", {"down_s": 3.0}),
    Action(40.0, "stop", "", {"down_s": 2.0}),
    Action(50.0, "fault", "lighter", {"fault": Fault(FaultKind.STALE_READ, target="GET /accountActiveOrders",
                                                     delay=1.0)}),
]


def test_the_same_seed_replays_the_same_trace_byte_for_byte_across_a_crash_and_a_restart():
    first = run_seed(3, 1.5, plan=PLAN)
    second = run_seed(3, 1.5, plan=PLAN)
    assert first.stats.crashes == 1 and first.stats.stops == 2 and first.stats.lives == 3
    assert "| hedge_sent " in first.trace and "dst fill venue=lighter" in first.trace
    assert first.trace == second.trace
    assert first.exit_codes == second.exit_codes


def test_different_seeds_give_different_worlds():
    assert run_seed(3, 0.5, plan=[]).trace != run_seed(4, 0.5, plan=[]).trace
    assert draw_plan(3, 3.0) == draw_plan(3, 3.0) and draw_plan(3, 3.0) != draw_plan(4, 3.0)
