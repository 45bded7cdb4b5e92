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
    # client id -> the venue's answer to a targeted status query (None: unknown at the venue);
    # a live order the venue does not list and that is missing here had its query fail.
    statuses: dict = field(default_factory=dict)
    adjust: tuple | None = None  # legs whose fence held (None: all)
    held: tuple = ()


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
    Case("warm start, a hedge in flight is gone: its own status says filled, counted as a fill", WARM,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4")), _hedge("h1", SELL, "0.4"),
          lambda c: c.apply(upd(HEDGE, "L1", "h1", SELL, S.OPEN, "0.4", "0"))],
         [snap(MAKER, "0.4"), snap(HEDGE, "-0.4")], [], [],
         after={MAKER: "0.4", HEDGE: "-0.4"}, statuses={"h1": upd(HEDGE, "L1", "h1", SELL, S.FILLED, "0.4", "0.4")}),
    Case("warm start, a hedge in flight the venue does not know is closed; its fill an adjustment", WARM,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4")), _hedge("h1", SELL, "0.4"),
          lambda c: c.apply(upd(HEDGE, "L1", "h1", SELL, S.OPEN, "0.4", "0"))],
         [snap(MAKER, "0.4"), snap(HEDGE, "-0.4")], [], [(HEDGE, "-0.4", "warm_restart_drift")], closed=1,
         after={MAKER: "0.4", HEDGE: "-0.4"}, statuses={"h1": None}),
    Case("warm start, a hedge whose status query failed is neither closed nor its leg adjusted", WARM,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4")), _hedge("h1", SELL, "0.4"),
          lambda c: c.apply(upd(HEDGE, "L1", "h1", SELL, S.OPEN, "0.4", "0"))],
         [snap(MAKER, "0.4"), snap(HEDGE, "-0.4")], [], [],
         after={MAKER: "0.4", HEDGE: "0"}, in_flight="-0.4", held=(HEDGE,)),
    Case("periodic, a leg whose stream moved during the snapshot is not adjusted", PERIODIC,
         [lambda c: c.apply(trade(MAKER, "t1", "1", BUY, "1.0"))],
         [snap(MAKER, "0.9")], [], [], after={MAKER: "1.0", HEDGE: "0"}, adjust=(HEDGE,), held=(MAKER,)),
    Case("warm start, a hedge registered but never acknowledged is not at the venue", WARM,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4")), _hedge("h1", SELL, "0.4")],
         [snap(MAKER, "0.4")], [], [], closed=1, after={MAKER: "0.4", HEDGE: "0"}, statuses={"h1": None}),
    Case("periodic, a hedge just sent is not listed yet: kept in flight", PERIODIC,
         [lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4")), _hedge("h1", SELL, "0.4")],
         [snap(MAKER, "0.4")], [], [], after={MAKER: "0.4", HEDGE: "0"}, in_flight="-0.4", statuses={"h1": None}),
    Case("periodic, a maker order never acknowledged (silent stream) filled: a fill, not drift", PERIODIC,
         [lambda c: c.register_order(MAKER, "m1", BUY, D("0.5"))],
         [snap(MAKER, "0.5")], [], [], after={MAKER: "0.5", HEDGE: "0"},
         statuses={"m1": upd(MAKER, "1", "m1", BUY, S.FILLED, "0.5", "0.5")}),
    Case("periodic, a maker order never acknowledged whose status query failed holds its leg", PERIODIC,
         [lambda c: c.register_order(MAKER, "m1", BUY, D("0.5"))],
         [snap(MAKER, "0.5")], [], [], after={MAKER: "0", HEDGE: "0"}, held=(MAKER,)),
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
    statuses = {core.find(u.venue if u else HEDGE.venue, client_id=cid).key: u for cid, u in case.statuses.items()}
    plan = plan_reconciliation(core, case.positions, case.open_orders, kind=case.kind, statuses=statuses,
                               adjust=case.adjust)
    assert plan.adjustments == tuple(Adjustment(leg, D(d), r) for leg, d, r in case.adjustments)
    assert (len(plan.adopt), len(plan.close)) == (case.adopted, case.closed)
    assert plan.held == case.held
    apply_reconciliation(core, plan)
    for leg, pos in case.after.items():
        assert core.positions[leg] == D(pos), leg
    assert core.hedge_in_flight == D(case.in_flight)
    check_invariants(core)
    # The venues are now the truth: a second pass finds nothing to do.
    again = plan_reconciliation(core, case.positions, case.open_orders, kind=case.kind, statuses=statuses,
                                adjust=case.adjust)
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


def test_a_closed_order_is_journaled_and_its_late_fill_guard_survives_a_restart(tmp_path):
    from hedged.ledger import Ledger

    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger.open(ROLES, path)
    ledger.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.4", "0.4"))
    ledger.register_hedge("h1", SELL, D("0.4"))
    ledger.apply(upd(HEDGE, "L1", "h1", SELL, S.OPEN, "0.4", "0"))
    key = ledger.order(HEDGE.venue, "h1").key
    # The venue does not know h1 any more, and its position shows it filled.
    plan = ledger.reconcile([snap(MAKER, "0.4"), snap(HEDGE, "-0.4")], [], kind=WARM, statuses={key: None})
    assert plan.close == (key,)
    ledger.close()

    again = Ledger.open(ROLES, path)
    rec = again.order(HEDGE.venue, "h1")
    assert rec.status is S.CANCELLED and rec.closed_by_reconcile  # not live again after the restart
    assert again.position(HEDGE.venue) == D("-0.4") and again.hedge_in_flight() == 0
    # A second restart's reconciliation has nothing to close.
    plan = again.reconcile([snap(MAKER, "0.4"), snap(HEDGE, "-0.4")], [], kind=WARM, statuses={})
    assert plan.close == () and plan.adjustments == ()
    # The late fill the venue reports for it is already in the adjusted position: not counted twice.
    again.apply(upd(HEDGE, "L1", "h1", SELL, S.FILLED, "0.4", "0.4"))
    assert again.position(HEDGE.venue) == D("-0.4")
    assert again.statistics().counters["fill_after_reconcile_close"] == 1
    again.close()


def test_an_order_id_seen_again_with_another_client_id_is_a_new_order_not_a_merge():
    core = LedgerCore(ROLES)
    core.register_order(MAKER, "m1", BUY, D("1"))
    core.apply(upd(MAKER, "7", "m1", BUY, S.FILLED, "1", "1"))
    core.register_order(MAKER, "m2", BUY, D("0.6"))
    # A venue that restarted hands out id 7 again, to our new order m2.
    core.apply(upd(MAKER, "7", "m2", BUY, S.PARTIALLY_FILLED, "0.6", "0.2"))
    old, new = core.find(MAKER.venue, client_id="m1"), core.find(MAKER.venue, client_id="m2")
    assert old is not new and old.counted == D("1") and new.counted == D("0.2")
    assert core.find(MAKER.venue, order_id="7") is new
    assert core.positions[MAKER] == D("1.2")
    assert core.counters["order_id_reused"] == 1 and core.counters["cumulative_regressed"] == 0
    assert core.reconcile_requested
    check_invariants(core)


@pytest.mark.parametrize("side, qty", [(SELL, "1"), (BUY, "0.6")], ids=["other side", "other size"])
def test_an_order_id_of_a_finished_order_with_another_side_or_size_is_a_new_order(side, qty):
    core = LedgerCore(ROLES)
    core.apply(upd(MAKER, "7", None, BUY, S.FILLED, "1", "1"))
    core.apply(upd(MAKER, "7", None, side, S.PARTIALLY_FILLED, qty, "0.2"))
    assert core.positions[MAKER] == D("1") + D("0.2") * side.sign
    assert core.counters["order_id_reused"] == 1 and core.counters["cumulative_regressed"] == 0
    assert len(core.orders) == 2
    check_invariants(core)


def test_the_back_fill_watermark_is_the_newest_venue_time_seen_and_survives_a_restart(tmp_path):
    from hedged.ledger import Ledger

    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger.open(ROLES, path)
    ledger.apply(upd(MAKER, "1", "m1", BUY, S.OPEN, "1", "0", ts_ms=1_000))  # first sight of the order
    ledger.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.2", ts_ms=5_000))
    ledger.apply(upd(HEDGE, "L1", "h1", SELL, S.FILLED, "0.2", "0.2", ts_ms=4_000))
    assert ledger.core.venue_ts == {MAKER.venue: 5_000, HEDGE.venue: 4_000}
    ledger.close()
    again = Ledger.open(ROLES, path)
    assert again.core.venue_ts == {MAKER.venue: 5_000, HEDGE.venue: 4_000}
    # A back-filled trade the journal already holds is not counted again.
    again.apply(trade(MAKER, "t9", "1", BUY, "0.3"))
    assert again.backfill([trade(MAKER, "t9", "1", BUY, "0.3"), trade(MAKER, "t10", "1", BUY, "0.1")]) == 1
    assert again.position(MAKER.venue) == D("0.4")
    again.close()
