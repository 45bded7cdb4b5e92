"""Maker chaser decisions and the exposure guard core, as tables."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedged.strategy.chaser import CancelReplace, Keep, NoBook, Place, Resting, WaitUntil, decide, maker_price
from hedged.strategy.exposure import GuardCore, Verdict
from hedged.venues.base import MarketRules, Side, Venue

RULES = MarketRules(Venue.EXTENDED, "SOL-USD", tick=D("0.01"), size_step=D("0.01"), min_size=D("0.1"))


def d(x):
    return None if x is None else D(x)


@pytest.mark.parametrize(
    ("side", "bid", "ask", "expected"),
    [
        (Side.BUY, "100", "100.05", "100.01"),  # one tick inside
        (Side.BUY, "100", "100.01", "100"),  # one-tick spread: join the bid, never cross
        (Side.SELL, "100", "100.05", "100.04"),
        (Side.SELL, "100", "100.01", "100.01"),
        (Side.BUY, None, "100.05", "100.04"),
        (Side.SELL, "100", None, "100.01"),
        (Side.BUY, None, None, None),
    ],
)
def test_maker_price_is_one_tick_inside_and_never_crosses(side, bid, ask, expected):
    got = maker_price(side, d(bid), d(ask), RULES)
    assert got == d(expected)
    if got is not None and side is Side.BUY and ask is not None:
        assert got < D(ask)
    if got is not None and side is Side.SELL and bid is not None:
        assert got > D(bid)


def chase(**kw):
    base = dict(side=Side.BUY, wanted=D(1), bid=D(100), ask=D("100.05"), own=None, now=10.0,
                last_cancel_at=None, min_rest_s=1.0, cancel_throttle_s=0.5, rules=RULES)
    base.update(kw)
    return decide(**base)


def own(price="100.01", remaining="1", placed_at=5.0, side=Side.BUY):
    return Resting(side, D(price), D(remaining), placed_at)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, Place(D("100.01"), D(1))),
        ({"wanted": D("0.05")}, Keep()),  # below the maker minimum: nothing to rest
        ({"wanted": D("1.237")}, Place(D("100.01"), D("1.23"))),
        ({"bid": None, "ask": None}, NoBook()),
        ({"own": own(), "bid": D("100.01")}, Keep()),  # we are the best bid ourselves
        ({"own": own(), "bid": D("99.5")}, Keep()),  # the book moved away below: we are still best
        ({"own": own(), "bid": D("100.02"), "ask": D("100.06")}, CancelReplace(D("100.03"))),
        ({"own": own(placed_at=9.5), "bid": D("100.02")}, WaitUntil(10.5, "min_rest")),
        ({"own": own(), "bid": D("100.02"), "last_cancel_at": 9.8}, WaitUntil(10.3, "cancel_throttle")),
        ({"own": own(remaining="2")}, CancelReplace(D("100.01"))),  # more resting than still wanted
        ({"own": own(side=Side.SELL, price="100.04"), "side": Side.SELL, "ask": D("100.03")}, CancelReplace(D("100.02"))),
        ({"own": own(side=Side.SELL, price="100.04"), "side": Side.SELL, "ask": D("100.04")}, Keep()),
    ],
)
def test_chaser_decisions(kw, expected):
    assert chase(**kw) == expected


def test_guard_waits_out_the_grace_period_then_acts():
    g = GuardCore(grace_s=2.0)
    assert g.observe(0.0, D("0.5"), D("0.1"), hedging=False).verdict is Verdict.WATCH
    view = g.observe(1.9, D("0.5"), D("0.1"), hedging=False)
    assert view.verdict is Verdict.WATCH and view.act_at == 2.0
    assert g.observe(2.0, D("0.5"), D("0.1"), hedging=False).verdict is Verdict.ACT


def test_guard_forgets_a_breach_that_recovers_or_is_being_hedged():
    g = GuardCore(grace_s=2.0)
    g.observe(0.0, D("0.5"), D("0.1"), hedging=False)
    assert g.observe(1.0, D("0.05"), D("0.1"), hedging=False).verdict is Verdict.OK
    assert g.observe(2.5, D("0.5"), D("0.1"), hedging=False).act_at == 4.5  # a new breach starts a new clock
    assert g.observe(3.0, D("0.5"), D("0.1"), hedging=True).verdict is Verdict.OK
    assert g.observe(4.6, D("0.5"), D("0.1"), hedging=False).verdict is Verdict.WATCH
