"""Exposure tolerance: how far the two legs may drift apart before anyone acts."""

from __future__ import annotations

from decimal import Decimal

_HUNDRED = Decimal(100)


def tolerance(size_max: Decimal, cycle_size: Decimal | None, pct: Decimal, floor: Decimal) -> Decimal:
    """max(size_max, current cycle size) x pct / 100, never below `floor`.

    The current cycle size matters because a restart can leave a cycle bigger than today's size_max.
    """
    base = max(size_max, cycle_size or Decimal(0))
    return max(floor, base * pct / _HUNDRED)


def within(exposure: Decimal, tol: Decimal) -> bool:
    """Inclusive: exposure exactly at the tolerance is still fine."""
    return abs(exposure) <= tol
