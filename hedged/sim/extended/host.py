"""What the Extended simulator's handlers (rest, streams, control) may use of the simulator.

`ExtendedSim` (server.py) satisfies `ExtendedHost` structurally; the handlers are typed against this protocol, so
server.py imports them and none of them imports server.py (no import cycle, tests/test_import_rules.py).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import trio

from hedged.sim.common.control import MarketKnobs
from hedged.sim.common.faults import FaultPlan
from hedged.sim.common.market import Market, VenueBook
from hedged.sim.common.money import FundingPath, MoneyBook
from hedged.sim.common.stamps import StampLog
from hedged.sim.extended.config import ExtendedSimSettings, SimKeys
from hedged.sim.extended.engine import AccountMsg, ExtendedEngine


class ExtendedHost(MarketKnobs, Protocol):
    settings: ExtendedSimSettings
    keys: SimKeys
    market: Market
    book: VenueBook
    engine: ExtendedEngine
    funding: FundingPath
    faults: FaultPlan
    stamps: StampLog
    account_subscribers: set[trio.MemorySendChannel[AccountMsg]]
    book_connections: int
    book_frames_sent: int
    crossings: int
    stats_requests: int

    # clock, scheduling, budget, orders (rest, streams)
    def now_ms(self) -> int: ...
    def schedule(self, delay: float, fn: Callable[..., None], *args: Any) -> None: ...
    def rate_limited(self) -> bool: ...
    def accept_order(self, order_id: int) -> None: ...
    def cancel_orders(self, order_ids: list[int]) -> None: ...
    def set_deadman(self, seconds: int) -> None: ...
    def market_data(self) -> dict[str, Any]: ...
    async def wait_book_change(self) -> None: ...

    # truth and knobs (control; the market's own knobs are MarketKnobs')
    def position(self) -> Decimal: ...
    def balance(self) -> Decimal: ...
    def money(self) -> MoneyBook: ...
    def open_orders(self) -> list[dict[str, Any]]: ...
    def fills(self) -> list[dict[str, Any]]: ...
    def fundings(self) -> list[dict[str, Any]]: ...
    def settle_funding(self) -> dict[str, Any] | None: ...
    def force_fill(self, order: int | str, qty: Decimal, price: Decimal | None = None) -> None: ...
