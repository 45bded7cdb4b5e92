"""Wire-compatible Lighter simulator: REST under /api/v1 and the /stream WebSocket.

    market = Market(MarketSettings(seed=7))                 # shared with the Extended sim (or built here)
    sim = LighterSim(LighterSimSettings(), market=market)
    keys = generate_api_key()
    sim.add_account(604118, collateral=Decimal(100_000))
    sim.register_api_key(604118, 5, keys.public_key)
    async with trio.open_nursery() as n:
        await n.start(sim.run)                               # book feed + sequencer
        http = httpx.AsyncClient(transport=sim.http_transport(), base_url="http://lighter.sim")
        async with sim.connect_ws("ws://lighter.sim/stream") as ws: ...
        server = await n.start(sim.serve_tcp)                # or on 127.0.0.1 (server.http_url(), ws_url())

REST handling lives in rest.py, the WebSocket in ws.py, the venue state in exchange.py, and the
local HTTP control surface (`/_sim/...` on the same port, `settings.control_path`) in control.py.
Signatures are not verified (the shipped Go library exports no verify function): a well-formed `Sig`
from a registered (account, api key) is accepted; everything else of a tx is checked.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import trio
import trio_websocket
from trio_util import AsyncValue

from hedged.venues.base import Side
from hedged.sim.lighter import feed as sim_feed, money as sim_money, rest as sim_rest, ws as sim_ws
from hedged.sim.lighter.control import handle_control
from hedged.sim.lighter.exchange import Event, LighterExchange, OrderEvent
from hedged.sim.lighter.settings import Latency, LighterSimSettings
from hedged.sim.lighter.tx import ERR_AUTH, ParsedTx, SimFunding, SimOrder, SimTrade, TxRecord, TxRejected
from hedged.sim.common import stamps
from hedged.sim.common.faults import Fault, FaultPlan
from hedged.sim.common.market import Flow, Market, MarketSettings
from hedged.sim.common.money import FundingPath, MoneyBook
from hedged.sim.common.stamps import StampLog
from hedged.sim.common.transport import MemoryHttpTransport, MemoryWsConnector, Query, SimRequest, SimResponse, serve_tcp

__all__ = ["Latency", "LighterSim", "LighterSimSettings", "trio_wall_clock"]  # settings live in settings.py


def trio_wall_clock(start: float | None = None) -> Callable[[], float]:
    """A wall clock that advances with trio's clock (for MockClock tests of token expiry)."""
    base = time.time() if start is None else start
    origin: list[float] = []

    def now() -> float:
        t = trio.current_time()
        if not origin:
            origin.append(t)
        return base + t - origin[0]

    return now


class LighterSim:
    """One Lighter venue: REST handler, WS handler, background tasks and the control surface."""

    def __init__(
        self,
        settings: LighterSimSettings | None = None,
        *,
        market: Market | None = None,
        faults: FaultPlan | None = None,
        wall_clock: Callable[[], float] = time.time,
        signer_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = s = settings or LighterSimSettings()
        self.market_model = market or Market(MarketSettings(seed=s.seed))
        tick = Decimal(1).scaleb(-s.market.price_decimals)
        step = Decimal(1).scaleb(-s.market.size_decimals)
        self.book = self.market_model.venue("lighter", tick=tick, step=step)
        self.exchange = LighterExchange(s.market, self.book, initial_nonce=s.initial_nonce, id_base=s.id_base,
                                        fees=s.fees)
        self.funding = FundingPath(s.funding, random.Random(f"{s.seed}:lighter-funding"))  # its own seeded rng
        self.faults = faults or FaultPlan(seed=s.seed)
        self.rng = random.Random(f"{s.seed}:lighter-sim")
        self.wall_clock = wall_clock
        self.signer_clock = signer_clock
        self.feed = sim_feed.BookFeed(self)
        self.sessions: set[sim_ws.Session] = set()
        self.frozen = False  # control: stop every book update (connections stay open)
        self._queue: list[tuple[float, int, TxRecord]] = []
        self._seq = itertools.count()
        self._wake = trio.Event()
        self._revoked_before_s = 0.0
        self._sequencer_rejects: list[str] = []
        self._rest_hits: list[float] = []
        self._sendtx_hits: list[float] = []
        self.stats = {"rest_requests": 0}
        self.stamps = StampLog()  # benchmark stamps: txs arriving, orders ending (GET /_sim/stamps)
        self.executed = AsyncValue(0)
        """Number of txs the sequencer has run: `await sim.executed.wait_value(lambda n: n >= k)`."""

    # ---- time --------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.wall_clock() * 1000)

    def expiry_now_ms(self) -> int:
        """The time a tx's `ExpiredAt` is judged against.

        The Go signer stamps `ExpiredAt` (about now + 10 min) from the host clock and takes no argument for it,
        so it must be judged on that clock, not on `wall_clock`: under a MockClock the wall clock runs ahead,
        and every tx signed more than ten virtual minutes in would be refused as expired (21121).
        """
        return int(self.signer_clock() * 1000)

    # ---- handlers (transport protocols) ----------------------------------------------------------

    async def handle(self, req: SimRequest) -> SimResponse:
        control = self.settings.control_path
        if control and req.path.startswith(control + "/"):
            await trio.lowlevel.checkpoint()
            return await handle_control(self, req, req.path[len(control) :])
        return await sim_rest.handle(self, req)

    async def serve_ws(self, path: str, query: Query, headers: Any, conn: trio_websocket.WebSocketConnection) -> None:
        await sim_ws.serve(self, path, query, conn)

    def ws_reject(self, path: str, query: Query, headers: Any) -> int | None:
        return None if path == "/stream" else 404

    def http_transport(self) -> MemoryHttpTransport:
        return MemoryHttpTransport(self)

    def connect_ws(self, url: str, headers: Any = None, **kw: Any) -> Any:
        """`async with sim.connect_ws(url) as conn`: an in-memory WebSocket to this sim."""
        return MemoryWsConnector(self)(url, headers, **kw)

    async def serve_tcp(self, *, port: int = 0, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve REST and WS on 127.0.0.1 (`await nursery.start(sim.serve_tcp)` -> SocketServer)."""
        await serve_tcp(self, self, port=port, task_status=task_status)

    # ---- background tasks ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Book feed and sequencer; runs until cancelled."""
        self.market_model.advance(trio.current_time())
        self.feed.publish(self.now_ms())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sequencer)
            nursery.start_soon(self._ticker)
            if self.settings.funding.enabled:
                nursery.start_soon(sim_money.funding_task, self)
            task_status.started()

    async def _ticker(self) -> None:
        interval = self.settings.book_interval_s
        next_at = trio.current_time()
        while True:
            next_at += interval
            await trio.sleep_until(next_at)
            self.tick()

    def tick(self) -> None:
        """One feed step: advance the market, fill resting orders from flow, publish the book."""
        self.market_model.advance(trio.current_time())
        now_ms = self.now_ms()
        self.dispatch(self.exchange.on_flow(now_ms=now_ms))
        if not self.frozen:
            self.feed.publish(now_ms)

    async def _sequencer(self) -> None:
        while True:
            if self._queue and self._queue[0][0] <= trio.current_time():
                _, _, rec = heapq.heappop(self._queue)
                self._execute(rec)
                await trio.lowlevel.checkpoint()
                continue
            self._wake = trio.Event()
            with trio.move_on_at(self._queue[0][0] if self._queue else math.inf):
                await self._wake.wait()

    def _execute(self, rec: TxRecord) -> None:
        now_ms = self.now_ms()
        if rec.tx.tx_type == 14 and self._sequencer_rejects:
            status = self._sequencer_rejects.pop(0)
            events = self.exchange.execute_rejected(rec, status, now_ms=now_ms)
        else:
            events = self.exchange.execute(rec, now_ms=now_ms)
        self.dispatch(events)
        self.executed.value += 1

    def dispatch(self, events: list[Event]) -> None:
        for session in list(self.sessions):
            session.on_events(events)
        for ev in events:  # benchmark stamp: an order ended (a hedge stops resting)
            if isinstance(ev, OrderEvent) and not ev.order.live:
                self.stamps.add("orders", stamps.lighter_order_row(ev.order, self.settings.market))

    # ---- transactions (shared by REST sendTx and WS jsonapi/sendtx) ------------------------------

    def submit(self, txs: list[ParsedTx]) -> tuple[list[TxRecord], int]:
        """Accept txs at the API (raises TxRejected) and queue them for the sequencer."""
        records = self.exchange.accept(txs, now_ms=self.now_ms())
        for rec in records:  # benchmark stamp: the hedge order arrived
            self.stamps.add("txs", stamps.lighter_tx_row(rec.tx, self.settings.market, self.exchange))
        lat, now = self.settings.latency, trio.current_time()
        predicted = 0.0
        for rec in records:
            tx = rec.tx
            if tx.tx_type == 14:
                delay = lat.taker_s if self.exchange.is_taker(tx) else lat.maker_s
            else:
                delay = lat.cancel_s
            if lat.jitter_s:
                delay += self.rng.uniform(0, lat.jitter_s)
            predicted = max(predicted, delay)
            heapq.heappush(self._queue, (now + delay, next(self._seq), rec))
        self._wake.set()
        return records, self.now_ms() + int(predicted * 1000)

    def check_token(self, token: str | None, account: int | None = None) -> int:
        """Validate an auth token ("deadline:account:key:sig"); returns its account. Raises TxRejected."""
        if not token:
            raise TxRejected(ERR_AUTH, "auth token required")
        parts = token.split(":")
        try:
            deadline, acct, key = int(parts[0]), int(parts[1]), int(parts[2])
            bytes.fromhex(parts[3])
            if len(parts) != 4 or not parts[3]:
                raise ValueError
        except (ValueError, IndexError):
            raise TxRejected(ERR_AUTH, "invalid auth token") from None
        now = self.wall_clock()
        if deadline <= now or deadline <= self._revoked_before_s:
            raise TxRejected(ERR_AUTH, "auth token expired")
        if deadline - now > self.settings.token_max_lifetime_s:
            raise TxRejected(ERR_AUTH, "auth token deadline too far in the future")
        registered = self.exchange.accounts.get(acct)
        if registered is None or key not in registered.api_keys:
            raise TxRejected(ERR_AUTH, "auth token of an unregistered api key")
        if account is not None and acct != account:
            raise TxRejected(ERR_AUTH, "auth token is for another account")
        return acct

    def rate_limited(self, bucket: str) -> bool:
        limit = self.settings.rest_per_minute if bucket == "rest" else self.settings.sendtx_per_minute
        if limit is None:
            return False
        hits = self._rest_hits if bucket == "rest" else self._sendtx_hits
        now = trio.current_time()
        while hits and hits[0] <= now - 60:
            hits.pop(0)
        if len(hits) >= limit:
            return True
        hits.append(now)
        return False

    # ---- control surface --------------------------------------------------------------------------

    def add_account(self, index: int, *, collateral: Decimal | None = None) -> None:
        self.exchange.add_account(index, collateral=self.settings.collateral if collateral is None else collateral)

    def register_api_key(self, account: int, api_key_index: int, public_key: str) -> None:
        self.exchange.register_key(account, api_key_index, public_key)

    def set_price(self, price: Decimal) -> None:
        self.market_model.set_price(price)

    def move_price(self, pct: Decimal) -> None:
        self.market_model.move_price(pct)

    def step_market(self, steps: int = 1) -> None:
        """Run market steps now (random walk, book churn, flow), then match flow and publish like a feed tick."""
        for _ in range(steps):
            self.market_model.step()
        now_ms = self.now_ms()
        self.dispatch(self.exchange.on_flow(now_ms=now_ms))
        if not self.frozen:
            self.feed.publish(now_ms)

    def pull_book(self, side: Side | None = None) -> None:
        """Remove liquidity (both sides by default): a hedge sent now never fills."""
        self.book.pull(side)

    def restore_book(self) -> None:
        self.book.restore()
        self.book.rebuild(self.market_model.reference)

    def add_flow(self, aggressor: Side, qty: Decimal) -> None:
        """Another trader's market order, matched against our resting orders on the next tick."""
        self.book.add_flow(Flow(aggressor, qty))

    def force_fill(self, order_index: int, qty: Decimal | None = None, *, price: Decimal | None = None) -> None:
        self.dispatch(self.exchange.force_fill(order_index, qty, now_ms=self.now_ms(), price=price))

    def regress_fill(self, order_index: int, filled: Decimal) -> None:
        """Fault knob: `account_orders` restates an order with a lower cumulative fill, stamped after its
        last update. The venue's truth (the order itself) is untouched; only the report regresses."""
        self.dispatch([self.exchange.regressed_event(order_index, filled, now_ms=self.now_ms())])

    def add_fault(self, *faults: Fault) -> None:
        self.faults.add(*faults)

    def skip_nonce(self, account: int, api_key_index: int, by: int = 1) -> None:
        self.exchange.skip_nonce(account, api_key_index, by)

    def reject_next_orders(self, count: int = 1, status: str = "canceled-margin-not-allowed") -> None:
        """The next `count` creates are acked (200) but the sequencer cancels them with `status`."""
        self._sequencer_rejects += [status] * count

    def revoke_tokens(self) -> None:
        """Every token minted so far (deadline up to now + max lifetime) becomes invalid."""
        self._revoked_before_s = self.wall_clock() + self.settings.token_max_lifetime_s

    def cross_book(self) -> None:
        """Fault knob: every order_book subscriber gets one update with a bid above the best ask."""
        self.feed.send_crossing_update(self.now_ms())

    def freeze_feed(self, frozen: bool = True) -> None:
        self.frozen = frozen

    async def shutdown_connections(self, close_in_ms: int = 0) -> None:
        """Send `{"type":"shutdown"}` to every connection, then close them after `close_in_ms`."""
        for session in list(self.sessions):
            session.send_raw({"type": "shutdown", "close_in_ms": close_in_ms})
        await trio.sleep(close_in_ms / 1000)
        for session in list(self.sessions):
            session.close_soon("shutdown")

    # ---- truth -------------------------------------------------------------------------------------

    def position(self, account: int) -> Decimal:
        """Signed position of `account` on the traded market."""
        return self.settings.market.size(self.exchange.position(account).size)

    def open_orders(self, account: int) -> list[SimOrder]:
        return self.exchange.open_orders(account)

    @property
    def pending_txs(self) -> int:
        """Accepted txs still behind the speed bump (not yet run by the sequencer)."""
        return len(self._queue)

    def order_by_client_id(self, account: int, client_order_index: int) -> SimOrder | None:
        found = self.exchange.orders_by_client_id(account, {client_order_index})
        return found[-1] if found else None

    def fills(self, account: int) -> list[SimTrade]:
        return self.exchange.account_trades(account)

    def collateral(self, account: int) -> Decimal:
        return self.exchange.accounts[account].collateral

    def money(self, account: int) -> MoneyBook:
        """What moved `account`'s collateral, exact: realised PnL, fees paid, funding received."""
        return self.exchange.accounts[account].money

    @property
    def money_books(self) -> dict[int, MoneyBook]:
        """Every account's money truth, by account index (the DST checker's view)."""
        return {index: acct.money for index, acct in self.exchange.accounts.items()}

    def fundings(self, account: int) -> list[SimFunding]:
        return self.exchange.account_fundings(account)

    def settle_funding(self) -> list[SimFunding]:
        """Control: one funding round now (as the hourly one); the payments it made."""
        return sim_money.settle_now(self)

    def set_funding_rate(self, rate: Decimal) -> None:
        """Control: the rate the next round applies (and `GET /funding-rates` shows)."""
        self.funding.set_rate(rate)
