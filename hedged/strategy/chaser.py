"""Maker order chaser: keep one post-only order at the best price without crossing or churning.

Pure decision over the top of book, our resting order and the clock; the cycle performs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hedged.venues.base import MarketRules, Side


@dataclass(frozen=True, slots=True)
class Resting:
    """Our live maker order as the chaser needs to see it."""

    side: Side
    price: Decimal
    remaining: Decimal
    placed_at: float  # trio.current_time() when placed


@dataclass(frozen=True, slots=True)
class Keep:
    pass


@dataclass(frozen=True, slots=True)
class Place:
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class CancelReplace:
    """Cancel the resting order; a new one is placed once the cancel is settled."""

    price: Decimal


@dataclass(frozen=True, slots=True)
class WaitUntil:
    at: float  # re-decide at this time (or earlier, if the book moves)
    why: str


@dataclass(frozen=True, slots=True)
class NoBook:
    """The side we would price from is empty: do not guess a price."""


Decision = Keep | Place | CancelReplace | WaitUntil | NoBook


def maker_price(side: Side, bid: Decimal | None, ask: Decimal | None, rules: MarketRules) -> Decimal | None:
    """One tick inside the spread on our side, or at the best price when the spread is a single tick.

    Never at or through the opposite best, so a post-only order is not rejected for crossing.
    """
    if side is Side.BUY:
        if bid is None:
            return None if ask is None else rules.round_price(ask - rules.tick, up=False)
        price = rules.round_price(bid + rules.tick, up=False)
        if ask is not None and price >= ask:
            price = rules.round_price(min(bid, ask - rules.tick), up=False)
        return price
    if ask is None:
        return None if bid is None else rules.round_price(bid + rules.tick, up=True)
    price = rules.round_price(ask - rules.tick, up=True)
    if bid is not None and price <= bid:
        price = rules.round_price(max(ask, bid + rules.tick), up=True)
    return price


def is_outbid(own: Resting, bid: Decimal | None, ask: Decimal | None) -> bool:
    """True when somebody else now holds a better price than ours on our side.

    Our own order is part of the book, so being *at* the best price is never a reason to move.
    """
    if own.side is Side.BUY:
        return bid is not None and bid > own.price
    return ask is not None and ask < own.price


def decide(
    *,
    side: Side,
    wanted: Decimal,
    bid: Decimal | None,
    ask: Decimal | None,
    own: Resting | None,
    now: float,
    last_cancel_at: float | None,
    min_rest_s: float,
    cancel_throttle_s: float,
    rules: MarketRules,
) -> Decision:
    """What to do with the maker order that should work `wanted` more base units on `side`."""
    if own is None:
        qty = rules.round_size_down(wanted)
        if qty < rules.min_size or qty <= 0:
            return Keep()
        price = maker_price(side, bid, ask, rules)
        return NoBook() if price is None else Place(price, qty)
    too_big = own.remaining > wanted
    if not too_big and not is_outbid(own, bid, ask):
        return Keep()
    price = maker_price(side, bid, ask, rules)
    if price is None:
        return NoBook()
    if now < own.placed_at + min_rest_s and not too_big:
        return WaitUntil(own.placed_at + min_rest_s, "min_rest")
    if last_cancel_at is not None and now < last_cancel_at + cancel_throttle_s:
        return WaitUntil(last_cancel_at + cancel_throttle_s, "cancel_throttle")
    return CancelReplace(price)
