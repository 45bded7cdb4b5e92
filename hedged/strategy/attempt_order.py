"""The hedge attempt machine's vocabulary: an order's phase, how a call failed, what a lookup said, and
the machine's record of one hedge order (`Order`). Plain values; `attempt.py` decides."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from decimal import Decimal

from hedged.venues.base import Side

class Phase(enum.StrEnum):
    PLACING = "placing"  # send in progress
    RESTING = "resting"  # acknowledged, waiting for fills, the reprice timer or the deadline
    CANCELLING = "cancelling"
    ESTABLISHING = "establishing"  # finding out what really filled


class ErrorKind(enum.StrEnum):
    REJECTED = "rejected"  # certainly not live
    RATE_LIMITED = "rate_limited"
    TRANSPORT = "transport"  # certainly did not reach the venue
    NONCE = "nonce"
    SIGNING = "signing"
    AUTH = "auth"
    AMBIGUOUS = "ambiguous"  # may be live: look it up


class LookupResult(enum.StrEnum):
    ERROR = "error"  # the lookup itself failed
    UNKNOWN = "unknown"  # the venue says it has no such order (may be lag)
    LIVE = "live"  # still working: the cancel did not land yet


ZERO = Decimal(0)


@dataclass(slots=True)
class Order:
    key: int
    side: Side
    qty: Decimal
    level: int
    phase: Phase = Phase.PLACING
    counted: Decimal = ZERO
    has_id: bool = False  # the venue's order id is known: it can be modified
    deadline_at: float = math.inf
    reprice_at: float = math.inf
    lookup_at: float = math.inf
    lookups: int = 0  # REST lookups that did not settle it
    reducing: Decimal | None = None  # a (netting) modify is in flight: the remaining it sets once it lands
    mod_qty: Decimal = ZERO  # the order's size when that modify was sent (a new size = it landed)
    mod_until: float = math.inf  # by then it has landed, whatever the stream showed
    withdrawn: bool = False  # cancelled on purpose (netting): its remainder is not a failure
    repriced: bool = False  # cancelled to reprice: its remainder goes out again, one level on
    deadline_cap: float = math.inf  # a reprice's new order keeps the deadline of the one it replaces

    @property
    def remaining(self) -> Decimal:
        return max(ZERO, self.qty - self.counted)
