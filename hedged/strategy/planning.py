"""Cycle planning: every random choice of a cycle, drawn from one injected, seeded Random."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from hedged.venues.base import Side


@dataclass(frozen=True, slots=True)
class CyclePlan:
    side: Side  # side of the opening maker order
    size: Decimal  # target absolute position on the maker venue
    delay_s: float  # pause before the cycle starts (only taken while flat)
    hold_s: float  # how long the opened position is held


def draw_side(direction: Literal["random", "buy", "sell"], rng: random.Random) -> Side:
    if direction == "buy":
        return Side.BUY
    if direction == "sell":
        return Side.SELL
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
