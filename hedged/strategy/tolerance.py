"""Exposure tolerance: how far the two legs may drift apart before anyone acts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class ToleranceRule:
    """The one tolerance the guard, the executor, the sweeper and the cycle act on (`rule()` is its value now).

    `tolerance(...)` of the configured size_max, pct and floor and the current cycle's size, but never below
    what the hedge venue can trade at all (`untradeable`): a residual smaller than the smallest order cannot
    be hedged or flattened, so treating it as a breach would only halt the daemon. The cycle task owns
    `cycle_size` and sets it when it plans a cycle; everyone else only reads.
    """

    size_max: Decimal
    pct: Decimal
    floor: Decimal
    untradeable: Callable[[], Decimal] | None = None
    cycle_size: Decimal | None = None

    @classmethod
    def of(cls, cycle_cfg, risk_cfg, untradeable: Callable[[], Decimal] | None = None) -> ToleranceRule:
        return cls(cycle_cfg.size_max, risk_cfg.tolerance_pct, risk_cfg.tolerance_floor, untradeable)

    def __call__(self) -> Decimal:
        configured = tolerance(self.size_max, self.cycle_size, self.pct, self.floor)
        return max(configured, self.untradeable()) if self.untradeable is not None else configured
