"""Cycle planning: every random choice of a cycle, drawn from one injected, seeded Random."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from hedged.venues.base import Side


@dataclass(frozen=True, slots=True)
class CyclePlan:
    side: Side  # side of the opening maker order (direction = "funding": the random fallback until decided)
    size: Decimal  # target absolute position on the maker venue
    delay_s: float  # pause before the cycle starts (only taken while flat)
    hold_s: float  # how long the opened position is held


@dataclass(frozen=True, slots=True)
class FundingDecision:
    """Why a `direction = "funding"` cycle opens on its side. Rates are per hour, > 0 = longs pay shorts."""

    side: Side
    decided_by: Literal["funding", "random"]
    maker_rate: Decimal | None
    hedge_rate: Decimal | None
    edge: Decimal | None  # what long maker + short hedge receives per unit of notional per hour (< 0: pays)
    why: str  # "edge", "below_min_edge", "rate_unknown"


def funding_side(maker_rate: Decimal | None, hedge_rate: Decimal | None, min_edge: Decimal,
                 fallback: Side) -> FundingDecision:
    """Open on the side whose two legs together receive funding: long where the rate is lower, short
    where it is higher. Long maker + short hedge pays `maker_rate` and receives `hedge_rate` per hour,
    so its edge is `hedge_rate - maker_rate`; the other side has the opposite. Below `min_edge` (or
    with a rate unknown) funding says nothing worth the bias, and the seeded random side stands."""
    if maker_rate is None or hedge_rate is None:
        return FundingDecision(fallback, "random", maker_rate, hedge_rate, None, "rate_unknown")
    edge = hedge_rate - maker_rate
    if abs(edge) < min_edge or edge == 0:
        return FundingDecision(fallback, "random", maker_rate, hedge_rate, edge, "below_min_edge")
    return FundingDecision(Side.BUY if edge > 0 else Side.SELL, "funding", maker_rate, hedge_rate, edge, "edge")


def draw_side(direction: Literal["random", "buy", "sell", "funding"], rng: random.Random) -> Side:
    if direction == "buy":
        return Side.BUY
    if direction == "sell":
        return Side.SELL
    # "random", and "funding"'s fallback: drawn either way, so a seed draws the same sizes and pauses
    # whether funding decides the side or not.
    return Side.BUY if rng.random() < 0.5 else Side.SELL


def draw_size(size_min: Decimal, size_max: Decimal, step: Decimal, rng: random.Random) -> Decimal:
    """A size on the step grid inside [size_min, size_max], uniformly over the grid points."""
    if step <= 0:
        raise ValueError("size_step must be positive")
    lo = (size_min / step).to_integral_value(ROUND_CEILING)
    hi = (size_max / step).to_integral_value(ROUND_FLOOR)
    if hi < lo:
        raise ValueError(f"no multiple of {step} lies in [{size_min}, {size_max}]")
    return Decimal(rng.randint(int(lo), int(hi))) * step


def draw_seconds(lo: float, hi: float, rng: random.Random) -> float:
    return lo if hi <= lo else rng.uniform(lo, hi)


def plan_cycle(cfg, rng: random.Random) -> CyclePlan:
    """`cfg` is a `hedged.config.CycleConfig`. Draw order is fixed so a seed replays the same cycles."""
    side = draw_side(cfg.direction, rng)
    size = draw_size(cfg.size_min, cfg.size_max, cfg.size_step, rng)
    delay = draw_seconds(cfg.delay_min_s, cfg.delay_max_s, rng)
    hold = draw_seconds(cfg.hold_min_s, cfg.hold_max_s, rng)
    return CyclePlan(side=side, size=size, delay_s=delay, hold_s=hold)
