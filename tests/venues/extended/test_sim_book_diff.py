"""The Extended sim's book DELTA builder: applying a DELTA to the previous book gives the new one, best first."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hedged.sim.extended.streams import _diff, _plain

prices = st.integers(min_value=1, max_value=40).map(lambda i: Decimal(i).scaleb(-1) + 100)
sizes = st.integers(min_value=1, max_value=5).map(lambda i: Decimal(i).scaleb(-2))
books = st.dictionaries(prices, sizes, max_size=8)


@given(old=books, new=books, descending=st.booleans())
def test_applying_a_delta_to_the_old_book_gives_the_new_book_and_levels_come_best_first(old, new, descending):
    new_levels = sorted(new.items(), reverse=descending)
    delta = _diff(dict(sorted(old.items(), reverse=descending)), new_levels, descending)
    book = dict(old)
    for level in delta:
        p, q, c = Decimal(level["p"]), Decimal(level["q"]), Decimal(level["c"])
        assert book.get(p, Decimal(0)) + q == c
        if c:
            book[p] = c
        else:
            book.pop(p, None)
    assert book == new
    listed = [Decimal(level["p"]) for level in delta]
    assert listed == sorted(listed, reverse=descending)
    assert len(set(listed)) == len(listed)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-10**9, max_value=10**9))
def test_numbers_are_written_plainly_like_format_f(x):
    assert _plain(x) == format(x, "f")


def test_numbers_with_exponents_are_written_without_them():
    assert _plain(Decimal("1E+2")) == "100"
    assert _plain(Decimal("1E-7")) == "0.0000001"
