"""The simulators' money: a seeded funding-rate path per venue and each account's exact books (pure).

Both sims settle funding on the hour (Extended and Lighter both pay hourly) on the epoch grid, as the
venues do: a settlement at every multiple of `interval_s` of venue time. The rate of each settlement is
one step of a bounded random walk on a 1e-8 grid, drawn from an injected `random.Random` (never the global
one), so a seed gives the same path whatever else the sim does. A positive rate means longs pay shorts.

`MoneyBook` is the truth the DST checker and the tests read: every change of an account's balance is one
of a fill's realised PnL, a fee or a funding payment, kept in exact `Decimal` (no rounding beyond what the
sim itself charged), so `balance == initial + realised - fees + funding` holds to the last unit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

ZERO = Decimal(0)
RATE_UNIT = Decimal("1e-8")  # the grid of the simulated funding rates
QUOTE_UNIT = Decimal("1e-6")  # USD(C) unit of both venues' collateral: funding amounts are rounded to it


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingSettings:
    """One venue's funding: when it settles and how its rate moves."""

    enabled: bool = True
    """False: no settlements at all (the rate is still served)."""
    interval_s: float = 3600.0
    """Seconds between settlements, on the epoch grid (both venues: hourly)."""
    start_rate: Decimal = Decimal("0.0000125")
    """Rate per interval of the first settlement (0.00125 %/h, a typical quiet market)."""
    step_units: int = 500
    """The rate moves by a uniform whole number of RATE_UNITs in [-step_units, +step_units] per settlement."""
    cap: Decimal = Decimal("0.005")
    """|rate| never exceeds this per interval (Lighter caps funding at 0.5 %/h)."""


class FundingPath:
    """The seeded rate path: `current` is what the next settlement applies; `advance()` applies it."""

    def __init__(self, settings: FundingSettings, rng: random.Random) -> None:
        self.settings = settings
        self._rng = rng
        self.current = settings.start_rate.quantize(RATE_UNIT)
        self.settled = 0  # settlements so far (the funding round's number)

    def advance(self) -> Decimal:
        """The rate of this settlement; the next one is drawn now."""
        rate = self.current
        step = self._rng.randint(-self.settings.step_units, self.settings.step_units) * RATE_UNIT
        cap = self.settings.cap
        self.current = max(-cap, min(cap, rate + step))
        self.settled += 1
        return rate

    def set_rate(self, rate: Decimal) -> None:
        """Control: the next settlement applies `rate` (then the walk goes on from it)."""
        self.current = rate.quantize(RATE_UNIT)


def next_settlement_ms(now_ms: int, interval_s: float) -> int:
    """The first settlement strictly after `now_ms` on the epoch grid of `interval_s`."""
    step = max(1, round(interval_s * 1000))
    return (now_ms // step + 1) * step


def funding_amount(position: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """What an account with signed `position` receives (+) or pays (-) at `rate`: longs pay shorts when
    the rate is positive. Rounded half-even to the quote unit, as a venue's collateral is."""
    return (-position * mark * rate).quantize(QUOTE_UNIT, ROUND_HALF_EVEN)


@dataclass(slots=True)
class MoneyBook:
    """One account's money truth. `fees` > 0 = paid (a rebate lowers it); `funding` > 0 = received."""

    initial: Decimal
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    fills: int = 0
    payments: int = 0

    @property
    def expected_balance(self) -> Decimal:
        return self.initial + self.realised - self.fees + self.funding

    def as_json(self, balance: Decimal) -> dict[str, Any]:
        """The control surface's view (exact decimals as strings)."""
        return {
            "initialBalance": str(self.initial), "balance": str(balance), "realisedPnl": str(self.realised),
            "feesPaid": str(self.fees), "fundingReceived": str(self.funding), "fills": self.fills,
            "fundingPayments": self.payments,
        }  # fmt: skip


def close_cost(open_cost: Decimal, open_size: Decimal, closing: Decimal) -> Decimal:
    """The part of a position's entry cost a close of `closing` (of `open_size`) removes: all of it on a
    full close, else pro rata rounded to the quote unit. Realised PnL over a round trip is then exactly
    the trades' cash flows (the rounding of partial closes cancels out on the last one)."""
    if closing >= open_size:
        return open_cost
    return (open_cost * closing / open_size).quantize(QUOTE_UNIT, ROUND_HALF_EVEN)
