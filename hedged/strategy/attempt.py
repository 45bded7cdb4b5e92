"""The hedge attempt state machine: events in, actions out, no I/O.

One *episode* hedges whatever the ledger says is open, in up to `max_attempts` orders. The
executor feeds it what happened (placed, fill, deadline, cancel sent, error) and performs the
action it returns. Invariants kept here:

* a deadline never counts as a fill: it leads to Cancel, then Establish (stream, else REST);
* every placement that ends with a remainder, and every placement error, uses up one attempt;
* an ambiguous outcome is looked up (Establish), never resent blindly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hedged.strategy.pricing import backoff_s


class Phase(enum.StrEnum):
    IDLE = "idle"
    PLACING = "placing"  # send in progress
    RESTING = "resting"  # acknowledged, waiting for fills or the deadline
    CANCELLING = "cancelling"
    ESTABLISHING = "establishing"  # finding out what really filled
    SETTLED = "settled"  # the order is over; waiting for the executor to re-read the ledger
    BACKOFF = "backoff"
    DONE = "done"
    FAILED = "failed"


class ErrorKind(enum.StrEnum):
    REJECTED = "rejected"  # certainly not live
    RATE_LIMITED = "rate_limited"
    TRANSPORT = "transport"  # certainly did not reach the venue
    NONCE = "nonce"
    SIGNING = "signing"
    AUTH = "auth"
    AMBIGUOUS = "ambiguous"  # may be live: look it up


# Retrying these cannot help: the next attempt would fail the same way.
_FATAL = frozenset({ErrorKind.AUTH})


@dataclass(frozen=True, slots=True)
class Send:
    attempt: int  # 1-based
    level: int  # pricing level: grows with every send and modify, so a retry is never less aggressive


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do until the next event."""


@dataclass(frozen=True, slots=True)
class Cancel:
    pass


@dataclass(frozen=True, slots=True)
class Modify:
    level: int


@dataclass(frozen=True, slots=True)
class Establish:
    """Find the order's final state: wait briefly for the stream, else ask REST."""


@dataclass(frozen=True, slots=True)
class Reread:
    """The order is over; re-read the ledger and call `after_settled`."""

    complete: bool


@dataclass(frozen=True, slots=True)
class Backoff:
    seconds: float


@dataclass(frozen=True, slots=True)
class Done:
    pass


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


Action = Send | Wait | Cancel | Modify | Establish | Reread | Backoff | Done | GiveUp


class HedgeAttempts:
    def __init__(self, *, max_attempts: int, backoff_initial_s: float, backoff_max_s: float) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.phase = Phase.IDLE
        self.attempt = 0
        self.level = 0
        self.last_error: str | None = None
        self._last_complete = False

    # ---- events ----

    def begin(self) -> Action:
        self._expect(Phase.IDLE)
        return self._send()

    def nothing_to_send(self) -> Action:
        """At send time the ledger shows nothing left to hedge (a late fill settled it)."""
        self._expect(Phase.PLACING)
        self.attempt -= 1
        return self._settle(True)

    def placed(self) -> Action:
        self._expect(Phase.PLACING)
        self.phase = Phase.RESTING
        return Wait()

    def order_update(self, filled, qty, terminal: bool) -> Action:
        """An observation of the current order (cumulative fill). Only a terminal one settles it."""
        if self.phase not in (Phase.PLACING, Phase.RESTING, Phase.CANCELLING, Phase.ESTABLISHING):
            return Wait()  # late echo of an order already settled; the ledger has counted it
        if terminal or filled >= qty:
            return self._settle(filled >= qty)
        return Wait()

    def deadline(self) -> Action:
        if self.phase is not Phase.RESTING and self.phase is not Phase.PLACING:
            return Wait()
        self.phase = Phase.CANCELLING
        return Cancel()

    def reprice_due(self) -> Action:
        if self.phase is not Phase.RESTING:
            return Wait()
        self.level += 1
        return Modify(level=self.level)

    def modify_failed(self) -> Action:
        """Modify refused (often: the order just filled or ended). Treat it like a deadline."""
        return self.deadline()

    def cancel_sent(self) -> Action:
        """Cancel answered (ok or 'not found' / 'already filled'): either way, establish the truth."""
        if self.phase is not Phase.CANCELLING:
            return Wait()
        self.phase = Phase.ESTABLISHING
        return Establish()

    def established(self, filled, qty, known: bool) -> Action:
        """Final state found. `known=False`: the venue has no such order, so nothing filled."""
        if self.phase is not Phase.ESTABLISHING:
            return Wait()
        if not known:
            return self._settle(False)
        return self._settle(filled >= qty)

    def error(self, kind: ErrorKind, detail: str = "") -> Action:
        """A placement (or signing) call failed."""
        self.last_error = f"{kind}: {detail}" if detail else str(kind)
        if self.phase is not Phase.PLACING:
            return Wait()
        if kind is ErrorKind.AMBIGUOUS:
            self.phase = Phase.ESTABLISHING
            return Establish()
        if kind in _FATAL:
            self.phase = Phase.FAILED
            return GiveUp(f"attempt {self.attempt}: {self.last_error}")
        return self._settle(False)

    def after_settled(self, still_open: bool) -> Action:
        """The executor re-read the ledger: is anything still to hedge?"""
        self._expect(Phase.SETTLED)
        if not still_open:
            self.phase = Phase.DONE
            return Done()
        if self._last_complete:
            # The order filled in full and new exposure arrived meanwhile: that is fresh work, not a retry.
            self.attempt = 0
            self.level = 0
            return self._send()
        if self.attempt >= self.max_attempts:
            self.phase = Phase.FAILED
            why = f" (last error {self.last_error})" if self.last_error else ""
            return GiveUp(f"{self.attempt} attempts left exposure open{why}")
        self.phase = Phase.BACKOFF
        return Backoff(backoff_s(self.attempt, self.backoff_initial_s, self.backoff_max_s))

    def backoff_elapsed(self) -> Action:
        self._expect(Phase.BACKOFF)
        return self._send()

    # ---- internals ----

    def _send(self) -> Action:
        self.attempt += 1
        self.level += 1
        self.phase = Phase.PLACING
        return Send(self.attempt, self.level)

    def _settle(self, complete: bool) -> Action:
        self.phase = Phase.SETTLED
        self._last_complete = complete
        return Reread(complete)

    def _expect(self, phase: Phase) -> None:
        if self.phase is not phase:
            raise RuntimeError(f"hedge attempts: expected {phase}, in {self.phase}")
