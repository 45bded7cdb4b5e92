"""The simulators' money knobs in the config (`sim.lighter_fees`, `sim.funding_interval_s`) reach both
simulators, and the Lighter one then charges the schedule it names on every fill."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest

from hedged.config import Config, ConfigError
from hedged.configcheck import validate
from hedged.venues.assembly import SimPair
from hedged.sim.lighter.tx import LighterFees, SimOrder
from hedged.sim.common.market import Fill

ACCOUNT = 281474976710000


def _pair(**sim) -> SimPair:
    cfg = Config()
    return SimPair.build(dataclasses.replace(cfg, sim=dataclasses.replace(cfg.sim, **sim)), id_base=0)


@pytest.mark.parametrize(("schedule", "maker", "taker"), [("standard", "0", "0"), ("premium", "0.00004", "0.00028")])
def test_the_lighter_fee_schedule_knob_is_what_the_simulator_charges_on_every_fill(schedule, maker, taker):
    pair = _pair(lighter_fees=schedule)
    ex = pair.lighter.exchange
    assert ex.fees == {"standard": LighterFees.standard(), "premium": LighterFees.premium()}[schedule]
    spec = pair.lighter.settings.market
    start = pair.lighter.collateral(ACCOUNT)
    charged = []
    for i, (taker_side, qty, price) in enumerate([(True, "0.731", "150.123"), (False, "1.200", "149.877")]):
        units, p = spec.size_units(D(qty)), spec.price_units(D(price))
        order = SimOrder(order_index=i + 1, client_order_index=i + 1, market_id=spec.market_id, account=ACCOUNT,
                         api_key=3, is_ask=i == 1, order_type=0, tif=1, reduce_only=False, price=p, initial_base=units,
                         remaining_base=units, order_expiry=-1, nonce=i, created_ms=i)
        before = pair.lighter.money(ACCOUNT).fees
        ex._fill(order, Fill(D(price), D(qty)), taker=taker_side, now_ms=i)  # noqa: SLF001 - the venue's fill path
        charged.append((pair.lighter.money(ACCOUNT).fees - before, D(qty) * D(price) * D(taker if taker_side else maker)))
    assert all(got == want for got, want in charged), charged
    fees = sum(got for got, _ in charged)
    book = pair.lighter.money(ACCOUNT)
    assert book.fees == fees and pair.lighter.collateral(ACCOUNT) == start + book.realised - fees


def test_the_funding_interval_knob_sets_both_simulators_settlement_interval():
    pair = _pair(funding_interval_s=45.0)
    assert pair.extended.settings.funding.interval_s == 45.0 == pair.lighter.settings.funding.interval_s
    assert _pair().extended.settings.funding.interval_s == 3600.0  # the venues' hourly rounds by default


def test_a_funding_interval_below_a_second_is_refused_by_the_config_check():
    cfg = Config()
    with pytest.raises(ConfigError, match="sim.funding_interval_s"):
        validate(dataclasses.replace(cfg, sim=dataclasses.replace(cfg.sim, funding_interval_s=0.5)))
