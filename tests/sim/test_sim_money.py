"""The simulators' money core (hedged/sim/common/money.py): the seeded funding path, the settlement grid,
funding amounts and exact entry-cost removal."""

import random
from decimal import Decimal

from hedged.sim.common.money import (
    RATE_UNIT,
    FundingPath,
    FundingSettings,
    close_cost,
    funding_amount,
    next_settlement_ms,
)

D = Decimal


def _path(seed: int, **kw) -> list[Decimal]:
    path = FundingPath(FundingSettings(**kw), random.Random(seed))
    return [path.advance() for _ in range(200)]


def test_the_funding_path_is_a_function_of_the_injected_rng_only():
    random.seed(123)  # the global rng is never used: reseeding it changes nothing
    a = _path(7)
    random.seed(456)
    assert _path(7) == a and _path(8) != a
    assert a[0] == FundingSettings().start_rate and len(set(a)) > 100


def test_the_funding_path_stays_on_its_grid_and_under_its_cap():
    rates = _path(3, start_rate=D("0.0004"), step_units=20_000, cap=D("0.0005"))
    assert all(abs(r) <= D("0.0005") and r % RATE_UNIT == 0 for r in rates)
    assert max(rates) == D("0.0005")  # the walk meets the cap and is held there


def test_settlements_fall_on_the_epoch_grid_strictly_after_now():
    hour = 3_600_000
    assert next_settlement_ms(1_767_225_600_000, 3600) == 1_767_225_600_000 + hour  # on a boundary: the next one
    assert next_settlement_ms(1_767_225_600_001, 3600) == 1_767_225_600_000 + hour
    assert next_settlement_ms(59_999, 60) == 60_000


def test_longs_pay_shorts_at_a_positive_rate_rounded_to_the_quote_unit():
    assert funding_amount(D("2"), D("150.5"), D("0.0001")) == D("-0.030100")
    assert funding_amount(D("-2"), D("150.5"), D("0.0001")) == D("0.030100")
    assert funding_amount(D("1.333"), D("150.37"), D("-0.00001234")) == D("0.002473")  # 0.0024734... received


def test_partial_closes_remove_a_rounded_share_and_the_last_close_the_rest():
    cost = D("3") * D("100.01") + D("4") * D("100.00")  # 700.03 for 7
    first = close_cost(cost, D("7"), D("3"))
    assert first == D("300.012857")  # rounded to 1e-6
    assert close_cost(cost - first, D("4"), D("4")) == cost - first  # all of what is left, exactly
