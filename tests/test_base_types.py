"""Venue-neutral types: quantization rules that every venue and the ledger rely on."""

from decimal import Decimal as D

import pytest

from hedged.venues.base import MarketRules, Side, Venue


def rules(**kw) -> MarketRules:
    base = dict(venue=Venue.LIGHTER, market="SOL", tick=D("0.05"), size_step=D("0.001"), min_size=D("0.01"))
    base.update(kw)
    return MarketRules(**base)


@pytest.mark.parametrize(("price", "up", "expected"), [
    (D("142.37"), False, D("142.35")), (D("142.37"), True, D("142.40")), (D("142.40"), True, D("142.40")),
])
def test_prices_round_to_non_power_of_ten_ticks(price, up, expected):
    assert rules().round_price(price, up=up) == expected


def test_sizes_round_down_to_the_step():
    assert rules().round_size_down(D("0.12345")) == D("0.123")


def test_min_notional_raises_the_smallest_tradeable_size():
    r = rules(min_notional=D("10"))
    assert r.min_size_at(D("150")) == D("0.067")  # 10 / 150 = 0.0666.. rounded up to the step
    assert r.is_tradeable(D("0.067"), D("150")) and not r.is_tradeable(D("0.066"), D("150"))
    assert rules().min_size_at(D("150")) == D("0.01")


def test_side_helpers():
    assert Side.for_delta(D("-0.1")) is Side.SELL and Side.BUY.opposite is Side.SELL and Side.SELL.sign == -1
    with pytest.raises(ValueError):
        Side.for_delta(D(0))


async def test_a_rest_send_reports_written_on_an_answer_or_an_unknown_outcome_never_when_it_did_not_go_out():
    """`reporting_written`: the REST send paths' stand-in for "the request was written" (httpx does not
    say), which is what the executor's hedge_sent line and HedgeFirst wait for."""
    import pytest
    import trio

    from hedged.venues.base import AmbiguousOutcome, OrderRejected, TransportError, Venue, reporting_written

    async def answer():
        await trio.lowlevel.checkpoint()
        return "ok"

    def failing(exc):
        async def call():
            await trio.lowlevel.checkpoint()
            raise exc
        return call()

    calls: list[str] = []
    assert await reporting_written(answer(), lambda: calls.append("answer")) == "ok"
    for exc, label in ((AmbiguousOutcome(Venue.LIGHTER, "read timeout"), "ambiguous"),
                       (OrderRejected(Venue.LIGHTER, "refused"), "refused")):
        with pytest.raises(type(exc)):
            await reporting_written(failing(exc), lambda label=label: calls.append(label))
    with pytest.raises(TransportError):
        await reporting_written(failing(TransportError(Venue.LIGHTER, "connect refused")), lambda: calls.append("x"))
    assert calls == ["answer", "ambiguous", "refused"]
