"""Table tests of the pure strategy cores: tolerance, planning, pricing, backoff."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal as D

import pytest

from hedged.config import CycleConfig, HedgeConfig
from hedged.strategy.planning import draw_side, draw_size, plan_cycle
from hedged.strategy.pricing import NoPrice, draw_offset_bps, hedge_price
from hedged.strategy.tolerance import tolerance, within
from hedged.venues.base import MarketRules, Side, TopOfBook, Venue

RULES = MarketRules(Venue.LIGHTER, "SOL", tick=D("0.01"), size_step=D("0.001"), min_size=D("0.01"))
ODD_TICK = MarketRules(Venue.LIGHTER, "X", tick=D("0.05"), size_step=D("0.1"), min_size=D("0.1"))


def top(bid, ask) -> TopOfBook:
    return TopOfBook(Venue.LIGHTER, "SOL", None if bid is None else D(bid), D(1), None if ask is None else D(ask), D(1), 0.0)


@pytest.mark.parametrize(
    ("size_max", "cycle", "pct", "floor", "expected"),
    [
        ("2", "1", "5", "0.05", "0.1"),  # size_max dominates
        ("2", "3", "5", "0.05", "0.15"),  # a cycle bigger than size_max (restart) dominates
        ("2", None, "5", "0.05", "0.1"),  # no cycle yet
        ("0.5", "0.5", "5", "0.05", "0.05"),  # floor wins over 0.025
        ("10", "1", "1", "0", "0.1"),
    ],
)
def test_tolerance_is_the_larger_size_times_pct_with_a_floor(size_max, cycle, pct, floor, expected):
    got = tolerance(D(size_max), None if cycle is None else D(cycle), D(pct), D(floor))
    assert got == D(expected)


def test_exposure_exactly_at_tolerance_is_within_and_beyond_is_not():
    assert within(D("0.1"), D("0.1")) and within(D("-0.1"), D("0.1"))
    assert not within(D("0.1000001"), D("0.1")) and not within(D("-0.2"), D("0.1"))


def test_fixed_direction_is_obeyed_and_random_direction_uses_both_sides():
    rng = random.Random(1)
    assert {draw_side("buy", rng) for _ in range(20)} == {Side.BUY}
    assert {draw_side("sell", rng) for _ in range(20)} == {Side.SELL}
    counts = Counter(draw_side("random", rng) for _ in range(400))
    assert 150 < counts[Side.BUY] < 250


def test_drawn_sizes_stay_on_the_step_inside_the_range_and_reach_both_ends():
    rng = random.Random(2)
    sizes = {draw_size(D("0.55"), D("1.2"), D("0.1"), rng) for _ in range(500)}
    assert sizes == {D("0.6"), D("0.7"), D("0.8"), D("0.9"), D("1.0"), D("1.1"), D("1.2")}


def test_a_range_without_any_step_multiple_is_refused():
    with pytest.raises(ValueError, match="no multiple"):
        draw_size(D("0.51"), D("0.59"), D("0.1"), random.Random(0))


def test_the_same_seed_plans_the_same_cycles():
    cfg = CycleConfig()
    a = [plan_cycle(cfg, r) for r in [random.Random(9)] for _ in range(10)]
    rng = random.Random(9)
    b = [plan_cycle(cfg, rng) for _ in range(10)]
    assert a == b
    for plan in a:
        assert cfg.delay_min_s <= plan.delay_s <= cfg.delay_max_s
        assert cfg.hold_min_s <= plan.hold_s <= cfg.hold_max_s
        assert cfg.size_min <= plan.size <= cfg.size_max


def test_an_empty_window_yields_its_single_value():
    cfg = CycleConfig(delay_min_s=3.0, delay_max_s=3.0, hold_min_s=0.0, hold_max_s=0.0)
    plan = plan_cycle(cfg, random.Random(0))
    assert plan.delay_s == 3.0 and plan.hold_s == 0.0


@pytest.mark.parametrize(
    ("side", "bid", "ask", "bps", "level", "step", "rules", "expected"),
    [
        (Side.BUY, "100", "100.10", "10", 1, "10", RULES, "100.21"),  # 100.2001 rounds up
        (Side.BUY, "100", "100.10", "10", 2, "10", RULES, "100.31"),  # +10 bps on level 2: 100.3002 up
        (Side.SELL, "100", "100.10", "10", 1, "10", RULES, "99.90"),
        (Side.SELL, "100.03", "100.10", "5", 1, "0", RULES, "99.97"),  # 99.979985 rounds down
        (Side.BUY, "100", "100.02", "0", 1, "0", ODD_TICK, "100.05"),  # tick 0.05, up
        (Side.SELL, "100.04", "101", "0", 1, "0", ODD_TICK, "100.00"),  # tick 0.05, down
        (Side.SELL, "0.01", "0.02", "20000", 1, "0", RULES, "0.01"),  # never at or below zero
    ],
)
def test_hedge_price_crosses_by_the_offset_and_rounds_aggressively(side, bid, ask, bps, level, step, rules, expected):
    assert hedge_price(side, top(bid, ask), D(bps), level, D(step), rules) == D(expected)


def test_every_further_level_is_strictly_more_aggressive():
    prices = [hedge_price(Side.SELL, top("150", "150.02"), D(5), n, D(10), RULES) for n in range(1, 6)]
    assert prices == sorted(prices, reverse=True) and len(set(prices)) == 5


def test_no_opposite_price_means_no_hedge_price():
    with pytest.raises(NoPrice):
        hedge_price(Side.BUY, top("100", None), D(5), 1, D(0), RULES)
    with pytest.raises(NoPrice):
        hedge_price(Side.SELL, top(None, "100"), D(5), 1, D(0), RULES)


def test_offsets_are_drawn_inside_each_sides_range():
    cfg = HedgeConfig(buy_offset_bps_min=D(2), buy_offset_bps_max=D(4), sell_offset_bps_min=D(7), sell_offset_bps_max=D(7))
    rng = random.Random(3)
    buys = [draw_offset_bps(cfg, Side.BUY, rng) for _ in range(200)]
    assert all(D(2) <= b <= D(4) for b in buys) and len(set(buys)) > 50
    assert {draw_offset_bps(cfg, Side.SELL, rng) for _ in range(20)} == {D(7)}


def test_cycle_tolerance_never_drops_below_what_the_hedge_venue_can_trade():
    import random as _random
    from types import SimpleNamespace

    from trio_util import AsyncValue

    from hedged.config import CycleConfig, RiskConfig
    from hedged.strategy.cycle import CycleRunner
    from hedged.strategy.hedgefirst import HedgeFirst

    def runner(untradeable):
        return CycleRunner(ledger=None, maker=None, executor=SimpleNamespace(busy=AsyncValue(False), unhedged=lambda: False,
                                                                    first=HedgeFirst()), sweeper=None,
                           cycle_cfg=CycleConfig(size_min=D("0.5"), size_max=D("1")), risk_cfg=RiskConfig(),
                           rng=_random.Random(1), new_client_id=None, untradeable=untradeable)

    assert runner(None).tolerance() == D("0.05")  # 5 % of size_max 1
    # Lighter's 10 USDC minimum at 150 is 0.067 SOL: a smaller residual cannot be traded away.
    assert runner(lambda: D("0.067")).tolerance() == D("0.067")
    assert runner(lambda: D("0.01")).tolerance() == D("0.05")
