"""Reconciliation scenarios: the same table as docs/ledger.md ("Reconciliation scenarios")."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from hedged.ledger import Adjustment, LedgerCore, ReconcileKind, apply_reconciliation, plan_reconciliation
from hedged.ledger.orders import Leg
from hedged.venues.base import OrderStatus as S
from hedged.venues.base import Side, Venue

from ledger_helpers import D, HEDGE, MAKER, ROLES, check_invariants, snap, trade, upd

BUY, SELL = Side.BUY, Side.SELL
COLD, WARM, PERIODIC = ReconcileKind.COLD, ReconcileKind.WARM, ReconcileKind.PERIODIC


@dataclass
class Case:
    name: str
    kind: ReconcileKind
    before: list  # steps applied to the ledger first
    positions: list
    open_orders: list
    adjustments: list[tuple[Leg, str, str]]
    adopted: int = 0
    closed: int = 0
    after: dict = field(default_factory=dict)  # leg -> position after applying
    in_flight: str = "0"


def _hedge(cid, side, qty):
    return lambda c: c.register_hedge(cid, side, D(qty))


CASES = [
    Case("cold start, venues hold positions, nothing open", COLD, [],
         [snap(MAKER, "1.0"), snap(HEDGE, "-1.0")], [],
         [(MAKER, "1.0", "cold_start_baseline"), (HEDGE, "-1.0", "cold_start_baseline")],
         after={MAKER: "1.0", HEDGE: "-1.0"}),
    Case("cold start, a partly filled maker order is open", COLD, [],
         [snap(MAKER, "0.4")], [upd(MAKER, "9", "m9", BUY, S.PARTIALLY_FILLED, "1", "0.4")],
         [(MAKER, "0.4", "cold_start_baseline")], adopted=1, after={MAKER: "0.4", HEDGE: "0"}),
    Case("warm start, ledger agrees with the venues", WARM,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "1", "1")),
          lambda c: c.apply(upd(HEDGE, "L1", "h1", SELL, S.FILLED, "1", "1"))],
         [snap(MAKER, "1"), snap(HEDGE, "-1")], [], [], after={MAKER: "1", HEDGE: "-1"}),
    Case("warm start, an open order filled more while we were down", WARM,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.5"))],
         [snap(MAKER, "0.8")], [upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.8")], [],
         after={MAKER: "0.8", HEDGE: "0"}),
    Case("warm start, a hedge in flight is gone and the venue shows it filled", WARM,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4")), _hedge("h1", SELL, "0.4"),
          lambda c: c.apply(upd(HEDGE, "L1", "h1", SELL, S.OPEN, "0.4", "0"))],
         [snap(MAKER, "0.4"), snap(HEDGE, "-0.4")], [], [(HEDGE, "-0.4", "warm_restart_drift")], closed=1,
         after={MAKER: "0.4", HEDGE: "-0.4"}),
    Case("warm start, a hedge registered but never acknowledged is not at the venue", WARM,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4")), _hedge("h1", SELL, "0.4")],
         [snap(MAKER, "0.4")], [], [], closed=1, after={MAKER: "0.4", HEDGE: "0"}),
    Case("periodic, a hedge just sent is not listed yet: kept in flight", PERIODIC,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4")), _hedge("h1", SELL, "0.4")],
         [snap(MAKER, "0.4")], [], [], after={MAKER: "0.4", HEDGE: "0"}, in_flight="-0.4"),
    Case("periodic, a missed fill shows up as drift", PERIODIC,
         [lambda c: c.apply(trade(MAKER, "t1", "1", BUY, "1.0"))],
         [snap(MAKER, "0.9")], [], [(MAKER, "-0.1", "drift")], after={MAKER: "0.9", HEDGE: "0"}),
    Case("periodic, a venue that omits a flat leg means flat", PERIODIC,
         [lambda c: c.apply(trade(HEDGE, "x1", "L1", SELL, "0.2"))],
         [snap(MAKER, "0")], [], [(HEDGE, "0.2", "drift")], after={MAKER: "0", HEDGE: "0"}),
    Case("periodic, an open order on another market is left alone", PERIODIC, [],
         [], [upd(Leg(Venue.EXTENDED, "ETH-USD"), "5", "e5", BUY, S.OPEN, "1", "0")], [],
         after={MAKER: "0", HEDGE: "0"}),
    Case("warm start, unknown open hedge order (sent just before a crash) is adopted and in flight", WARM, [],
         [snap(MAKER, "0.5"), snap(HEDGE, "-0.2")], [upd(HEDGE, "L7", "h7", SELL, S.OPEN, "0.5", "0.2")],
         [(MAKER, "0.5", "warm_restart_drift"), (HEDGE, "-0.2", "warm_restart_drift")], adopted=1,
         after={MAKER: "0.5", HEDGE: "-0.2"}, in_flight="-0.3"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reconciliation_scenario(case: Case):
    core = LedgerCore(ROLES)
    for step in case.before:
        step(core)
    plan = plan_reconciliation(core, case.positions, case.open_orders, kind=case.kind)
    assert plan.adjustments == tuple(Adjustment(leg, D(d), r) for leg, d, r in case.adjustments)
    assert (len(plan.adopt), len(plan.close)) == (case.adopted, case.closed)
    apply_reconciliation(core, plan)
    for leg, pos in case.after.items():
        assert core.positions[leg] == D(pos), leg
    assert core.hedge_in_flight == D(case.in_flight)
    check_invariants(core)
    # The venues are now the truth: a second pass finds nothing to do.
    again = plan_reconciliation(core, case.positions, case.open_orders, kind=case.kind)
    assert again.adjustments == () and again.adopt == () and again.close == ()


def test_fills_of_an_adopted_order_count_only_beyond_its_baseline():
    core = LedgerCore(ROLES)
    plan = plan_reconciliation(core, [snap(MAKER, "0.4")],
                               [upd(MAKER, "9", "m9", BUY, S.PARTIALLY_FILLED, "1", "0.4")], kind=COLD)
    apply_reconciliation(core, plan)
    core.apply(upd(MAKER, "9", "m9", BUY, S.PARTIALLY_FILLED, "1", "0.4"))  # restated
    assert core.positions[MAKER] == D("0.4")
    core.apply(upd(MAKER, "9", "m9", BUY, S.PARTIALLY_FILLED, "1", "0.6"))
    assert core.positions[MAKER] == D("0.6")


def test_plan_reports_exposure_per_leg_and_net():
    core = LedgerCore(ROLES)
    plan = plan_reconciliation(core, [snap(MAKER, "1.5"), snap(HEDGE, "-1.2")], [], kind=COLD)
    assert plan.exposure == {MAKER: D("1.5"), HEDGE: D("-1.2")}
    assert plan.net_exposure == D("0.3")
    assert not plan.clean


def test_reconciliation_clears_the_request_raised_by_an_anomaly():
    core = LedgerCore(ROLES)
    core.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.6"))
    core.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.5"))
    assert core.reconcile_requested
    apply_reconciliation(core, plan_reconciliation(
        core, [snap(MAKER, "0.6")], [upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.6")], kind=PERIODIC))
    assert not core.reconcile_requested
    assert core.positions[MAKER] == Decimal("0.6")
