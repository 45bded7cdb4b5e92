"""The PnL book against a balance model written from first principles.

The model is an account's cash: a buy of q at p pays q*p, a sell receives it, a fee is paid (a
negative fee is received), a funding payment is received (a negative one paid). Its equity is
cash + position * mark. Nothing in the model knows about average costs or realised PnL, so the
book's components (realised, unrealised, fees, funding) must add up to it to the last unit.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedged.pnl.core import PnlBook
from hedged.venues.base import Liquidity, Side, Venue

D = Decimal
EXT, LIG = Venue.EXTENDED, Venue.LIGHTER


class CashAccount:
    """The first-principles balance: cash per venue and signed position per venue."""

    def __init__(self) -> None:
        self.cash = {EXT: D(0), LIG: D(0)}
        self.position = {EXT: D(0), LIG: D(0)}

    def fill(self, venue, side, qty, price, fee):
        self.cash[venue] -= side.sign * qty * price + fee
        self.position[venue] += side.sign * qty

    def pay(self, venue, amount):
        self.cash[venue] += amount

    def equity(self, venue, mark):
        return self.cash[venue] + self.position[venue] * mark


qty_s = st.integers(1, 400).map(lambda n: D(n) / 100)  # 0.01 .. 4.00
price_s = st.integers(9_000, 20_000).map(lambda n: D(n) / 100 + D("0.003"))  # odd ticks, e.g. 142.373
fee_s = st.integers(-300, 3_000).map(lambda n: D(n) / 10**7)  # rebates and fees, 7 decimals
event_s = st.one_of(
    st.tuples(st.just("fill"), st.sampled_from([EXT, LIG]), st.sampled_from([Side.BUY, Side.SELL]), qty_s, price_s,
              fee_s, st.sampled_from([Liquidity.MAKER, Liquidity.TAKER]), st.integers(1, 4)),
    st.tuples(st.just("funding"), st.sampled_from([EXT, LIG]), st.integers(-5_000, 5_000).map(lambda n: D(n) / 10**6),
              st.integers(1, 4)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(event_s, max_size=60), price_s, price_s)
def test_components_add_up_to_the_balance_change_of_a_cash_account(events, mark_ext, mark_lig):
    book, acct = PnlBook([EXT, LIG]), CashAccount()
    for e in events:
        if e[0] == "fill":
            _, venue, side, qty, price, fee, liq, cycle = e
            book.fill(venue, side, qty, price, fee, liq, buckets=("all", ("cycle", cycle)))
            acct.fill(venue, side, qty, price, fee)
        else:
            _, venue, amount, cycle = e
            book.funding(venue, amount, buckets=("all", ("cycle", cycle)))
            acct.pay(venue, amount)
    marks = {EXT: mark_ext, LIG: mark_lig}
    report = book.report("all", marks)
    for venue in (EXT, LIG):
        leg = report.leg(venue)
        assert leg.position == acct.position[venue]
        # Exactly, not approximately: realised + unrealised - fees + funding is the equity change.
        assert leg.net == acct.equity(venue, marks[venue])
        if leg.position == 0:
            assert leg.unrealised == 0
            assert leg.realised - leg.fees + leg.funding == acct.cash[venue]
    assert report.net == acct.equity(EXT, mark_ext) + acct.equity(LIG, mark_lig)
    # The per-cycle buckets partition the whole stream's realised money.
    cycles = [book.report(("cycle", c), unrealised=False) for c in range(1, 5)]
    for name in ("realised", "fees", "funding"):
        assert sum((getattr(r, name) for r in cycles), D(0)) == getattr(report, name)


def test_a_hedged_round_trip_books_the_spread_fees_rebates_and_funding_per_venue():
    book = PnlBook([EXT, LIG])
    # Open: buy 2 on Extended as maker (rebate), sell 2 on Lighter as taker (fee).
    book.fill(EXT, Side.BUY, D(2), D("142.00"), D("-0.0142"), Liquidity.MAKER)
    book.fill(LIG, Side.SELL, D(2), D("142.10"), D("0.079576"), Liquidity.TAKER)
    book.funding(EXT, D("-0.0284"))  # longs paid on Extended
    book.funding(LIG, D("0.0426"))  # shorts received on Lighter
    mid = book.report(marks={EXT: D("143"), LIG: D("143.05")})
    assert mid.leg(EXT).unrealised == D("2")  # 2 * (143 - 142)
    assert mid.leg(LIG).unrealised == D("-1.90")  # -2 * (143.05 - 142.10)
    # Close: sell 2 on Extended at 143, buy 2 on Lighter at 143.02.
    book.fill(EXT, Side.SELL, D(2), D("143.00"), D("-0.0143"), Liquidity.MAKER)
    book.fill(LIG, Side.BUY, D(2), D("143.02"), D("0.0800912"), Liquidity.TAKER)
    r = book.report(marks={EXT: None, LIG: None})  # flat: no mark needed
    assert r.marked
    assert r.leg(EXT).realised == D("2.00") and r.leg(LIG).realised == D("-1.84")
    assert r.leg(EXT).rebates == {"maker": D("0.0285")} and r.leg(EXT).fees == D("-0.0285")
    assert r.leg(LIG).fees_paid == {"taker": D("0.1596672")}
    assert r.funding == D("0.0142")
    assert r.net == D("0.16") - D("0.1596672") + D("0.0285") + D("0.0142")


def test_an_open_position_without_a_mark_is_reported_unmarked_not_valued_at_zero():
    book = PnlBook([EXT, LIG])
    book.fill(EXT, Side.BUY, D(1), D("100"), None, None)
    r = book.report(marks={EXT: None})
    assert r.leg(EXT).unrealised is None and not r.marked


def test_a_fill_through_zero_realises_the_closed_part_and_opens_the_rest_at_its_price():
    book = PnlBook([EXT])
    book.fill(EXT, Side.BUY, D(1), D("100"), D(0), Liquidity.MAKER)
    assert book.fill(EXT, Side.SELL, D(3), D("110"), D(0), Liquidity.MAKER) == D(10)
    pos = book.positions[EXT]
    assert pos.size == D(-2) and pos.cost == D(-220)


def test_partial_closes_at_an_average_cost_that_does_not_divide_evenly_leave_no_residue_when_flat():
    book, acct = PnlBook([EXT]), CashAccount()
    for side, qty, price in ((Side.BUY, "1", "100"), (Side.BUY, "2", "100.01"), (Side.SELL, "1", "101"),
                             (Side.SELL, "1", "99.99"), (Side.SELL, "1", "100.5")):
        book.fill(EXT, side, D(qty), D(price), D(0), Liquidity.TAKER)
        acct.fill(EXT, side, D(qty), D(price), D(0))
    r = book.report()
    assert r.leg(EXT).position == 0 and book.positions[EXT].cost == 0
    assert r.leg(EXT).realised == acct.cash[EXT]


def test_a_zero_or_negative_fill_qty_is_refused():
    with pytest.raises(ValueError):
        PnlBook([EXT]).fill(EXT, Side.BUY, D(0), D(1), D(0), None)
