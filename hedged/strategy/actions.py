"""The hedge attempt machine's actions (machine -> executor): what to send, modify, cancel, look up,
forget, and how an attempt ended. Plain values; `attempt.py` decides when each is returned."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hedged.venues.base import Side


@dataclass(frozen=True, slots=True)
class Send:
    key: int  # the machine's name for the order; the executor maps it to a client id
    side: Side
    qty: Decimal
    level: int  # pricing level: grows with every failure and reprice, so a retry is never less aggressive
    residual: Decimal  # lot residual of the plan it came from (for the ledger)
    retry: bool  # sized after an earlier order of the chain ended with a remainder


@dataclass(frozen=True, slots=True)
class Modify:
    key: int
    level: int
    remaining: Decimal  # the new remaining size (Lighter ModifyOrder BaseAmount), always smaller: netting


@dataclass(frozen=True, slots=True)
class Cancel:
    key: int


@dataclass(frozen=True, slots=True)
class Lookup:
    """Ask the venue (REST) for the order's state; answer with `observed` or `looked_up`."""

    key: int


@dataclass(frozen=True, slots=True)
class Forget:
    """The order is certainly not live: tell the ledger (nothing of it filled)."""

    key: int
    reason: str


@dataclass(frozen=True, slots=True)
class Settled:
    key: int
    complete: bool


@dataclass(frozen=True, slots=True)
class Failure:
    """One attempt went wrong: `reason` is an ErrorKind value, "deadline", "no_price", "modify_failed" or
    "exhausted"."""

    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


Action = Send | Modify | Cancel | Lookup | Forget | Settled | Failure | GiveUp
