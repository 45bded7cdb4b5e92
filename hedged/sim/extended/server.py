"""A wire-compatible Extended simulator (REST + WS v1) on the shared market model.

Use it in tests (in memory, deterministic under MockClock)::

    sim = ExtendedSim(ExtendedSimSettings(seed=3))
    async with sim.running():                       # background engine: delays, market steps
        http = httpx.AsyncClient(transport=sim.http_transport(), base_url=sim.rest_url)
        async with sim.connect_ws(sim.ws_url + "/account", {"User-Agent": "t", "X-Api-Key": sim.keys.api_key}) as ws:
            ...

or on a socket (`make run`, benchmarks)::

    server = await nursery.start(sim.serve)           # 127.0.0.1, ephemeral port unless given
    server.http_url(sim.settings.rest_prefix), server.ws_url(sim.settings.ws_prefix)

Control surface (in-process): `move_price`, `set_price`, `step_market`, `force_fill`,
`add_flow`, `pull_book`/`restore_book`, `faults.add(Fault(...))`, and the venue's truth:
`position()`, `open_orders()`, `fills()`, `balance()`.

Timing: the engine acts on placements `accept_delay` seconds after the REST reply and on cancels
`cancel_delay` after theirs; one driver task runs these in FIFO order of their due time, and
steps the market every `market_settings.tick_interval` when `live_market` is on.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import trio
import trio_websocket

from hedged.venues.base import Side
from hedged.sim.extended import rest as sim_rest, streams as sim_streams
from hedged.sim.extended import wire
from hedged.sim.extended.control import handle_control
from hedged.sim.extended.config import ExtendedSimSettings, SimKeys, derive_keys
from hedged.sim.extended.engine import AccountMsg, ExtendedEngine
from hedged.sim.common.faults import FaultPlan
from hedged.sim.common.market import Flow, Market
from hedged.sim.common.money import FundingPath, MoneyBook, next_settlement_ms
from hedged.sim.common.stamps import StampLog
from hedged.sim.common.transport import MemoryHttpTransport, MemoryWsConnector, Query, SimRequest, SimResponse, SocketServer, serve_tcp

VENUE = "extended"


class ExtendedSim:
    def __init__(
        self,
        settings: ExtendedSimSettings | None = None,
        *,
        market: Market | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.settings = s = settings or ExtendedSimSettings()
        self.keys: SimKeys = derive_keys(s)
        self.market = market or Market(s.market_settings)
        self.book = self.market.venue(VENUE, tick=s.tick, step=s.step)
        self.engine = ExtendedEngine(s, self.book)
        self.faults = faults or FaultPlan(seed=s.seed)
        self.account_subscribers: set[trio.MemorySendChannel[AccountMsg]] = set()
        self.book_connections = 0
        self.book_frames_sent = 0
        self.crossings = 0  # bumped by cross_book(); book connections compare it
        self.stamps = StampLog()  # benchmark stamps: fill frames written (GET /_sim/stamps)
        self.stats_requests = 0
        self._book_event = trio.Event()
        self._timers: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._timer_seq = itertools.count()
        self._wake = trio.Event()
        self._idle_event = trio.Event()
        self._t0: float | None = None
        self._wall0_ms = s.start_epoch_ms if s.start_epoch_ms is not None else int(time.time() * 1000)
        self._requests: deque[float] = deque()
        self._deadman_at: float | None = None
        # The funding-rate path has its own seeded rng, so the rates do not depend on what else draws.
        self.funding = FundingPath(s.funding, random.Random(f"{s.seed}:extended-funding"))
        self._funding_due_ms: int | None = None  # venue time of the next settlement (None: funding off)

    # ---------------------------------------------------------------- addresses and transports

    @property
    def rest_url(self) -> str:
        """Base URL for the in-memory transport (host is ignored)."""
        return "http://extended.sim" + self.settings.rest_prefix

    @property
    def ws_url(self) -> str:
        return "ws://extended.sim" + self.settings.ws_prefix

    def http_transport(self) -> MemoryHttpTransport:
        return MemoryHttpTransport(self)

    @property
    def connect_ws(self) -> MemoryWsConnector:
        """`connect_ws(url, headers)` -> async context manager of a trio-websocket connection."""
        return MemoryWsConnector(self, ping_interval=self.settings.ping_interval, pong_timeout=self.settings.pong_timeout)

    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, task_status: trio.TaskStatus[SocketServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the engine and serve REST + WS on one socket until cancelled (`nursery.start(sim.serve)`)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.run)
            server = await nursery.start(
                lambda task_status: serve_tcp(
                    self,
                    self,
                    host=host,
                    port=port,
                    ping_interval=self.settings.ping_interval,
                    pong_timeout=self.settings.pong_timeout,
                    task_status=task_status,
                )
            )
            task_status.started(server)

    # ---------------------------------------------------------------- handler protocols

    async def handle(self, req: SimRequest) -> SimResponse:
        control = self.settings.control_path
        if control and req.path.startswith(control + "/"):
            await trio.lowlevel.checkpoint()
            return await handle_control(self, req, req.path[len(control) :])
        return await sim_rest.handle(self, req)

    def ws_reject(self, path: str, query: Query, headers: Mapping[str, str]) -> int | None:
        return sim_streams.ws_reject(self, path, query, headers)

    async def serve_ws(
        self, path: str, query: Query, headers: Mapping[str, str], conn: trio_websocket.WebSocketConnection
    ) -> None:
        await sim_streams.serve_ws(self, path, query, headers, conn)

    # ---------------------------------------------------------------- engine driver

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ExtendedSim]:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.run)
            yield self
            nursery.cancel_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The one task that owns time: due placements/cancels in FIFO order, market steps."""
        self._t0 = trio.current_time()
        if self.settings.live_market:
            self.market.advance(self._t0)
        seen_steps = self.market.steps
        if self.settings.funding.enabled:
            self._funding_due_ms = next_settlement_ms(self.now_ms(), self.settings.funding.interval_s)
        task_status.started()
        tick = self.settings.market_settings.tick_interval
        while True:
            now = trio.current_time()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn, args = heapq.heappop(self._timers)
                fn(*args)
            if not self._timers:
                self._idle_event.set()
                self._idle_event = trio.Event()
            if self._deadman_at is not None and now >= self._deadman_at:
                self._deadman_at = None
                self.cancel_orders([o.id for o in self.engine.open_orders()])
            if self._funding_due_ms is not None and self.now_ms() >= self._funding_due_ms:
                self._settle_at(self._funding_due_ms)
                self._funding_due_ms = next_settlement_ms(self._funding_due_ms, self.settings.funding.interval_s)
            if self.settings.live_market:
                self.market.advance(now)
            # Compare step counts, not advance()'s result: a market shared with another venue's
            # sim may have been advanced by that sim's driver.
            if self.market.steps != seen_steps:
                seen_steps = self.market.steps
                self._after_market_move()
            deadlines = [self._timers[0][0]] if self._timers else []
            if self.settings.live_market and tick > 0:
                deadlines.append(self.market.time + tick)
            if self._deadman_at is not None:
                deadlines.append(self._deadman_at)
            if self._funding_due_ms is not None:
                deadlines.append(self._t0 + (self._funding_due_ms - self._wall0_ms) / 1000)
            with trio.move_on_at(min(deadlines, default=math_inf)):
                await self._wake.wait()
            self._wake = trio.Event()

    async def wait_idle(self) -> None:
        """Wait until every scheduled engine action (placements, cancels) has run."""
        while self._timers:
            await self._idle_event.wait()

    def schedule(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._timers, (trio.current_time() + delay, next(self._timer_seq), fn, args))
        self._wake.set()

    def now_ms(self) -> int:
        """Venue time in epoch ms: wall clock at construction plus Trio time since `run` started."""
        if self._t0 is None:
            return self._wall0_ms
        return self._wall0_ms + round((trio.current_time() - self._t0) * 1000)

    def rate_limited(self) -> bool:
        limit = self.settings.rate_limit_per_min
        if not limit:
            return False
        now = trio.current_time()
        while self._requests and self._requests[0] <= now - 60:
            self._requests.popleft()
        if len(self._requests) >= limit:
            return True
        self._requests.append(now)
        return False

    def broadcast(self, msgs: list[AccountMsg]) -> None:
        for channel in list(self.account_subscribers):
            try:
                for msg in msgs:
                    channel.send_nowait(msg)
            except (trio.WouldBlock, trio.BrokenResourceError):
                # A client that cannot keep up is dropped, as a venue would.
                self.account_subscribers.discard(channel)
                channel.close()

    async def wait_book_change(self) -> None:
        await self._book_event.wait()

    def _notify_book(self) -> None:
        self._book_event.set()
        self._book_event = trio.Event()

    def _after_market_move(self) -> None:
        now_ms = self.now_ms()
        self.broadcast(self.engine.on_flows(self.book.drain_flow(), now_ms) + self.engine.expire_due(now_ms))
        self._notify_book()

    # ---------------------------------------------------------------- scheduled engine actions

    def accept_order(self, order_id: int) -> None:
        msgs = self.engine.accept(order_id, self.now_ms())
        self.engine.orders[order_id].accepted_at = trio.current_time()
        self.broadcast(msgs)
        if any(m.type == "TRADE" for m in msgs):
            self._notify_book()

    def cancel_orders(self, order_ids: list[int]) -> None:
        self.broadcast(self.engine.cancel(order_ids, self.now_ms()))

    def set_deadman(self, seconds: int) -> None:
        self._deadman_at = trio.current_time() + seconds if seconds > 0 else None
        self._wake.set()

    # ---------------------------------------------------------------- control surface

    def market_data(self) -> dict[str, Any]:
        next_funding = next_settlement_ms(self.now_ms(), self.settings.funding.interval_s)
        return wire.market_json(
            self.settings, bid=self.book.best_bid, ask=self.book.best_ask, mark=self.engine.mark,
            next_funding_ms=next_funding, funding_rate=self.funding.current,
        )

    def settle_funding(self) -> dict[str, Any] | None:
        """Control: one funding settlement now (as the hourly one); its history row, None when flat."""
        return self._settle_at(self.now_ms())

    def _settle_at(self, ts_ms: int) -> dict[str, Any] | None:
        rows = len(self.engine.fundings)
        self.broadcast(self.engine.settle_funding(self.funding.advance(), ts_ms))
        return self.engine.fundings[-1] if len(self.engine.fundings) > rows else None

    def set_funding_rate(self, rate: Decimal) -> None:
        """Control: the rate the next settlement applies (and `marketStats.fundingRate` shows)."""
        self.funding.set_rate(rate)

    def step_market(self, steps: int = 1) -> None:
        """Run market steps now (random walk, book churn, flow), regardless of `live_market`."""
        for _ in range(steps):
            self.market.step()
        self._after_market_move()

    def set_price(self, price: Decimal) -> None:
        self.market.set_price(price)
        self._after_market_move()

    def move_price(self, pct: Decimal) -> None:
        self.market.move_price(pct)
        self._after_market_move()

    def add_flow(self, aggressor: Side, qty: Decimal) -> None:
        """Another trader sends an aggressive order now; it fills our resting orders at the front."""
        self.book.add_flow(Flow(aggressor, qty))
        self.broadcast(self.engine.on_flows(self.book.drain_flow(), self.now_ms(), crossed_fill=False))

    def force_fill(self, order: int | str, qty: Decimal, price: Decimal | None = None) -> None:
        """Fill `qty` of an open order (venue id or external id) at its price (or `price`)."""
        order_id = order if isinstance(order, int) else self.engine.by_external[order]
        self.broadcast(self.engine.fill(order_id, qty, price, self.now_ms()))

    def regress_fill(self, order: int | str, filled: Decimal) -> None:
        """Fault knob: the account stream restates an order with a lower cumulative fill than it sent before."""
        order_id = order if isinstance(order, int) else self.engine.by_external[order]
        self.broadcast([AccountMsg("ORDER", {"orders": [self.engine.regressed_data(order_id, filled, self.now_ms())]})])

    def cross_book(self) -> None:
        """Fault knob: every full-depth book connection gets one DELTA with a bid above the best ask.
        The sim's book stays sound: a fresh SNAPSHOT (a new connection) is not crossed."""
        self.crossings += 1
        self._notify_book()

    def pull_book(self, side: Side | None = None) -> None:
        self.book.pull(side)
        self._notify_book()

    def restore_book(self) -> None:
        self.book.restore()
        self.book.rebuild(self.market.reference)
        self._notify_book()

    def position(self) -> Decimal:
        """Signed position (long > 0)."""
        return self.engine.position.size

    def balance(self) -> Decimal:
        return self.engine.balance

    @property
    def money(self) -> MoneyBook:
        """The account's money truth: initial balance, realised PnL, fees paid, funding received (exact)."""
        return self.engine.money

    def fundings(self) -> list[dict[str, Any]]:
        """Every funding settlement paid on the account (rows of `/user/funding/history`), oldest first."""
        return list(self.engine.fundings)

    @property
    def pending_actions(self) -> int:
        """Accepted placements/cancels whose outcome is still due (`accept_delay`/`cancel_delay`)."""
        return len(self._timers)

    def open_orders(self) -> list[dict[str, Any]]:
        return [self.engine.order_data(o) for o in self.engine.open_orders()]

    def order(self, order: int | str) -> dict[str, Any]:
        order_id = order if isinstance(order, int) else self.engine.by_external[order]
        return self.engine.order_data(self.engine.orders[order_id])

    def fills(self) -> list[dict[str, Any]]:
        return list(self.engine.trades)


math_inf = float("inf")
