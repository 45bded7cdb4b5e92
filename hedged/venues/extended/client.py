"""`ExtendedClient`: the Extended `VenueClient` (maker leg).

| scenario                                        | behaviour                                                |
|-------------------------------------------------|----------------------------------------------------------|
| place, REST OK                                  | OrderAck with the venue id; outcome arrives on the stream|
| place, venue refuses (4xx envelope)             | OrderRejected (certainly not live)                       |
| place, reply lost / timeout / 5xx               | look up by external id until `resolve_timeout_s`; found -> OrderAck; else AmbiguousOutcome. Never re-sent |
| place, DuplicateOrder (1134)                    | treated like a lost reply: looked up                     |
| place, HTTP 429 / 401 / not connected           | RateLimited / AuthError / TransportError (certainly not placed) |
| place while the account stream is down/resyncing| waits up to `ready_timeout_s`, then TransportError (nothing sent) |
| cancel / cancel_all                             | retried (idempotent) until `cancel_timeout_s`; a refused cancel of a finished order returns quietly. Not gated on the account stream: a cancel only ever reduces risk |
| modify                                          | NotSupported (Extended replaces via cancelId; not used)  |
| 401/403 (REST or the account WS upgrade), 1100/1101/1102 | reported to `credentials` (the engine alerts once, halts at a bound) |
| service restarted by the supervisor             | `run()` opens a fresh HTTP client and streams; market config reloaded |
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import trio
import trio_websocket
from loguru import logger
from trio_util import AsyncValue

from hedged.backoff import Backoff, Retries
from hedged.venues.base import (
    AccountMoney,
    AmbiguousOutcome,
    FundingPayment,
    MarketRules,
    NotSupported,
    OrderAck,
    OrderRejected,
    reporting_written,
    OrderStatus,
    OrderUpdate,
    PositionSnapshot,
    RateLimited,
    Side,
    TimeInForce,
    TopOfBook,
    Trade,
    TransportError,
    Venue,
    VenueError,
    VenueEvent,
    VenueHealth,
    VenueStatistics,
)
from hedged.venues.credentials import CredentialRefusals
from hedged.venues.extended import history, money, wire
from hedged.venues.extended.book import BookFeed
from hedged.venues.extended.rest import USER_AGENT, ExtendedRest, NotFound, open_http_client
from hedged.venues.ratelimit import Limiter
from hedged.venues.extended.settings import ExtendedSettings
from hedged.venues.extended.signing import OrderSigner, domain_for
from hedged.venues.extended.streams import (
    AccountStream,
    BookStream,
    OrderTracker,
    WsConnect,
    default_ws_connect,
)
from hedged.venues.session import SessionConfig

VENUE = Venue.EXTENDED
STREAMS = ("account", "book")  # the keys of `health()`; metrics pre-create their series from this
_RETRYABLE = (TransportError, RateLimited)

__all__ = ["ExtendedClient", "ExtendedSettings"]


class ExtendedClient:
    venue = VENUE

    def __init__(
        self,
        settings: ExtendedSettings,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        ws_connect: WsConnect | None = None,
        rng: random.Random | None = None,
        wall_clock=time.time,
        on_rate_limit_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.credentials = CredentialRefusals(VENUE)
        self._market_loaded_at_start = False
        self._transport = http_transport
        self._ws_connect = ws_connect or default_ws_connect
        self._rng = rng if rng is not None else random.Random()
        self._wall_clock = wall_clock
        self.top_of_book: AsyncValue[TopOfBook | None] = AsyncValue(None)
        self._rules: MarketRules | None = None
        self._rest: ExtendedRest | None = None
        self._signer: OrderSigner | None = None
        self._events: trio.MemorySendChannel[VenueEvent] | None = None
        self._tracker = OrderTracker(settings.market)
        self._feed = BookFeed(settings.market)
        self._ready = AsyncValue(False)
        # Public, read-only for callers: True once the account stream is connected and re-synced.
        self.synced: AsyncValue[bool] = self._ready
        s, ua = settings, USER_AGENT.encode()
        ws = s.ws_url.rstrip("/")
        self._account = AccountStream(
            SessionConfig(f"{ws}/account", [(b"User-Agent", ua), (b"X-Api-Key", s.api_key.encode())],
                          ping_interval_s=s.ping_interval_s, pong_timeout_s=s.ping_timeout_s),
            connect=self._account_connect, market=s.market, tracker=self._tracker, backoff=self._backoff,
            resync=self._resync, ready=self._ready, emit=self._emit, rng=self._rng)
        self._book = BookStream(SessionConfig(f"{ws}/orderbooks/{s.market}", [(b"User-Agent", ua)],
                                              idle_timeout_s=s.book_stale_s),
                                connect=self._ws_connect, feed=self._feed, top=self.top_of_book, backoff=self._backoff)
        self._order_version = AsyncValue(0)
        self._limiter = Limiter("rest", settings.rate_limit_per_minute, venue="extended", on_wait=on_rate_limit_wait)
        self._id_counter = 0
        self._placements = self._resolved = self._ambiguous = 0

    def __repr__(self) -> str:
        return f"ExtendedClient(market={self.settings.market!r})"

    # ---- service ----------------------------------------------------------

    @property
    def rules(self) -> MarketRules:
        if self._rules is None:
            raise RuntimeError("market rules are loaded by run(); wait for it to start")
        return self._rules

    async def run(self, events: trio.MemorySendChannel[VenueEvent], *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        s = self.settings
        timeout = httpx.Timeout(s.request_timeout_s, connect=s.connect_timeout_s)
        async with open_http_client(rest_url=s.rest_url, timeout=timeout, transport=self._transport) as http:
            self._rest = ExtendedRest(http, s.api_key, self._limiter, deadline_s=s.request_timeout_s,
                                      on_refused=self.credentials.refused)
            self._events = events
            try:
                await self._load_market()
                self._market_loaded_at_start = True
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._account.run)
                    nursery.start_soon(self._book.run)
                    await self._ready.wait_value(True)
                    await self.top_of_book.wait_value(lambda top: top is not None)
                    logger.info("venue_ready venue=extended market={}", s.market)
                    task_status.started()
            finally:
                # Until the next run (a supervisor restart) nothing may use what this one knew.
                self._rest = None
                self._ready.value = False
                self.top_of_book.value = None

    @asynccontextmanager
    async def _account_connect(self, url: str, headers: list[tuple[bytes, bytes]]) -> AsyncIterator[Any]:
        """The account stream's connect: an upgrade refused for the API key is a credential refusal
        (the stream itself just reconnects, as it does for any failed connect)."""
        try:
            async with self._ws_connect(url, headers) as ws:
                yield ws
        except trio_websocket.ConnectionRejected as exc:
            if exc.status_code in (401, 403):
                self.credentials.refused("account stream upgrade", f"HTTP {exc.status_code}")
            raise

    def health(self) -> VenueHealth:
        now = trio.current_time()
        account, book = STREAMS
        return VenueHealth(venue=VENUE, streams={account: self._account.health(now), book: self._book.health(now)})

    def statistics(self) -> VenueStatistics:
        account, book = STREAMS
        limiter = self._limiter.stats()
        return VenueStatistics(VENUE, streams={account: self._account.stats, book: self._book.stats}, counters={
            "rest_requests": self._rest.requests if self._rest else 0,
            "rest_limit_acquired": limiter.acquired,
            "rest_limit_waits": limiter.waits,
            "limit_waited_s": limiter.waited_s,
            "placements": self._placements,
            "placements_resolved_by_lookup": self._resolved,
            "placements_ambiguous": self._ambiguous,
            "regressed_updates": self._tracker.regressed,  # lower cumulative fills forwarded (cumulative_regressed)
        })

    def new_client_id(self) -> str:
        """A short external id unique across restarts: wall ms + counter + 32 random bits."""
        self._id_counter += 1
        ms = int(self._wall_clock() * 1000)
        return f"{self.settings.client_id_prefix}-{ms:x}-{self._id_counter:x}-{self._rng.getrandbits(32):08x}"

    # ---- orders -----------------------------------------------------------

    async def place_maker(self, side: Side, qty: Decimal, price: Decimal, client_id: str) -> OrderAck:
        return await self._place(side, qty, price, client_id, post_only=True, tif=TimeInForce.GTT)

    async def place_taker(self, side: Side, qty: Decimal, price: Decimal, client_id: str,
                          tif: TimeInForce = TimeInForce.IOC, *, written: Callable[[], None] | None = None) -> OrderAck:
        return await reporting_written(self._place(side, qty, price, client_id, post_only=False, tif=tif), written)

    async def modify(self, order_id: str, *, price: Decimal, qty: Decimal) -> None:
        raise NotSupported(VENUE, "modify is not supported; cancel and place again")

    async def cancel(self, *, order_id: str | None = None, client_id: str | None = None) -> None:
        if (order_id is None) == (client_id is None):
            raise ValueError("give exactly one of order_id or client_id")
        rest = self._require_rest()
        try:
            if order_id is not None:
                await self._idempotent(lambda: rest.cancel_by_id(order_id), self.settings.cancel_timeout_s)
            else:
                await self._idempotent(lambda: rest.cancel_by_external_id(client_id), self.settings.cancel_timeout_s)
        except (OrderRejected, NotFound):
            # Refused: fine if the order is already finished, an error if it is still live.
            found = await self._lookup(order_id=order_id, client_id=client_id)
            if found is not None and found.status.is_terminal:
                await self._observe_and_emit(found)
                return
            raise

    async def cancel_all(self) -> None:
        rest = self._require_rest()
        await self._idempotent(lambda: rest.mass_cancel(self.settings.market), self.settings.cancel_timeout_s)

    async def open_orders(self) -> list[OrderUpdate]:
        rest = self._require_rest()
        orders = await self._read(lambda: rest.open_orders(self.settings.market))
        return [self._normalize(o) for o in orders if o.market == self.settings.market]

    async def positions(self) -> list[PositionSnapshot]:
        rest = self._require_rest()
        rows = await self._read(lambda: rest.positions(self.settings.market))
        return [wire.positions_for_market(rows, self.settings.market)]

    async def order_status(self, client_id: str) -> OrderUpdate | None:
        return await self._lookup(client_id=client_id)

    async def trades(self, *, since_ms: int = 0) -> list[Trade]:
        """Our fills at or after `since_ms` from `GET /user/trades`, oldest first (see history.py)."""
        rest = self._require_rest()
        market = self.settings.market
        async def external_id_of(order_id: str) -> str | None:
            order = await self._read(lambda: rest.order_by_id(order_id))
            return order.external_id if order is not None else None

        return await history.fetch_trades(
            lambda cursor: self._read(lambda: rest.trades(market, cursor=cursor, limit=history.PAGE)),
            market=market, since_ms=since_ms, client_ids=self._tracker.client_ids_by_order_id(),
            external_id_of=external_id_of)

    async def funding(self, *, since_ms: int = 0) -> list[FundingPayment]:
        """Our funding payments at or after `since_ms`, oldest first (`GET /user/funding/history`, money.py)."""
        rest, market = self._require_rest(), self.settings.market
        return await money.fetch_funding(
            lambda cursor: self._read(lambda: rest.funding_history(market, since_ms=since_ms, cursor=cursor,
                                                                   limit=money.PAGE)),
            market=market, since_ms=since_ms)

    async def account_money(self) -> AccountMoney:
        """Two reads (`/user/balance`, `/user/positions`); the mark is the open position's (None when flat)."""
        rest, market = self._require_rest(), self.settings.market
        balance = await self._read(rest.balance)
        rows = await self._read(lambda: rest.positions(market))
        return money.account_money(market, balance, rows, int(self._wall_clock() * 1000))

    async def funding_rate(self) -> Decimal | None:
        """The current rate per hour as a fraction, positive = longs pay shorts (`marketStats.fundingRate`)."""
        rest = self._require_rest()
        info, _ = await self._read(lambda: rest.market(self.settings.market))
        return info.market_stats.funding_rate if info.market_stats is not None else None

    # ---- internals --------------------------------------------------------

    def _require_rest(self) -> ExtendedRest:
        if self._rest is None:
            raise TransportError(VENUE, "client is not running")
        return self._rest

    def _backoff(self) -> Retries:
        return Retries(Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s, jitter="equal"), self._rng)

    async def _emit(self, events: list[VenueEvent]) -> None:
        """Hand `events` to the ledger, all of them: the tracker has counted them as seen. Without a
        checkpoint while the channel has room (the usual case: a pass per event, and the two shielded
        cancel scopes around them, were a third of the account stream's time on a fill's way to its
        hedge); shielded while it waits for room, so a teardown cannot drop one."""
        assert self._events is not None
        for event in events:
            try:
                self._events.send_nowait(event)
            except trio.WouldBlock:
                with trio.CancelScope(shield=True):
                    await self._events.send(event)
        self._order_version.value += 1

    async def _observe_and_emit(self, update: OrderUpdate) -> None:
        if self._tracker.observe(update):
            await self._emit([update])

    def _normalize(self, order: wire.Order) -> OrderUpdate:
        return wire.to_order_update(order, last=self._tracker.last(order.external_id, str(order.id)))

    async def _load_market(self) -> None:
        rest = self._require_rest()
        s = self.settings
        market, raw = await self._read(lambda: rest.market(s.market))
        fees = await self._read(lambda: rest.fees(s.market))
        cfg = market.trading_config
        self._rules = MarketRules(venue=VENUE, market=s.market, tick=cfg.min_price_change,
                                  size_step=cfg.min_order_size_change, min_size=cfg.min_order_size)
        self._signer = OrderSigner(
            vault=s.vault, private_key=s.stark_private_key, public_key=s.stark_public_key,
            domain=domain_for(s.signing_domain), market=raw, fee_cap=max(fees.taker_fee_rate, fees.maker_fee_rate),
            rng=self._rng, expiry_s=s.order_expiry_s, wall_clock=self._wall_clock)
        logger.info("market_loaded venue=extended market={} tick={} step={} min={} taker_fee={}", s.market,
                    cfg.min_price_change, cfg.min_order_size_change, cfg.min_order_size, fees.taker_fee_rate)

    async def _read(self, call) -> Any:
        """Run an idempotent read, retrying transport trouble and 429s until `read_timeout_s`."""
        return await self._idempotent(call, self.settings.read_timeout_s)

    async def _idempotent(self, call, budget_s: float) -> Any:
        deadline = trio.current_time() + budget_s
        backoff = self._backoff()
        while True:
            try:
                return await call()
            except (*_RETRYABLE, AmbiguousOutcome) as exc:
                wait = backoff.next()
                if isinstance(exc, RateLimited) and exc.retry_after_s:
                    wait = max(wait, exc.retry_after_s)
                if trio.current_time() + wait >= deadline:
                    raise
                logger.info("rest_retry venue=extended error={} wait_s={:.2f}", exc, wait)
                await trio.sleep(wait)

    async def _lookup(self, *, order_id: str | None = None, client_id: str | None = None) -> OrderUpdate | None:
        rest = self._require_rest()
        if client_id is not None:
            orders = await self._read(lambda: rest.orders_by_external_id(client_id))
        else:
            one = await self._read(lambda: rest.order_by_id(order_id))
            orders = [one] if one is not None else []
        updates = [self._normalize(o) for o in orders]
        if not updates:
            return None
        # Several rows for one external id would be a venue oddity; the most advanced one wins.
        return max(updates, key=lambda u: (u.filled_qty, u.status.is_terminal, u.ts_ms))

    def _check_order(self, qty: Decimal, price: Decimal) -> None:
        rules = self.rules
        if not rules.is_tradeable(qty):
            raise OrderRejected(VENUE, f"qty {qty} not on step {rules.size_step} or below {rules.min_size}",
                                code="LOCAL_QTY")
        if price <= 0 or rules.round_price(price, up=False) != price:
            raise OrderRejected(VENUE, f"price {price} not on tick {rules.tick}", code="LOCAL_PRICE")

    async def _place(self, side: Side, qty: Decimal, price: Decimal, client_id: str, *,
                     post_only: bool, tif: TimeInForce) -> OrderAck:
        rest = self._require_rest()
        self._check_order(qty, price)
        if not self._ready.value:
            # After a reconnect nothing is sent until the account stream is re-synced.
            with trio.move_on_after(self.settings.ready_timeout_s):
                await self._ready.wait_value(True)
            if not self._ready.value:
                raise TransportError(VENUE, "account stream not synced; order not sent")
        assert self._signer is not None
        try:
            body = await self._signer.sign_async(in_thread=self.settings.sign_in_thread, side=side, qty=qty,
                                                 price=price, external_id=client_id, post_only=post_only, tif=tif)
        except (ValueError, AssertionError, ArithmeticError) as exc:
            # x10 validation failures; the SDK's text is not echoed (it may quote inputs).
            raise OrderRejected(VENUE, f"signing refused the order ({type(exc).__name__})", code="LOCAL_SIGNING") from None
        self._tracker.pending(OrderUpdate(venue=VENUE, market=self.settings.market, order_id=None,
                                          client_id=client_id, side=side, status=OrderStatus.PENDING,
                                          qty=qty, filled_qty=Decimal(0), price=price))
        self._placements += 1
        try:
            placed = await rest.place(body)
        except OrderRejected as exc:
            if exc.code != "1134":  # DuplicateOrder: it may exist already, so look it up
                self._tracker.forget(client_id)
                raise
            logger.warning("place_duplicate venue=extended client_id={}", client_id)
        except AmbiguousOutcome as exc:
            logger.warning("place_ambiguous venue=extended client_id={} error={}", client_id, exc)
        except VenueError:
            self._tracker.forget(client_id)  # 429, auth, not sent: certainly not placed
            raise
        else:
            return OrderAck(venue=VENUE, client_id=client_id, order_id=str(placed.id))
        return await self._resolve(client_id)

    async def _resolve(self, client_id: str) -> OrderAck:
        """Find out whether a placement whose reply was lost exists, without ever re-sending it."""
        rest = self._require_rest()
        deadline = trio.current_time() + self.settings.resolve_timeout_s
        backoff = Retries(Backoff(0.25, 2.0, jitter="equal"), self._rng)
        while True:
            known = self._tracker.get(client_id)
            if known is not None and known.status is not OrderStatus.PENDING:
                self._resolved += 1
                return OrderAck(venue=VENUE, client_id=client_id, order_id=known.order_id)
            try:
                orders = await rest.orders_by_external_id(client_id)
            except VenueError as exc:
                logger.info("resolve_lookup_failed venue=extended client_id={} error={}", client_id, exc)
                orders = []
            if orders:
                update = max((self._normalize(o) for o in orders), key=lambda u: (u.filled_qty, u.ts_ms))
                await self._observe_and_emit(update)
                self._resolved += 1
                logger.info("place_resolved venue=extended client_id={} status={}", client_id, update.status)
                return OrderAck(venue=VENUE, client_id=client_id, order_id=update.order_id)
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                self._ambiguous += 1
                raise AmbiguousOutcome(VENUE, f"placement {client_id} unresolved after {self.settings.resolve_timeout_s:g} s")
            # Wake early if the account stream reports anything; otherwise retry the lookup.
            seen = self._order_version.value
            with trio.move_on_after(min(backoff.next(), remaining)):
                await self._order_version.wait_value(lambda v: v != seen)

    async def _resync(self) -> None:
        """Reconcile after a (re)connect: market config, open orders, positions, and the fate of live orders.

        Each update is emitted the moment the tracker records it: a lookup that fails later aborts
        the re-sync, but what was already learnt has reached the ledger (the tracker would treat it
        as old news on the next re-sync)."""
        rest = self._require_rest()
        market = self.settings.market
        if self._market_loaded_at_start:
            self._market_loaded_at_start = False  # run() just loaded it: the first re-sync need not again
        else:
            await self._load_market()  # a reconnect: fees or limits may have changed meanwhile
        orders = await self._read(lambda: rest.open_orders(market))
        rows = await self._read(lambda: rest.positions(market))
        open_keys: set[str] = set()
        for order in orders:
            if order.market != market:
                continue
            update = self._normalize(order)
            open_keys.add(update.client_id or f"#{update.order_id}")
            await self._observe_and_emit(update)
        for tracked in self._tracker.live():
            key = tracked.client_id or f"#{tracked.order_id}"
            if key in open_keys:
                continue
            # Live in our view but not open at the venue: it finished while we were away.
            found = await self._lookup(order_id=tracked.order_id if not tracked.client_id else None,
                                       client_id=tracked.client_id)
            if found is not None:
                await self._observe_and_emit(found)
        await self._emit([wire.positions_for_market(rows, market)])
