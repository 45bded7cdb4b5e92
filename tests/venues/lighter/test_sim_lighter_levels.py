"""The Lighter sim's level rendering: fixed decimals per market, whatever exponent the Decimal carries."""

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hedged.sim.lighter import render
from hedged.sim.lighter.server import LighterSimSettings

values = st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**7)


@given(price=values, size=values, price_decimals=st.integers(0, 6), size_decimals=st.integers(0, 6))
def test_levels_have_exactly_the_markets_decimals(price, size, price_decimals, size_decimals):
    m = replace(LighterSimSettings().market, price_decimals=price_decimals, size_decimals=size_decimals)
    (level,) = render.levels_json(m, [(price, size)])
    assert level == {"price": f"{price:.{price_decimals}f}", "size": f"{size:.{size_decimals}f}"}


def test_a_zero_size_and_a_bare_integer_are_padded_to_the_markets_decimals():
    m = LighterSimSettings().market
    (level,) = render.levels_json(m, [(Decimal(150), Decimal(0))])
    assert level == {"price": "150." + "0" * m.price_decimals, "size": "0." + "0" * m.size_decimals}


@given(
    levels=st.lists(st.tuples(values, values), max_size=8),
    price_decimals=st.integers(0, 6),
    size_decimals=st.integers(0, 6),
)
def test_the_feeds_remembered_level_texts_match_fresh_rendering_every_time(levels, price_decimals, size_decimals):
    m = replace(LighterSimSettings().market, price_decimals=price_decimals, size_decimals=size_decimals)
    text = render.LevelText(m)
    # Twice: the second pass reads the remembered texts, which must not depend on the first value's digits.
    for _ in range(2):
        assert text.levels(levels) == render.levels_json(m, levels)
        assert text.levels(levels[::-1]) == render.levels_json(m, levels[::-1])


def test_a_remembered_price_does_not_leak_its_text_to_negative_zero():
    m = LighterSimSettings().market
    text = render.LevelText(m)
    assert text.price(Decimal(0)) == "0." + "0" * m.price_decimals
    assert text.price(Decimal("-0")) == "-0." + "0" * m.price_decimals
