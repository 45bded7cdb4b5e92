"""Order records and the order state machine (pure).

The venues are the truth about an order; this module only decides which parts of an
observation we believe. Status moves forward only (a stale OPEN after PARTIALLY_FILLED
is ignored, a terminal status sticks), while fill quantities are counted on *every*
observation, terminal or not, because real venues send fills after a cancel request,
CANCELLED with a filled quantity, and late trades after the terminal status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hedged.venues.base import ZERO, OrderStatus, Side, Venue


# Explicit table of transitions the ledger accepts silently. Anything else is either
# stale (lower rank: ignored, counted) or an anomaly (logged, counted, never raised).
ALLOWED: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    {(s, s) for s in OrderStatus}
    | {(OrderStatus.PENDING, t) for t in OrderStatus}
    | {(OrderStatus.OPEN, t) for t in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED,
                                       OrderStatus.EXPIRED, OrderStatus.REJECTED)}
    | {(OrderStatus.PARTIALLY_FILLED, t) for t in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED)}
)


@dataclass(frozen=True, slots=True)
class Leg:
    """One market on one venue: the unit a position is kept for."""

    venue: Venue
    market: str

    def __str__(self) -> str:
        return f"{self.venue}:{self.market}"


@dataclass(frozen=True, slots=True)
class Roles:
    """Which leg is the maker leg and which is the hedge leg; the core is otherwise venue-neutral."""

    maker: Leg
    hedge: Leg


@dataclass(slots=True)
class OrderRecord:
    """What the ledger believes about one order. Mutated only by `LedgerCore`.

    `counted` is the filled quantity already in the position: max(cumulative seen,
    sum of distinct trades). `baseline` is the part of it that was filled before this
    process knew the order (adopted at reconciliation, already in the venue position),
    so the order contributes `counted - baseline` to the position.
    """

    key: str
    leg: Leg
    side: Side
    order_id: str | None
    client_id: str | None
    status: OrderStatus
    qty: Decimal
    cum: Decimal = ZERO
    trade_qty: Decimal = ZERO
    counted: Decimal = ZERO
    baseline: Decimal = ZERO
    avg_price: Decimal | None = None
    is_hedge: bool = False
    cancel_requested: bool = False
    merged_into: str | None = None
    # Closed by reconciliation: fills reported later are already in the venue position.
    closed_by_reconcile: bool = False
    ts_ms: int = 0
    trade_ids: set[str] = field(default_factory=set)
    # The core's journal epoch of the last change (`LedgerCore._row`): the record may leave memory
    # only once that epoch is committed. -1: read from the journal, so already durable.
    epoch: int = -1

    @property
    def contribution(self) -> Decimal:
        """Signed quantity this order has added to its leg's position."""
        return (self.counted - self.baseline) * self.side.sign

    @property
    def in_flight(self) -> Decimal:
        """Signed position change still to come if the order fills fully (0 once terminal)."""
        if self.status.is_terminal or self.merged_into is not None:
            return ZERO
        return max(ZERO, self.qty - self.counted) * self.side.sign


def next_status(current: OrderStatus, observed: OrderStatus) -> tuple[OrderStatus, str | None]:
    """The status to keep after observing `observed`, and the name of what happened if not plain.

    Returns (status, event) where event is None for an allowed transition, "stale_update"
    for an observation behind the current one, or an anomaly name.
    """
    if (current, observed) in ALLOWED:
        return observed, None
    if current.is_terminal and observed.is_terminal:
        # A venue ends an order once; a second, different ending is a reporting glitch.
        return current, "conflicting_terminal"
    if observed.rank < current.rank:  # stale: reordered or restated
        return current, "stale_update"
    # OPEN -> PENDING cannot happen by rank; what is left is e.g. PARTIALLY_FILLED -> REJECTED.
    return observed, "impossible_transition"


def absorb(keep: OrderRecord, gone: OrderRecord) -> None:
    """Fold `gone` into `keep` (two records of one order): fill figures, trade ids, status and ids.

    Positions, indexes and in-flight totals are the ledger's business (`LedgerCore._merge`).
    """
    keep.cum = max(keep.cum, gone.cum)
    keep.trade_qty += gone.trade_qty
    keep.trade_ids |= gone.trade_ids
    gone.trade_ids = set()
    keep.baseline = max(keep.baseline, gone.baseline)
    keep.status, _ = next_status(keep.status, gone.status)
    keep.order_id = keep.order_id or gone.order_id
    keep.client_id = keep.client_id or gone.client_id
    keep.counted = max(keep.cum, keep.trade_qty)
    gone.merged_into = keep.key


def describes_another_order(rec: OrderRecord, cid: str | None, side: Side | None, qty: Decimal | None) -> bool:
    """An event carrying `rec`'s venue id but describing another order: a different client id
    or side, or (once `rec` is over) a different size. Real venues never reuse ids; a venue
    (or simulator) that restarted does, and merging would corrupt both orders' fills.
    A trade (no side or size given: one fill of an order) only by its client id; a trade of
    the other side without one stays a `side_mismatch`."""
    if cid is not None and rec.client_id is not None and cid != rec.client_id:
        return True
    if side is not None and side is not rec.side:
        return True
    return qty is not None and rec.status.is_terminal and qty > 0 and rec.qty > 0 and qty != rec.qty
