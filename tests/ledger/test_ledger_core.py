"""The pure core, scenario by scenario. Each test is a list of venue events and the state it must leave."""

from __future__ import annotations

import pytest

from hedged.ledger import ALLOWED, LedgerCore, next_status, plan_hedge
from hedged.venues.base import OrderStatus as S
from hedged.venues.base import Side, Venue

from ledger_helpers import D, HEDGE, HEDGE_RULES, MAKER, ROLES, check_invariants, snap, trade, upd

BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
def core() -> LedgerCore:
    return LedgerCore(ROLES)


def test_partial_fill_then_cancel_with_fill_counts_the_fill_once(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.OPEN, "1.37", "0"))
    core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "1.37", "0.40"))
    core.apply(upd(MAKER, "1", "c1", BUY, S.CANCELLED, "1.37", "0.40"))
    assert core.positions[MAKER] == D("0.40")
    assert core.find(Venue.EXTENDED, order_id="1").status is S.CANCELLED
    check_invariants(core)


def test_cancelled_order_with_partial_fill_is_hedged(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.CANCELLED, "1.37", "0.40"))
    plan = core.hedge_plan(HEDGE_RULES)
    assert (plan.side, plan.qty, plan.residual) == (SELL, D("0.4"), D("0.00"))


def test_duplicate_and_restated_updates_never_count_twice(core):
    u = upd(MAKER, "1", "c1", SELL, S.PARTIALLY_FILLED, "2", "0.5")
    for _ in range(3):
        core.apply(u)
    assert core.positions[MAKER] == D("-0.5")
    assert core.apply(u) == 0


def test_trade_then_cumulative_update_counts_the_same_fill_once(core):
    assert core.apply(trade(MAKER, "t1", "1", BUY, "0.3")) == D("0.3")
    assert core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "1", "0.3")) == 0
    assert core.apply(trade(MAKER, "t1", "1", BUY, "0.3")) == 0  # duplicate trade id
    assert core.apply(trade(MAKER, "t2", "1", BUY, "0.2")) == D("0.2")
    assert core.apply(upd(MAKER, "1", "c1", BUY, S.FILLED, "1", "1")) == D("0.5")
    assert core.positions[MAKER] == D("1")
    assert core.counters["duplicate_trade"] == 1
    check_invariants(core)


def test_cumulative_going_down_is_an_anomaly_that_asks_for_reconciliation(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "1", "0.6"))
    assert core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "1", "0.2")) == 0
    assert core.positions[MAKER] == D("0.6")
    assert core.counters["cumulative_regressed"] == 1
    assert core.reconcile_requested
    # Coming back up to a figure already counted does not count again either.
    assert core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "1", "0.6")) == 0


def test_late_fill_after_terminal_status_is_counted(core):
    core.apply(upd(HEDGE, "7", "91", SELL, S.CANCELLED, "1", "0.2"))
    assert core.apply(trade(HEDGE, "x9", "7", SELL, "0.3")) == D("-0.1")
    assert core.positions[HEDGE] == D("-0.3")
    assert core.counters["late_fill"] == 1
    assert core.find(Venue.LIGHTER, client_id="91").status is S.CANCELLED


def test_fill_while_cancel_is_pending_is_counted(core):
    core.register_order(MAKER, "c1", BUY, D("1"))
    core.apply(upd(MAKER, "1", "c1", BUY, S.OPEN, "1", "0"))
    core.note_cancel_requested(Venue.EXTENDED, order_id="1")
    core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "1", "0.25"))
    assert core.positions[MAKER] == D("0.25")
    assert core.counters["fill_while_cancel_pending"] == 1


def test_unknown_order_from_before_a_restart_is_taken_over_and_its_fill_counted(core):
    assert core.apply(upd(MAKER, "55", None, SELL, S.PARTIALLY_FILLED, "2", "0.7")) == D("-0.7")
    assert core.counters["unknown_order"] == 1
    assert core.find(Venue.EXTENDED, order_id="55").side is SELL


def test_update_carrying_only_one_id_finds_the_order_by_either(core):
    core.register_order(MAKER, "c1", BUY, D("1"))
    core.apply(upd(MAKER, None, "c1", BUY, S.OPEN, "1", "0"))  # client id only
    core.apply(upd(MAKER, "1", "c1", BUY, S.OPEN, "1", "0"))  # both: learns the venue id
    core.apply(trade(MAKER, "t1", "1", BUY, "0.4"))  # venue id only
    core.apply(upd(MAKER, None, "c1", BUY, S.PARTIALLY_FILLED, "1", "0.4"))
    assert core.positions[MAKER] == D("0.4")
    assert len(core.orders) == 1


def test_two_records_of_one_order_are_merged_without_counting_twice(core):
    core.apply(upd(MAKER, None, "c1", BUY, S.PARTIALLY_FILLED, "1", "0.4"))  # client id only
    core.apply(trade(MAKER, "t1", "1", BUY, "0.4"))  # venue id only: looks like another order
    assert core.positions[MAKER] == D("0.8")  # cannot know yet
    core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "1", "0.4"))
    assert core.positions[MAKER] == D("0.4")
    assert core.counters["orders_merged"] == 1
    check_invariants(core)


def test_terminal_status_sticks_and_a_stale_open_is_ignored(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.FILLED, "1", "1"))
    core.apply(upd(MAKER, "1", "c1", BUY, S.OPEN, "1", "0"))
    core.apply(upd(MAKER, "1", "c1", BUY, S.CANCELLED, "1", "1"))
    rec = core.find(Venue.EXTENDED, order_id="1")
    assert rec.status is S.FILLED
    assert core.counters["conflicting_terminal"] == 1
    assert core.counters["cumulative_regressed"] == 1  # the stale OPEN said 0 filled
    assert core.positions[MAKER] == D("1")


def test_impossible_transition_is_counted_never_raised(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "1", "0.5"))
    core.apply(upd(MAKER, "1", "c1", BUY, S.REJECTED, "1", "0.5"))
    assert core.counters["impossible_transition"] == 1
    assert core.positions[MAKER] == D("0.5")


def test_transition_table_accepts_every_forward_move_real_venues_make():
    for pair in [(S.PENDING, S.REJECTED), (S.OPEN, S.CANCELLED), (S.PARTIALLY_FILLED, S.CANCELLED),
                 (S.PARTIALLY_FILLED, S.EXPIRED), (S.OPEN, S.FILLED)]:
        assert pair in ALLOWED
    assert next_status(S.CANCELLED, S.OPEN) == (S.CANCELLED, "stale_update")
    assert next_status(S.PARTIALLY_FILLED, S.OPEN) == (S.PARTIALLY_FILLED, "stale_update")


def test_fill_of_the_wrong_side_is_ignored_and_counted(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.OPEN, "1", "0"))
    assert core.apply(trade(MAKER, "t1", "1", SELL, "0.4")) == 0
    assert core.counters["side_mismatch"] == 1


def test_position_snapshot_is_kept_but_never_moves_positions(core):
    core.apply(snap(MAKER, "3"))
    assert core.positions[MAKER] == 0
    assert core.venue_snapshots[MAKER].size == D("3")


def test_long_maker_fill_gives_positive_open_delta_and_a_sell_hedge(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.PARTIALLY_FILLED, "2", "0.47"))
    assert core.net_exposure == core.open_hedge_delta == D("0.47")
    plan = core.hedge_plan(HEDGE_RULES)
    assert (plan.side, plan.qty, plan.signed_qty, plan.residual) == (SELL, D("0.4"), D("-0.4"), D("0.07"))
    core.register_hedge("h1", plan.side, plan.qty, residual=plan.residual)
    # In flight: the book reads as hedged except for the residual, before the venue even answers.
    assert core.hedge_in_flight == D("-0.4")
    assert core.open_hedge_delta == D("0.07")
    assert core.residual == D("0.07")
    core.apply(upd(HEDGE, "h-9", "h1", SELL, S.FILLED, "0.4", "0.4"))
    assert (core.net_exposure, core.hedge_in_flight, core.open_hedge_delta) == (D("0.07"), 0, D("0.07"))
    check_invariants(core)


def test_short_maker_fill_gives_negative_open_delta_and_a_buy_hedge(core):
    core.apply(upd(MAKER, "1", "c1", SELL, S.FILLED, "0.3", "0.3"))
    plan = core.hedge_plan(HEDGE_RULES)
    assert core.open_hedge_delta == D("-0.3")
    assert (plan.side, plan.qty, plan.signed_qty) == (BUY, D("0.3"), D("0.3"))


def test_residual_rolls_into_the_next_hedge(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.FILLED, "0.37", "0.37"))
    p1 = core.hedge_plan(HEDGE_RULES)
    core.register_hedge("h1", p1.side, p1.qty, residual=p1.residual)
    core.apply(upd(HEDGE, "9", "h1", SELL, S.FILLED, "0.3", "0.3"))
    core.apply(upd(MAKER, "2", "c2", BUY, S.FILLED, "0.05", "0.05"))
    p2 = core.hedge_plan(HEDGE_RULES)
    assert (p1.qty, p1.residual) == (D("0.3"), D("0.07"))
    assert (p2.open_delta, p2.qty, p2.residual) == (D("0.12"), D("0.1"), D("0.02"))


def test_quantity_below_min_size_is_not_sent_and_stays_residual():
    plan = plan_hedge(D("0.08"), HEDGE_RULES)
    assert not plan.needed
    assert (plan.qty, plan.residual) == (0, D("0.08"))


def test_hedge_cancelled_with_partial_fill_gives_back_coverage_and_exposure(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.FILLED, "1", "1"))
    core.register_hedge("h1", SELL, D("1"))
    assert core.coverage.covering("extended|o|1|1") == {"o2": D("1")}
    core.apply(upd(HEDGE, "9", "h1", SELL, S.CANCELLED, "1", "0.6"))
    assert core.open_hedge_delta == D("0.4")
    assert core.coverage.covering("extended|o|1|1") == {"o2": D("0.6")}
    core.register_hedge("h2", SELL, D("0.4"))
    assert core.coverage.covering("extended|o|1|1") == {"o2": D("0.6"), "o3": D("0.4")}
    check_invariants(core)


def test_every_maker_fill_traces_to_the_hedges_that_cover_it(core):
    core.apply(trade(MAKER, "t1", "1", BUY, "0.3"))
    core.apply(trade(MAKER, "t2", "2", BUY, "0.5"))
    core.register_hedge("h1", SELL, D("0.6"))
    assert core.coverage.covering("extended|t|t1") == {"o3": D("0.3")}
    assert core.coverage.covering("extended|t|t2") == {"o3": D("0.3")}
    assert core.coverage.uncovered() == [("extended|t|t2", D("0.2"))]


def test_registering_the_same_hedge_client_id_twice_is_refused(core):
    core.register_hedge("h1", SELL, D("1"))
    with pytest.raises(ValueError, match="h1"):
        core.register_hedge("h1", SELL, D("1"))


def test_failed_send_takes_the_hedge_out_of_flight(core):
    core.apply(upd(MAKER, "1", "c1", BUY, S.FILLED, "1", "1"))
    core.register_hedge("h1", SELL, D("1"))
    assert core.open_hedge_delta == 0
    core.fail_order(Venue.LIGHTER, "h1", "OrderRejected")
    assert core.open_hedge_delta == D("1")
    assert core.coverage.uncovered() == [("extended|o|1|1", D("1"))]


def test_fill_of_an_order_closed_by_reconciliation_is_not_counted_again(core):
    core.apply(upd(HEDGE, "9", "h1", SELL, S.OPEN, "1", "0"))
    rec = core.find(Venue.LIGHTER, order_id="9")
    core.close_missing(rec, "test")
    core.adjust_position(HEDGE, D("-1"), "venue says filled")
    assert core.apply(trade(HEDGE, "x1", "9", SELL, "1")) == 0
    assert core.positions[HEDGE] == D("-1")
    assert core.reconcile_requested
    check_invariants(core)


def test_worked_example_in_docs_holds(core):
    rows = []

    def row():
        p = core.hedge_plan(HEDGE_RULES)
        rows.append((core.positions[MAKER], core.positions[HEDGE], core.hedge_in_flight, core.net_exposure,
                     core.open_hedge_delta, p.signed_qty, p.residual))

    core.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.47"))
    row()
    core.register_hedge("h1", SELL, D("0.4"), residual=D("0.07"))
    row()
    core.apply(upd(HEDGE, "L1", "h1", SELL, S.PARTIALLY_FILLED, "0.4", "0.3"))
    core.apply(upd(HEDGE, "L1", "h1", SELL, S.CANCELLED, "0.4", "0.3"))
    row()
    core.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.52"))
    row()
    core.apply(upd(MAKER, "2", "m2", SELL, S.FILLED, "0.3", "0.3"))
    row()
    assert rows == [tuple(D(x) for x in r) for r in [
        ("0.47", "0", "0", "0.47", "0.47", "-0.4", "0.07"),
        ("0.47", "0", "-0.4", "0.47", "0.07", "0", "0.07"),
        ("0.47", "-0.3", "0", "0.17", "0.17", "-0.1", "0.07"),
        ("0.52", "-0.3", "0", "0.22", "0.22", "-0.2", "0.02"),
        ("0.22", "-0.3", "0", "-0.08", "-0.08", "0", "-0.08"),
    ]]
