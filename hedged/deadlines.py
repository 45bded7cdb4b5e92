"""The graceful stop's deadlines, from one place: the supervisor's stop deadline, the hedge executor's
grace for open hedges and the flatten budget after it are all read off one `StopBudget`.

Pure (no clock, no I/O). The ordering it guarantees, tested in tests/test_deadlines.py:
hedge_grace_s < total_s - flatten_s, so a hedge that never fills still leaves the flatten its whole
budget before the supervisor cancels what is left.
"""

from __future__ import annotations

from dataclasses import dataclass

FLATTEN_SHARE = 0.4  # of daemon.graceful_stop_s: the failure path's (or on_stop = "flatten"'s) budget
MARGIN_SHARE = 0.1  # kept between the flatten's end and the supervisor's deadline


@dataclass(frozen=True)
class StopBudget:
    """`total_s` is the supervisor's deadline (cancels whatever is left); the executor finishes its open
    hedges within `hedge_grace_s` and then has `flatten_s`: hedge_grace_s + flatten_s + margin_s == total_s."""

    total_s: float
    flatten_s: float
    margin_s: float

    @classmethod
    def of(cls, total_s: float) -> StopBudget:
        """The budget of `daemon.graceful_stop_s`."""
        return cls(total_s, flatten_s=FLATTEN_SHARE * total_s, margin_s=MARGIN_SHARE * total_s)

    @property
    def hedge_grace_s(self) -> float:
        return self.total_s - self.flatten_s - self.margin_s
