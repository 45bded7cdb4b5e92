"""Exposure guard core: unexplained exposure beyond tolerance for longer than a grace period -> act."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


class Verdict(enum.StrEnum):
    OK = "ok"
    WATCH = "watch"  # breached, inside the grace period
    ACT = "act"  # breached for longer than the grace period


@dataclass(frozen=True, slots=True)
class GuardView:
    verdict: Verdict
    act_at: float | None  # when a WATCH turns into ACT if nothing changes


class GuardCore:
    """`observe` is called on every change of exposure and when a WATCH deadline passes.

    Exposure is *explained* while a hedge is in flight or the executor is working on it: the executor
    has its own bounded deadline and failure path, and the guard must not race it.
    """

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._since: float | None = None

    def observe(self, now: float, unexplained: Decimal, tol: Decimal, hedging: bool) -> GuardView:
        if hedging or abs(unexplained) <= tol:
            self._since = None
            return GuardView(Verdict.OK, None)
        if self._since is None:
            self._since = now
        act_at = self._since + self.grace_s
        if now >= act_at:
            return GuardView(Verdict.ACT, act_at)
        return GuardView(Verdict.WATCH, act_at)

    def reset(self) -> None:
        self._since = None
