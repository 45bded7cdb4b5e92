"""What the strategy needs from the ledger's async surface, and the alert callable.

The ledger package owns the real implementation; this Protocol names the few calls the
strategy makes so the dependency is explicit (and a mismatch fails type checks, not trades).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol

from trio_util import AsyncValue

from hedged.ledger.orders import OrderRecord
from hedged.venues.base import Side, Venue, VenueEvent

# `await alert(event, severity, **details)`; severity is "critical" | "error" | "warning" | "info".
Alert = Callable[..., Awaitable[None]]


class LedgerPort(Protocol):
    open_hedge_delta: AsyncValue[Decimal]  # net exposure + signed hedge quantity in flight
    net_exposure: AsyncValue[Decimal]  # maker position + hedge position
    version: AsyncValue[int]  # bumped on every change; wait on it with a predicate over ledger state

    def position(self, venue: Venue) -> Decimal: ...

    def hedge_in_flight(self) -> Decimal: ...

    def order(self, venue: Venue, client_id: str) -> OrderRecord | None: ...

    def apply(self, event: VenueEvent) -> Decimal: ...

    def register_hedge(self, client_id: str, side: Side, qty: Decimal, *, residual: Decimal | None = None) -> Any: ...

    def register_order(self, venue: Venue, client_id: str, side: Side, qty: Decimal) -> Any: ...

    def fail_order(self, venue: Venue, client_id: str, reason: str) -> None: ...

    def note_cancel_requested(self, venue: Venue, client_id: str) -> None: ...

    def record_cycle(self, cycle_id: str, phase: str, *, detail: str = "") -> None: ...


def client_ids(*clients: Any) -> Callable[[object], str]:
    """`new_client_id(venue)` backed by each adapter's own `new_client_id()` (unique across restarts)."""
    by_venue = {c.venue: c for c in clients}
    return lambda venue: by_venue[venue].new_client_id()


async def wait_order(ledger: LedgerPort, venue: Venue, client_id: str,
                     pred: Callable[[OrderRecord], bool]) -> OrderRecord:
    """Block until the ledger's record of our order satisfies `pred` (no polling: waits on `version`)."""

    def ok(_: int) -> bool:
        rec = ledger.order(venue, client_id)
        return rec is not None and pred(rec)

    await ledger.version.wait_value(ok)
    rec = ledger.order(venue, client_id)
    assert rec is not None
    return rec


def is_settled(rec: OrderRecord) -> bool:
    """Terminal, or filled in full (a FILLED update may trail the last fill)."""
    return rec.status.is_terminal or rec.counted >= rec.qty
