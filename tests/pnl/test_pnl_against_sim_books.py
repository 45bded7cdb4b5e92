"""Property (issue 14): over random streams of fills and funding settlements, the PnL components add up
to the venue's balance change, to the last unit. The venue here is each simulator's own money code (the
Extended engine, the Lighter exchange: entry cost kept exactly and taken out pro rata, rounded to 1e-6 on
a partial close; fees by their schedules; funding rounded to 1e-6), read through the adapters' own
decoding of what the venue sends (a trade's fee, a payment's amount), and folded by our PnL book.

    realised + unrealised(m) - fees + funding  ==  balance change + (position x m - entry cost)

for any mark m: both sides value the same position at the same price.
"""

from __future__ import annotations

import json
from decimal import Decimal as D

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from hedged.pnl.core import PnlBook
from hedged.venues.base import Venue
from hedged.venues.extended import wire as ext_wire
from hedged.venues.extended.money import to_funding as ext_funding
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.sim.extended.engine import ExtendedEngine
from hedged.sim.extended.wire import SimOrder as ExtOrder
from hedged.venues.lighter import normalize
from hedged.venues.lighter import wire as lig_wire
from hedged.sim.lighter.exchange import LighterExchange
from hedged.sim.lighter.money import position_funding_json, settle
from hedged.sim.lighter.render import trade_json
from hedged.sim.lighter.tx import LighterFees, MarketSpec
from hedged.sim.lighter.tx import SimOrder as LigOrder
from hedged.sim.common.market import Fill

ACCOUNT = 281474976710000


class _Book:
    """The one thing the engines read from a book here: its best prices (the Extended mark)."""

    def __init__(self, mid: D) -> None:
        self.best_bid, self.best_ask = mid - D("0.01"), mid + D("0.01")


fills = st.tuples(st.sampled_from(["fill"]), st.booleans(), st.integers(1, 3000), st.integers(14_000, 16_000),
                  st.booleans())  # buy?, qty in 0.001 (Lighter) / 0.01 (Extended), price in 0.01, taker?
payments = st.tuples(st.sampled_from(["funding"]), st.integers(-20_000, 20_000), st.integers(14_000, 16_000))
streams = st.lists(st.one_of(fills, fills, payments), min_size=1, max_size=40)
marks = st.integers(14_000, 16_000).map(lambda c: D(c) / 100)


@settings(max_examples=150, deadline=None)
@given(streams, marks)
def test_extended_components_add_up_to_the_simulated_venues_balance_change(events, mark):
    engine = ExtendedEngine(ExtendedSimSettings(maker_fee=D("0.00002"), taker_fee=D("0.00025")), _Book(D(150)))
    book = PnlBook((Venue.EXTENDED,))
    for i, ev in enumerate(events):
        if ev[0] == "fill":
            _, buy, qty, cents, taker = ev
            qty, price = D(qty) / 100, D(cents) / 100
            order = ExtOrder(id=i, external_id=f"c{i}", market="SOL-USD", type="LIMIT", side="BUY" if buy else "SELL",
                             price=price, qty=qty, reduce_only=False, post_only=not taker, time_in_force="GTT",
                             fee_cap=D("0.001"), created_ms=i, updated_ms=i, expiry_ms=10**13, status="NEW")
            row = engine._apply_fill(order, qty, price, taker, i)  # noqa: SLF001 - the venue's own fill path
            t = ext_wire.to_trade(msgspec.json.decode(json.dumps(row), type=ext_wire.AccountTrade))
            book.fill(Venue.EXTENDED, t.side, t.qty, t.price, t.fee, t.liquidity)
        else:
            _, rate, cents = ev
            engine.book = _Book(D(cents) / 100)  # funding is charged at the mark of its moment
            before = len(engine.fundings)
            engine.settle_funding(D(rate) * D("1e-8"), i)
            for row in engine.fundings[before:]:
                p = ext_funding(msgspec.json.decode(json.dumps(row), type=ext_wire.FundingRow))
                book.funding(Venue.EXTENDED, p.amount)
    pos = engine.position
    cost = pos.open_cost if pos.size > 0 else -pos.open_cost
    venue = engine.balance - engine.money.initial + pos.size * mark - cost
    ours = book.report("all", {Venue.EXTENDED: mark}).leg(Venue.EXTENDED)
    assert ours.net == venue
    assert ours.position == pos.size
    assert ours.fees == engine.money.fees and ours.funding == engine.money.funding


@settings(max_examples=150, deadline=None)
@given(streams, marks)
def test_lighter_components_add_up_to_the_simulated_venues_balance_change(events, mark):
    spec = MarketSpec()
    ex = LighterExchange(spec, _Book(D(150)), fees=LighterFees.premium())
    ex.add_account(ACCOUNT, collateral=D(100_000))
    book = PnlBook((Venue.LIGHTER,))
    for i, ev in enumerate(events):
        if ev[0] == "fill":
            _, buy, qty, cents, taker = ev
            units = spec.size_units(D(qty) / 1000)
            price = spec.price_units(D(cents) / 100)
            order = LigOrder(order_index=i + 1, client_order_index=i + 1, market_id=spec.market_id, account=ACCOUNT,
                             api_key=3, is_ask=not buy, order_type=0, tif=1, reduce_only=False, price=price,
                             initial_base=units, remaining_base=units, order_expiry=-1, nonce=i, created_ms=i)
            ex._fill(order, Fill(spec.price(price), spec.size(units)), taker=taker, now_ms=i)  # noqa: SLF001
            wire_trade = msgspec.json.decode(json.dumps(trade_json(spec, ex.trades[-1], block_height=1)),
                                             type=lig_wire.WireTrade)
            t = normalize.trade_event(wire_trade, "SOL", ACCOUNT, None)
            book.fill(Venue.LIGHTER, t.side, t.qty, t.price, t.fee, t.liquidity)
        else:
            _, rate, cents = ev
            for event in settle(ex, D(rate) * D("1e-8"), D(cents) / 100, now_ms=i, funding_id=i):
                f = getattr(event, "funding", None)
                if f is not None:
                    row = msgspec.json.decode(json.dumps(position_funding_json(spec, f)), type=lig_wire.WireFunding)
                    book.funding(Venue.LIGHTER, normalize.funding_payment(row, "SOL").amount)
    acct = ex.accounts[ACCOUNT]
    pos = ex.position(ACCOUNT)
    size = spec.size(pos.size)
    cost = pos.entry_quote if pos.size > 0 else -pos.entry_quote
    venue = acct.collateral - acct.money.initial + size * mark - cost
    ours = book.report("all", {Venue.LIGHTER: mark}).leg(Venue.LIGHTER)
    assert ours.net == venue
    assert ours.position == size
    assert ours.fees == acct.money.fees and ours.funding == acct.money.funding
