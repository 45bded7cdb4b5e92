"""The fill -> hedge attribution rule of bench/fill_to_hedge.py, as a pure function over stamp lists
(the rule is written out in docs/benchmarks.md; these are its cases)."""

from __future__ import annotations

import importlib.util
import math
import sys
from decimal import Decimal
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("bench_attribution", Path(__file__).parents[2] / "bench" / "attribution.py")
attribution = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = attribution  # dataclasses look their module up while the class is built
_SPEC.loader.exec_module(attribution)


def fill(t, side, qty, order=1, taker=False):
    return {"t": t, "trade": int(t * 1e6), "order": order, "side": side, "qty": qty, "taker": taker}


def create(t, side, qty, client):
    return {"t": t, "type": 14, "side": side, "qty": qty, "client": client}


def ended(t, client, side, qty, filled, status="filled"):
    return {"t": t, "client": client, "index": client, "status": status, "filled": filled, "qty": qty, "side": side}


def test_a_fill_hedged_by_one_later_order_waits_from_its_frame_to_that_orders_arrival():
    res = attribution.attribute({"fills": [fill(1.0, "BUY", "0.5")]},
                                {"txs": [create(1.005, "sell", "0.5", 1)], "orders": [ended(1.305, 1, "sell", "0.5", "0.5")]})
    assert res.latencies == [pytest.approx(0.005)]
    assert res.idle == res.latencies and res.resting == []
    assert res.unhedged_fills == 0


def test_a_fill_that_arrives_while_a_hedge_rests_counts_as_resting_and_waits_for_its_own_hedge():
    ext = {"fills": [fill(0.0, "BUY", "0.2"), fill(0.1, "BUY", "0.3")]}
    lig = {"txs": [create(0.004, "sell", "0.2", 1), create(0.305, "sell", "0.3", 2)],
           "orders": [ended(0.304, 1, "sell", "0.2", "0.2"), ended(0.605, 2, "sell", "0.3", "0.3")]}
    res = attribution.attribute(ext, lig)
    assert res.idle == [pytest.approx(0.004)]
    assert res.resting == [pytest.approx(0.205)]


def test_one_hedge_covers_queued_fills_first_in_first_out_by_quantity():
    ext = {"fills": [fill(0.0, "BUY", "0.2"), fill(0.1, "BUY", "0.3")]}
    res = attribution.attribute(ext, {"txs": [create(0.35, "sell", "0.5", 1)]})
    assert res.latencies == [pytest.approx(0.35), pytest.approx(0.25)]


def test_a_fill_is_hedged_only_when_the_last_of_its_quantity_is_covered():
    ext = {"fills": [fill(0.0, "SELL", "0.5")]}
    res = attribution.attribute(ext, {"txs": [create(0.01, "buy", "0.2", 1), create(0.4, "buy", "0.3", 2)]})
    assert res.latencies == [pytest.approx(0.4)]


def test_a_hedge_on_the_same_side_as_the_fill_covers_nothing():
    res = attribution.attribute({"fills": [fill(0.0, "BUY", "0.5")]}, {"txs": [create(0.01, "buy", "0.5", 1)]})
    assert res.latencies == [] and res.unhedged_fills == 1


def test_opposite_fills_net_and_the_netting_fill_is_covered_at_once():
    ext = {"fills": [fill(0.0, "BUY", "0.3"), fill(0.1, "SELL", "0.3", order=2)]}
    res = attribution.attribute(ext, {})
    assert res.latencies == [pytest.approx(0.1), 0.0]


def test_a_cancelled_hedge_gives_its_quantity_back_to_the_unhedged_time():
    ext = {"fills": [fill(0.0, "BUY", "0.5")]}
    lig = {"txs": [create(0.01, "sell", "0.5", 1), create(0.5, "sell", "0.5", 2)],
           "orders": [ended(0.3, 1, "sell", "0.5", "0", status="canceled"), ended(0.8, 2, "sell", "0.5", "0.5")]}
    res = attribution.attribute(ext, lig, end=0.5)
    assert res.latencies == [pytest.approx(0.01)]
    # unhedged 0.5 during [0, 0.01] and again during [0.3, 0.5]: (0.005 + 0.1) / 0.5
    assert float(res.time_weighted_unhedged) == pytest.approx(0.21)
    assert res.max_unhedged == Decimal("0.5")


def test_an_upward_modify_covers_the_added_quantity():
    ext = {"fills": [fill(0.0, "BUY", "0.2"), fill(0.1, "BUY", "0.3")]}
    lig = {"txs": [create(0.01, "sell", "0.2", 1),
                   {"t": 0.12, "type": 17, "index": 1, "client": 1, "qty": "0.5", "before": "0.2", "side": "sell"}]}
    res = attribution.attribute(ext, lig)
    assert res.latencies == [pytest.approx(0.01), pytest.approx(0.02)]


def test_a_downward_modify_the_sequencer_refused_is_undone_when_its_order_ends_not_counted_forever():
    # A maker SELL 0.3 nets a resting SELL hedge: the modify down to 0.2 arrives, but the order had filled
    # 0.5 meanwhile (the venue refuses the modify). The hedge covered 0.5, so a BUY hedge of 0.3 is due:
    # the later BUY fill of 0.3 is netted by it, and nothing is left open at the end.
    ext = {"fills": [fill(0.0, "BUY", "0.5"), fill(0.1, "SELL", "0.3"), fill(1.0, "BUY", "0.3")]}
    lig = {"txs": [create(0.01, "sell", "0.5", 1),
                   {"t": 0.11, "type": 17, "index": 1, "client": 1, "qty": "0.2", "before": "0.5", "side": "sell"}],
           "orders": [ended(0.31, 1, "sell", "0.5", "0.5")]}
    res = attribution.attribute(ext, lig)
    assert res.unhedged_fills == 0
    assert res.latencies == [pytest.approx(0.01), pytest.approx(0.01), 0.0]


def test_the_replaced_design_hedges_every_fill_of_an_order_at_the_first_poll_after_the_order_ended():
    ext = {"fills": [fill(0.0, "BUY", "0.2", order=7), fill(0.2, "BUY", "0.3", order=7), fill(0.3, "BUY", "0.1", order=8)],
           "orders": [{"t": 0.25, "order": 7, "status": "FILLED", "filled": "0.5"}]}
    # polls at 0.1, 0.6, 1.1 ...: order 7 ended at 0.25 -> seen at 0.6; order 8 never ended -> no sample
    assert attribution.orig_replay(ext, phase=0.1) == [pytest.approx(0.6), pytest.approx(0.4)]


def test_percentiles_are_nearest_rank():
    xs = [float(i) for i in range(1, 101)]
    s = attribution.summary(xs)
    assert (s["p50"], s["p90"], s["p99"], s["max"], s["n"]) == (50.0, 90.0, 99.0, 100.0, 100)
    assert math.isnan(attribution.summary([])["p50"])


def test_a_fill_below_the_minimum_order_is_its_own_population_and_every_hedged_fill_is_in_exactly_one():
    # 0.04 cannot be sent alone (Lighter's minimum order): it waits for the next fill of its side and the
    # two go out as one hedge. It is reported apart from the hedgeable fills, idle or queued, never dropped.
    ext = {"fills": [fill(0.0, "BUY", "0.04"), fill(0.2, "BUY", "0.3"), fill(0.25, "BUY", "0.2"), fill(2.0, "BUY", "0.5")]}
    lig = {"txs": [create(0.204, "sell", "0.34", 1), create(0.253, "sell", "0.2", 2), create(2.003, "sell", "0.5", 3)],
           "orders": [ended(0.5, 1, "sell", "0.34", "0.34"), ended(0.55, 2, "sell", "0.2", "0.2"),
                      ended(2.3, 3, "sell", "0.5", "0.5")]}
    res = attribution.attribute(ext, lig, small_qty=Decimal("0.067"))
    assert res.small == [pytest.approx(0.204)]
    assert res.resting == [pytest.approx(0.004), pytest.approx(0.003)]  # the 0.04 was uncovered / a hedge live
    assert res.idle == [pytest.approx(0.003)]
    assert len(res.small) + len(res.resting) + len(res.idle) + res.unhedged_fills == res.fills == 4
    unsplit = attribution.attribute(ext, lig)
    assert unsplit.small == [] and sorted(unsplit.idle + unsplit.resting) == sorted(res.latencies)


def test_a_fill_that_nets_a_residual_down_below_the_minimum_order_is_below_the_minimum_not_hedgeable():
    # A 0.05 SELL residual (below the minimum) is open; a 0.09 BUY nets it to 0.04 open: no order can hedge
    # 0.04, so the fill waits with it, whatever its own size. The next BUY makes 0.12 open, one hedge covers it.
    ext = {"fills": [fill(0.0, "SELL", "0.05"), fill(0.3, "BUY", "0.09"), fill(0.5, "BUY", "0.08")]}
    lig = {"txs": [create(0.505, "sell", "0.12", 1)], "orders": [ended(0.8, 1, "sell", "0.12", "0.12")]}
    res = attribution.attribute(ext, lig, small_qty=Decimal("0.067"))
    assert [r[4] for r in res.traces] == [True, True, False]
    assert res.small == [pytest.approx(0.3), pytest.approx(0.205)]  # the 0.05 netted at 0.3; the 0.09 at 0.505
    assert res.resting == [pytest.approx(0.005)] and res.idle == []


def test_a_small_fill_that_tops_its_sides_residual_up_to_the_minimum_order_is_hedgeable():
    # 0.05 BUY open (below the minimum), then 0.03 BUY: 0.08 is open, which one order can hedge at once.
    ext = {"fills": [fill(0.0, "BUY", "0.05"), fill(0.4, "BUY", "0.03")]}
    lig = {"txs": [create(0.403, "sell", "0.08", 1)], "orders": [ended(0.7, 1, "sell", "0.08", "0.08")]}
    res = attribution.attribute(ext, lig, small_qty=Decimal("0.067"))
    assert res.small == [pytest.approx(0.403)]
    assert res.resting == [pytest.approx(0.003)]  # the 0.05 was still uncovered: queued, hedgeable


def test_a_fill_left_open_below_the_minimum_when_a_hedge_covers_its_neighbours_is_below_the_minimum():
    # 0.25 BUY, then 0.06 BUY 2 ms later: the hedge the daemon sent for the 0.25 (before it saw the 0.06)
    # covers the 0.25 and leaves 0.06 open, which no order can hedge, until a 0.08 BUY makes it 0.14.
    ext = {"fills": [fill(0.0, "BUY", "0.25"), fill(0.002, "BUY", "0.06"), fill(1.0, "BUY", "0.08")]}
    lig = {"txs": [create(0.005, "sell", "0.25", 1), create(1.004, "sell", "0.14", 2)],
           "orders": [ended(0.3, 1, "sell", "0.25", "0.25"), ended(1.3, 2, "sell", "0.14", "0.14")]}
    res = attribution.attribute(ext, lig, small_qty=Decimal("0.067"))
    assert [r[4] for r in res.traces] == [False, True, False]  # the 0.06 waited below the minimum
    assert res.idle == [pytest.approx(0.005)] and res.small == []
    # the 0.06 was hedgeable (0.31 open) until the hedge left it alone at 0.005: 3 ms; the 0.08 then 4 ms
    assert res.resting == [pytest.approx(0.003), pytest.approx(0.004)]
    assert sorted(res.latencies) == [pytest.approx(0.004), pytest.approx(0.005), pytest.approx(1.002)]


def test_a_hedge_that_comes_late_and_leaves_less_than_the_minimum_still_counts_its_delay():
    # A 0.05 BUY residual, then 0.30 BUY (0.35 open, hedgeable). The daemon stalls 1 s; its 0.30 hedge
    # covers the residual first and leaves 0.05 of the 0.30 fill: the 1 s stall stays in "hedge resting".
    ext = {"fills": [fill(0.0, "BUY", "0.05"), fill(1.0, "BUY", "0.30"), fill(3.0, "BUY", "0.10")]}
    lig = {"txs": [create(2.0, "sell", "0.30", 1), create(3.003, "sell", "0.15", 2)],
           "orders": [ended(2.3, 1, "sell", "0.30", "0.30"), ended(3.3, 2, "sell", "0.15", "0.15")]}
    res = attribution.attribute(ext, lig, small_qty=Decimal("0.067"))
    assert res.small == [pytest.approx(2.0)]  # the residual: below the minimum at its stamp
    assert res.resting == [pytest.approx(1.0), pytest.approx(0.003)]


def test_an_opposite_fill_that_nets_a_stalled_fill_below_the_minimum_still_counts_the_stall():
    ext = {"fills": [fill(0.0, "BUY", "0.30"), fill(1.0, "SELL", "0.25"), fill(2.0, "BUY", "0.10")]}
    lig = {"txs": [create(2.004, "sell", "0.15", 1)], "orders": [ended(2.3, 1, "sell", "0.15", "0.15")]}
    res = attribution.attribute(ext, lig, small_qty=Decimal("0.067"))
    assert res.idle == [pytest.approx(1.0)]  # unhedged for 1 s while 0.30 was open: not hidden
    assert res.small == [] and res.resting == [pytest.approx(0.0), pytest.approx(0.004)]
