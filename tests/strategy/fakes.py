"""Test doubles for the strategy tests, ONLY until the real adapters on the simulators are usable.

`FakeVenue` implements `hedged.venues.base.VenueClient` honestly: it keeps its own truth
  (orders, fills, position), reports it only through `OrderUpdate`s on the events channel and
  its REST-like calls, and fills exactly when the test (or its fill policy) says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import trio
from trio_util import AsyncValue

from hedged.venues.base import (ZERO, MarketRules, OrderAck, OrderRejected, OrderStatus, OrderUpdate,
                                PositionSnapshot, Side, StreamHealth, TimeInForce, TopOfBook, Venue, VenueEvent,
                                VenueHealth)

D = Decimal


@dataclass
class FakeOrder:
    client_id: str
    order_id: str
    side: Side
    qty: Decimal
    price: Decimal
    tif: TimeInForce | None  # None: post-only maker
    filled: Decimal = ZERO
    status: OrderStatus = OrderStatus.OPEN
    modifies: list[Decimal] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return not self.status.is_terminal


class FakeVenue:
    """A VenueClient whose matching engine is the test."""

    def __init__(self, venue: Venue, market: str, *, bid="100", ask="100.1", tick="0.01", step="0.01",
                 min_size="0.01") -> None:
        self.venue = venue
        self.rules = MarketRules(venue, market, D(tick), D(step), D(min_size))
        self.top_of_book: AsyncValue[TopOfBook | None] = AsyncValue(None)
        self.set_book(bid, ask)
        self.orders: dict[str, FakeOrder] = {}
        self.position = ZERO
        self.calls: list[tuple] = []
        self.fail_maker: list[Exception] = []  # raised by the next place_maker calls, in order
        self.fail_taker: list[Exception] = []  # raised by the next place_taker calls, in order
        self.fail_cancel: list[Exception] = []
        self.fail_modify: list[Exception] = []
        # What a taker order fills on arrival (qty); default: all of it if it crosses the book.
        self.taker_fill: Callable[[FakeOrder], Decimal] = self._crossing_fill
        self.hold_updates = False  # True: updates queue in `held` instead of the stream (a slow stream)
        self.held: list[OrderUpdate] = []
        self.cancel_gate: trio.Event | None = None  # if set, cancel() waits for it before acting
        self.cancel_started = trio.Event()
        # order_status() does not know an order younger than this (a venue lookup that lags)
        self.status_lag_s = 0.0
        self._born: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._send, self._recv = trio.open_memory_channel[VenueEvent](1000)

    # ---- control surface -------------------------------------------------------------------

    def set_book(self, bid, ask) -> None:
        self.top_of_book.value = TopOfBook(self.venue, self.rules.market, None if bid is None else D(bid), D(10),
                                           None if ask is None else D(ask), D(10), trio.current_time()
                                           if _in_trio() else 0.0)

    def fill(self, client_id: str, qty, *, price: Decimal | None = None) -> None:
        """Somebody trades `qty` against our order (the venue's truth changes, then it reports)."""
        o = self.orders[client_id]
        qty = min(D(qty), o.qty - o.filled)
        o.filled += qty
        self.position += qty * o.side.sign
        if o.filled >= o.qty:
            o.status = OrderStatus.FILLED
        elif o.status is OrderStatus.OPEN:
            o.status = OrderStatus.PARTIALLY_FILLED
        self._emit(o)

    def release(self) -> None:
        held, self.held = self.held, []
        for u in held:
            self._send.send_nowait(u)

    def live_orders(self) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.live]

    # ---- VenueClient -----------------------------------------------------------------------

    async def run(self, events, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for ev in self._recv:
            await events.send(ev)

    async def place_maker(self, side, qty, price, client_id) -> OrderAck:
        await trio.lowlevel.checkpoint()
        self.calls.append(("place_maker", side, qty, price, client_id))
        self._maybe_fail(self.fail_maker)
        o = self._new(client_id, side, qty, price, None)
        top = self.top_of_book.value
        crosses = (side is Side.BUY and top.ask is not None and price >= top.ask) or (
            side is Side.SELL and top.bid is not None and price <= top.bid)
        if crosses:
            o.status = OrderStatus.REJECTED
            self._emit(o, reason="POST_ONLY_FAILED")
        else:
            self._emit(o)
        return OrderAck(self.venue, client_id, o.order_id)

    async def place_taker(self, side, qty, price, client_id, tif=TimeInForce.IOC, *, written=None) -> OrderAck:
        await trio.lowlevel.checkpoint()
        if written is not None:
            written()
        self.calls.append(("place_taker", side, qty, price, client_id, tif))
        self._maybe_fail(self.fail_taker)
        o = self._new(client_id, side, qty, price, tif)
        self._emit(o)
        got = min(self.taker_fill(o), o.qty)
        if got > 0:
            self.fill(client_id, got)
        if tif is TimeInForce.IOC and o.live:
            o.status = OrderStatus.CANCELLED
            self._emit(o)
        return OrderAck(self.venue, client_id, o.order_id)

    async def cancel(self, *, order_id=None, client_id=None) -> None:
        self.calls.append(("cancel", order_id, client_id))
        self.cancel_started.set()
        if self.cancel_gate is not None:
            await self.cancel_gate.wait()
        await trio.lowlevel.checkpoint()
        self._maybe_fail(self.fail_cancel)
        o = self.orders.get(client_id) if client_id else next(
            (x for x in self.orders.values() if x.order_id == order_id), None)
        if o is None or not o.live:
            raise OrderRejected(self.venue, "order not found or already final", code="not_found")
        o.status = OrderStatus.CANCELLED
        self._emit(o)

    async def cancel_all(self) -> None:
        self.calls.append(("cancel_all",))
        await trio.lowlevel.checkpoint()
        for o in self.live_orders():
            o.status = OrderStatus.CANCELLED
            self._emit(o)

    async def modify(self, order_id, *, price, qty) -> None:
        self.calls.append(("modify", order_id, price, qty))
        await trio.lowlevel.checkpoint()
        self._maybe_fail(self.fail_modify)
        o = next((x for x in self.orders.values() if x.order_id == order_id), None)
        if o is None or not o.live:
            raise OrderRejected(self.venue, "cannot modify a final order", code="not_found")
        o.price = price
        o.qty = o.filled + qty  # qty is the new remaining size, as Lighter's ModifyOrder BaseAmount
        o.modifies.append(price)
        self._emit(o)

    async def open_orders(self) -> list[OrderUpdate]:
        await trio.lowlevel.checkpoint()
        return [self._update(o) for o in self.live_orders()]

    async def positions(self) -> list[PositionSnapshot]:
        await trio.lowlevel.checkpoint()
        return [PositionSnapshot(self.venue, self.rules.market, self.position)]

    async def order_status(self, client_id) -> OrderUpdate | None:
        self.calls.append(("order_status", client_id))
        await trio.lowlevel.checkpoint()
        o = self.orders.get(client_id)
        if o is not None and trio.current_time() - self._born[client_id] < self.status_lag_s:
            return None
        return None if o is None else self._update(o)

    def health(self) -> VenueHealth:
        return VenueHealth(self.venue, {"orders": StreamHealth(True, True, 0.0)})

    # ---- internals -------------------------------------------------------------------------

    def _crossing_fill(self, o: FakeOrder) -> Decimal:
        top = self.top_of_book.value
        if o.side is Side.BUY:
            return o.qty if top.ask is not None and o.price >= top.ask else ZERO
        return o.qty if top.bid is not None and o.price <= top.bid else ZERO

    def _maybe_fail(self, queue: list[Exception]) -> None:
        if queue:
            raise queue.pop(0)

    def _new(self, client_id, side, qty, price, tif) -> FakeOrder:
        o = FakeOrder(client_id, f"{self.venue}-{next(self._ids)}", side, D(qty), D(price), tif)
        self.orders[client_id] = o
        self._born[client_id] = trio.current_time() if _in_trio() else 0.0
        return o

    def _update(self, o: FakeOrder, reason: str | None = None) -> OrderUpdate:
        return OrderUpdate(self.venue, self.rules.market, o.order_id, o.client_id, o.side, o.status, o.qty, o.filled,
                           avg_price=o.price if o.filled else None, price=o.price, reason=reason)

    def _emit(self, o: FakeOrder, reason: str | None = None) -> None:
        u = self._update(o, reason)
        if self.hold_updates:
            self.held.append(u)
        else:
            self._send.send_nowait(u)


def _in_trio() -> bool:
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


async def maker_flow(venue: FakeVenue, rng, *, every_s: float = 0.5, part_max=Decimal("0.6"),
                     move_prob: float = 0.3) -> None:
    """A simulated market for the maker venue: other traders fill our resting orders in random
    partial sizes and the book drifts a tick at a time. Seeded, driven by (mock) time."""
    while True:
        await trio.sleep(every_s)
        top = venue.top_of_book.value
        if rng.random() < move_prob:
            step = venue.rules.tick * (1 if rng.random() < 0.5 else -1)
            venue.set_book(top.bid + step, top.ask + step)
        for o in venue.live_orders():
            if o.tif is None and rng.random() < 0.5:
                part = (o.qty * Decimal(str(rng.uniform(0.1, float(part_max))))).quantize(venue.rules.size_step)
                if part > 0:
                    venue.fill(o.client_id, part)
