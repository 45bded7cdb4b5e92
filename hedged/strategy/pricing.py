"""Hedge pricing: cross the book by a (randomized) offset, a little further on every attempt."""

from __future__ import annotations

import random
from decimal import Decimal

from hedged.venues.base import MarketRules, Side, TopOfBook

_BPS = Decimal(10_000)


class NoPrice(Exception):
    """The opposite side of the hedge book is empty: there is nothing to price against."""


def draw_offset_bps(cfg, side: Side, rng: random.Random) -> Decimal:
    """Offset in bps for one hedge, drawn in the side's configured range (`cfg` is a HedgeConfig)."""
    if side is Side.BUY:
        lo, hi = cfg.buy_offset_bps_min, cfg.buy_offset_bps_max
    else:
        lo, hi = cfg.sell_offset_bps_min, cfg.sell_offset_bps_max
    if hi <= lo:
        return lo
    # Two decimals of a bp is finer than any tick we meet; keeps the value a clean Decimal.
    return (lo + (hi - lo) * Decimal(repr(rng.random()))).quantize(Decimal("0.01"))


def crossed_price(top: TopOfBook | None, side: Side) -> Decimal | None:
    """The price a hedge on `side` crosses (best ask for a BUY, best bid for a SELL), None when the
    book has none (no book yet, the side pulled): exactly when `hedge_price` raises NoPrice."""
    if top is None:
        return None
    return top.ask if side is Side.BUY else top.bid


def can_price(side: Side, top: TopOfBook | None) -> bool:
    """A hedge on `side` can be priced against `top` (the executor's wait for the book uses it)."""
    return crossed_price(top, side) is not None


def hedge_price(
    side: Side, top: TopOfBook, offset_bps: Decimal, level: int, step_bps: Decimal, rules: MarketRules
) -> Decimal:
    """Limit price of a hedge at pricing `level` (1 = first attempt; each retry or modify adds one).

    A BUY crosses the best ask upward, a SELL the best bid downward; each level after the first adds
    `step_bps`. The result is rounded to the tick in the aggressive direction so rounding never makes
    the order less likely to fill.
    """
    if level < 1:
        raise ValueError("pricing levels are numbered from 1")
    bps = offset_bps + step_bps * (level - 1)
    ref = crossed_price(top, side)
    if ref is None:
        raise NoPrice(f"{top.venue} has no {'ask' if side is Side.BUY else 'bid'}")
    if side is Side.BUY:
        return rules.round_price(ref * (1 + bps / _BPS), up=True)
    price = rules.round_price(ref * (1 - bps / _BPS), up=False)
    # A price of zero or below is not an order; one tick is the most aggressive sell there is.
    return max(price, rules.tick)


