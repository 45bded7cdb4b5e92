"""`LighterClient`: the Lighter `VenueClient` (hedge leg).

Orders are identified by a client order index (see `ids.py` for the scheme). Placement
returns once the venue *accepted the transaction*; the outcome arrives as `OrderUpdate`s
from `account_orders`.

| scenario | what the adapter does |
|---|---|
| send accepted (`code` 200) | `OrderAck`; fills and the final state arrive on the stream |
| invalid nonce (21104, either path) | nonce refetched, tx re-signed and sent once more, then `NonceError` |
| refused at the API (any other code) | `OrderRejected`, nonce reused, order forgotten (certainly not live) |
| reply lost / 5xx / timeout on a send | `AmbiguousOutcome`, nonce refetched; look up with `order_status(client_id)`; a WS reply lost on an open socket also replaces the session (frozen) |
| client order index already used (21728) | `AmbiguousOutcome`: an order with that index exists, look it up |
| stream down or re-syncing | sends wait up to `ready_wait_s`, then `TransportError` (nothing sent) |
| WS send impossible (socket closing) | the same signed tx goes over REST `sendTx` (same nonce: never twice) |
| reconnect | subscribe, re-sync positions, open orders and every order still live here, then send again |
| `canceled-*` with a partial fill | `OrderStatus.CANCELLED` with `filled_qty` > 0 and the venue status as `reason` |
| late / reordered order frame | never moves an order back (fills are cumulative; terminal stays terminal) |
| token refused or about to expire | new token minted, private channels re-subscribed; not ready (nothing sent) until all are confirmed and re-synced |
| token, API key (21108) or signature refused | reported to `credentials` (the engine alerts once, halts at a bound) |
| service restarted by the supervisor | `run()` opens a fresh HTTP pool, signer, token and stream; budgets persist |
| sendTx budget spent | waits *before* the nonce lock; hedge-path txs have a reserved share (rest.py) |
| several API keys (`hedge_keys`) | each tx takes a free key (own nonce, own lock); cancel-all holds them all |
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import trio
from loguru import logger
from trio_util import AsyncValue

from hedged.venues.base import (
    AccountMoney,
    AmbiguousOutcome,
    AuthError,
    FundingPayment,
    MarketRules,
    NonceError,
    OrderAck,
    reporting_written,
    OrderRejected,
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
    VenueEvent,
    StreamStats,
    VenueHealth,
    VenueStatistics,
)
from hedged.venues.lighter import history, markets, money, normalize, signing
from hedged.venues.lighter.ids import ClientOrderIndexAllocator, OrderRegistry
from hedged.venues.lighter.nonces import AuthTokens, NonceManager
from hedged.venues.credentials import CredentialRefusals
from hedged.venues.lighter.rest import TIERS, Budgets, LighterRest, hedge_path
from hedged.venues.lighter.account import AccountEvents, EventsClosed
from hedged.venues.lighter.settings import NETWORKS, LighterSettings
from hedged.venues.lighter.streams import BOOK, LighterStream, StreamConfig, WsConnect, default_connect

V = Venue.LIGHTER
_T = TypeVar("_T")

__all__ = ["NETWORKS", "EventsClosed", "LighterClient", "LighterSettings"]


def _market_error(exc: Exception) -> OrderRejected:
    return OrderRejected(V, str(exc))


class LighterClient:
    venue = V

    def __init__(
        self,
        settings: LighterSettings,
        *,
        rng: random.Random,
        http_transport: httpx.AsyncBaseTransport | None = None,
        ws_connect: WsConnect | None = None,
        wall_clock: Callable[[], float] = time.time,
        on_rate_limit_wait: Callable[[float], None] | None = None,
        stream_funding: bool = False,
    ) -> None:
        # `stream_funding`: also take funding payments from `account_all` as they settle. Off by default: that
        # channel sends a frame per trade and position change on the hedge socket, and the extra frames shift
        # DST seed 9 into a re-sync starved by the REST budget (issue 12 point 11); funding() (the history,
        # read at each reconciliation) is the complete source either way.
        self._stream_funding = stream_funding
        self._wall = wall_clock
        self.settings = settings
        s = settings
        self.credentials = CredentialRefusals(V, unseen=self._unseen_orders)
        # The budgets belong to the client, not to one run: the venue's minute goes on across a restart.
        self._budgets = Budgets.for_tier(TIERS[s.tier], on_rate_limit_wait)
        # Opened (a fresh connection pool) by every run(), closed when it ends.
        self._rest = LighterRest(s.rest_url, tier=TIERS[s.tier], timeout_s=s.http_timeout_s,
                                 connect_timeout_s=s.connect_timeout_s, transport=http_transport,
                                 budgets=self._budgets)  # fmt: skip
        self._ws_connect = ws_connect or default_connect
        self._rng = rng
        self._nonces = NonceManager(lambda key: self._rest.next_nonce(s.account_index, key))
        self.tokens = AuthTokens(self._mint_token, wall_clock, lifetime_s=s.token_lifetime_s,
                                 refresh_margin_s=s.token_refresh_margin_s,
                                 on_refused=lambda why: self.credentials.refused("auth token", why))  # fmt: skip
        self.registry = OrderRegistry(ClientOrderIndexAllocator(s.state_dir, rng), s.state_dir)
        self.top_of_book: AsyncValue[TopOfBook | None] = AsyncValue(None)
        self.spec: markets.MarketSpec | None = None
        self._rules: MarketRules | None = None
        self._signers: dict[int, signing.Signer] = {}  # by api_key_index, the primary first
        self._stream: LighterStream | None = None
        self._signer_thread: signing.SignerThread | None = None  # while run() runs (sign_in_thread)
        # True while the stream is subscribed and re-synced; the same object across runs (both adapters).
        self.synced: AsyncValue[bool] = AsyncValue(False)
        # The stream's handler: frames and re-syncs -> events (account.py); it reads, never sends.
        self.account = AccountEvents(settings=s, registry=self.registry, top_of_book=self.top_of_book,
                                     rest=self._rest, nonces=self._nonces, wall=wall_clock, spec=self._spec,
                                     private=self._private, positions=self.positions, open_orders=self.open_orders)

    # ---- lifecycle --------------------------------------------------------

    @property
    def rules(self) -> MarketRules:
        if self._rules is None:
            raise RuntimeError("LighterClient.rules is known once run() has loaded the markets")
        return self._rules

    @property
    def budgets(self) -> Budgets:
        """The venue's rate-limit budgets as this client spends them (read-only for callers)."""
        return self._budgets

    @property
    def min_notional(self) -> Decimal:
        """The market's `min_quote_amount` (USDC): smaller orders are refused locally (carry them as residual)."""
        return self._spec().min_quote

    async def run(self, events: trio.MemorySendChannel[VenueEvent], *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """One life of the venue service. Everything that can be closed is opened here, so the
        supervisor can run it again after a failure (never a client closed by the previous run)."""
        s = self.settings
        self.account.events = events
        with signing.SignerThread() if s.sign_in_thread else contextlib.nullcontext() as thread:
            self._signer_thread = thread
            try:
                await self._serve(events, task_status)
            finally:
                self._signer_thread = None

    async def _serve(self, events: trio.MemorySendChannel[VenueEvent], task_status) -> None:
        s = self.settings
        async with self._rest:
            # A start's market read takes the budget's priority share, as the re-sync's reads do: no
            # hedge goes out before it ends, and after restarts in one minute the normal share is spent
            # (fault scenario 53: the second restart's read waited 28 s). Only this await: a task
            # started below would inherit the flag.
            with hedge_path():
                infos = await self._rest.order_books()
            info = next((i for i in infos if i.symbol == s.market), None)
            if info is None:
                raise OrderRejected(V, f"market {s.market} not listed")
            try:
                self.spec = markets.MarketSpec.from_info(info)
            except markets.MarketUnsupported as exc:
                raise _market_error(exc) from None
            self._rules = self.spec.rules()
            self._signers = {index: await self._create_signer(index, key) for index, key in s.private_keys()}
            for index in s.key_indexes:
                await self._nonces.prime(index)
            self._stream = LighterStream(
                StreamConfig(s.ws_url, self.spec.market_id, s.account_index, connect_timeout_s=s.ws_setup_timeout_s,
                             ping_interval_s=s.ws_ping_interval_s, pong_timeout_s=s.ws_pong_timeout_s,
                             idle_timeout_s=s.ws_idle_timeout_s, backoff_initial_s=s.backoff_initial_s,
                             backoff_max_s=s.backoff_max_s, tx_reply_timeout_s=s.tx_reply_timeout_s,
                             funding=self._stream_funding),
                handler=self.account, tokens=self.tokens, connect=self._ws_connect, rng=self._rng,
                sendtx_limiter=None,  # the budget is taken in _submit, before the nonce lock
                ready=self.synced,
            )  # fmt: skip
            logger.info("lighter_starting market={} market_id={} account={} key={} hedge_keys={}", s.market,
                        self.spec.market_id, s.account_index, s.api_key_index, list(s.key_indexes[1:]))  # fmt: skip
            async with trio.open_nursery() as nursery:
                await nursery.start(self.tokens.run)
                await nursery.start(self._stream.run)
                task_status.started()

    async def _sign_call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call into the Go signer: on the signer thread, which the Trio thread waits for without a
        scheduler pass (`signing.SignerThread`), unless the settings sign on the Trio thread (a mock clock)."""
        if self.settings.sign_in_thread:
            await trio.lowlevel.checkpoint_if_cancelled()
            if self._signer_thread is None:
                raise TransportError(V, "client not started")
            return self._signer_thread.call(fn, *args, **kwargs)
        await trio.lowlevel.checkpoint()
        return fn(*args, **kwargs)

    async def _create_signer(self, index: int, private_key: str) -> signing.Signer:
        s = self.settings
        try:
            return await self._sign_call(signing.Signer.create, url=s.rest_url, private_key=private_key,
                                         chain_id=s.chain_id, api_key_index=index,
                                         account_index=s.account_index)  # fmt: skip
        except signing.SignerError as exc:
            self.credentials.refused("signer", exc)
            raise AuthError(V, f"signer refused API key {index}: {exc}") from None

    async def _mint_token(self, deadline: int) -> str:
        try:
            return await self._sign_call(self._signer_or_raise().create_auth_token, deadline)
        except signing.SignerError as exc:
            raise AuthError(V, f"auth token: {exc}") from None

    def _unseen_orders(self) -> str | None:
        """Orders still live here whose fills this client cannot see now (the account stream is not
        subscribed and re-synced), for a credentials halt to name."""
        live = [t.client_id for t in self.registry.live() if t.sent]
        if self.synced.value or not live:
            return None
        return (f"{len(live)} lighter order(s) whose fills cannot be seen (client ids {', '.join(live[:5])}): "
                "what the public recent trades did not show is journaled when the next start back-fills them")

    def _signer_or_raise(self, index: int | None = None) -> signing.Signer:
        signer = self._signers.get(self.settings.api_key_index if index is None else index)
        if signer is None:
            raise TransportError(V, "client not started")
        return signer

    def _spec(self) -> markets.MarketSpec:
        if self.spec is None:
            raise TransportError(V, "client not started")
        return self.spec

    # ---- sending ----------------------------------------------------------

    async def _wait_ready(self) -> LighterStream:
        stream = self._stream
        if stream is None:
            raise TransportError(V, "client not started")
        if stream.ready.value:
            return stream  # the usual case: no scheduler pass
        with trio.move_on_after(self.settings.ready_wait_s):
            await stream.ready.wait_value(True)
            return stream
        raise TransportError(V, "stream not subscribed and re-synced; nothing sent")

    async def _submit(self, what: str, sign: Callable[[signing.Signer, int], signing.SignedTx], *, priority: bool,
                      every_key: bool = False, written: Callable[[], None] | None = None) -> str:
        """Take the budget, then sign with a free key's next nonce and send under its lock. Returns the tx hash.
        Any key will do (orders belong to the account); `every_key` (cancel-all) holds them all.

        The budget is taken before the lock: a tx waiting for the venue's minute never holds the
        nonce sequence, so it cannot hold up a hedge (`priority`) that the budget would let through.
        And only once the stream is ready: a send refused for a stream not re-synced sends nothing,
        so it must not spend the minute (on Standard the REST bucket too) that the re-sync needs.
        """
        await self._wait_ready()
        await self._budgets.acquire_tx(priority=priority)
        keys = self.settings.key_indexes
        for attempt in (1, 2):
            try:
                async with self._nonces.hold_pool(keys, every=every_key) as (key, nonce):
                    # Checked again under the lock (no pass if still ready): nothing goes out on a
                    # session not yet re-synced.
                    stream = await self._wait_ready()
                    try:
                        signed = await self._sign_call(sign, self._signer_or_raise(key), nonce)
                    except (signing.SignerError, ValueError) as exc:
                        raise OrderRejected(V, f"{what}: signer refused: {exc}") from None
                    tx_hash = await self._send(stream, signed, priority, written)
                    logger.debug("lighter_tx_sent what={} key={} nonce={} tx_hash={} attempt={}", what, key, nonce,
                                 tx_hash, attempt)
                    return tx_hash
            except NonceError as exc:
                if attempt == 2:
                    raise
                logger.warning("lighter_nonce_refetch what={} error={}", what, exc)
                # The resend is a second sendTx at the venue: it takes its own share of the budget.
                await self._budgets.acquire_tx(priority=priority)
            except AuthError as exc:
                self.credentials.refused(f"sendTx ({what.split(' ')[0]})", exc)
                raise
        raise AssertionError("unreachable")

    async def _send(self, stream: LighterStream, signed: signing.SignedTx, priority: bool,
                    written: Callable[[], None] | None) -> str:
        if self.settings.tx_over_ws:
            try:
                reply = await stream.send_tx(signed.tx_type, signed.tx_info, written=written)
                return reply.tx_hash or signed.tx_hash
            except TransportError as exc:
                # Certainly not sent on the socket: the same tx (and its budget share) goes over REST.
                logger.info("lighter_tx_rest_fallback reason={}", exc)
        resp = await reporting_written(
            self._rest.send_tx(signed.tx_type, signed.tx_info, budgeted=True, priority=priority), written)
        return resp.tx_hash or signed.tx_hash

    # ---- VenueClient: orders ----------------------------------------------

    def new_client_id(self) -> str:
        """A fresh client id that is itself a valid client order index (preferred by this adapter)."""
        return self.registry.new_client_id()

    async def place_taker(self, side: Side, qty: Decimal, price: Decimal, client_id: str,
                          tif: TimeInForce = TimeInForce.IOC, *, written: Callable[[], None] | None = None) -> OrderAck:
        signer_tif = signing.TIF_IOC if tif is TimeInForce.IOC else signing.TIF_GTT
        # hedges and flattens
        return await self._place(side, qty, price, client_id, signer_tif, priority=True, written=written)

    async def place_maker(self, side: Side, qty: Decimal, price: Decimal, client_id: str) -> OrderAck:
        return await self._place(side, qty, price, client_id, signing.TIF_POST_ONLY, priority=False)

    async def _place(self, side: Side, qty: Decimal, price: Decimal, client_id: str, tif: int, *,
                     priority: bool, written: Callable[[], None] | None = None) -> OrderAck:
        spec = self._spec()
        if qty < spec.min_base or qty * price < spec.min_quote:
            raise OrderRejected(V, f"order {qty} @ {price} below the market minimum")
        try:
            base, px = spec.encode_size(qty), spec.encode_price(price)
        except ValueError as exc:
            raise OrderRejected(V, str(exc)) from None
        coi = self.registry.coi_for(client_id, allocate=True)
        assert coi is not None
        if coi in self.registry.orders:
            raise OrderRejected(V, f"client id {client_id} already used", code="21728")
        pending = OrderUpdate(V, spec.symbol, None, client_id, side, OrderStatus.PENDING, qty, Decimal(0), price=price)
        tracked = self.registry.track(coi, client_id, pending)
        tracked.sent = False
        expiry = 0 if tif == signing.TIF_IOC else signing.EXPIRY_DEFAULT

        def sign(signer: signing.Signer, nonce: int) -> signing.SignedTx:
            tracked.sent = True  # signed under the nonce lock and sent at once: from here it may be live
            return signer.sign_create_order(
                market_index=spec.market_id, client_order_index=coi, base_amount=base, price=px,
                is_ask=side is Side.SELL, order_type=signing.ORDER_TYPE_LIMIT, time_in_force=tif,
                order_expiry=expiry, nonce=nonce)  # fmt: skip

        try:
            await self._submit(f"place coi={coi}", sign, priority=priority, written=written)
        except OrderRejected as exc:
            if exc.code == "21728":
                raise AmbiguousOutcome(V, f"client order index {coi} already exists: look it up") from None
            self.registry.forget(coi)  # certainly not live
            raise
        except (TransportError, AuthError, NonceError, RateLimited):
            self.registry.forget(coi)  # refused at the API or never sent
            raise
        return OrderAck(V, client_id, None)

    async def _order_index(self, order_id: str | None, client_id: str | None) -> int:
        if order_id is not None:
            return int(order_id)
        if client_id is None:
            raise ValueError("cancel needs order_id or client_id")
        coi = self.registry.coi_for(client_id)
        if coi is None:
            raise OrderRejected(V, f"unknown client id {client_id}")
        tracked = self.registry.orders.get(coi)
        if tracked is not None:
            with trio.move_on_after(self.settings.lookup_wait_s):
                await tracked.indexed.wait()
            if tracked.order_index is not None:
                return tracked.order_index
        found = await self._private(lambda t: self._rest.orders_by_client_index(self.settings.account_index, [coi], t))
        if not found:
            raise OrderRejected(V, f"no order with client id {client_id}")
        return found[0].order_index

    async def cancel(self, *, order_id: str | None = None, client_id: str | None = None) -> None:
        index = await self._order_index(order_id, client_id)
        market = self._spec().market_id
        # Cancels and modifies manage (hedge) risk: they share the hedges' priority.
        await self._submit(f"cancel index={index}", lambda signer, nonce: signer.sign_cancel_order(
            market_index=market, order_index=index, nonce=nonce), priority=True)  # fmt: skip

    async def cancel_all(self) -> None:
        # Treated as account-wide: whether the venue honours a per-market cancel-all is unconfirmed.
        await self._submit("cancel_all", lambda signer, nonce: signer.sign_cancel_all(nonce=nonce),
                           priority=True, every_key=True)

    async def modify(self, order_id: str, *, price: Decimal, qty: Decimal) -> None:
        spec = self._spec()
        try:
            base, px = spec.encode_size(qty), spec.encode_price(price)
        except ValueError as exc:
            raise OrderRejected(V, str(exc)) from None
        index = int(order_id)
        await self._submit(f"modify index={index}", lambda signer, nonce: signer.sign_modify_order(
            market_index=spec.market_id, order_index=index, base_amount=base, price=px, nonce=nonce),
            priority=True)  # fmt: skip

    # ---- VenueClient: queries ---------------------------------------------

    async def _private(self, call: Callable[[str], Awaitable[_T]]) -> _T:
        """A private REST call with a valid token; a refused token is replaced before the next call."""
        try:
            return await call(await self.tokens.valid())
        except AuthError:
            self.tokens.refresh_soon()
            raise

    async def open_orders(self) -> list[OrderUpdate]:
        s = self.settings
        orders = await self._private(lambda t: self._rest.active_orders(s.account_index, self._spec().market_id, t))
        return [u for o in orders if (u := self.account.to_update(o)) is not None]

    async def positions(self) -> list[PositionSnapshot]:
        spec = self._spec()
        account = await self._rest.account(self.settings.account_index)
        for p in account.positions:
            if p.market_id == spec.market_id:
                return [normalize.position_snapshot(p, spec.symbol, self.account.now_ms())]
        return [PositionSnapshot(V, spec.symbol, Decimal(0), self.account.now_ms())]

    async def order_status(self, client_id: str) -> OrderUpdate | None:
        coi = self.registry.coi_for(client_id)
        if coi is None:
            return None
        found = await self._private(lambda t: self._rest.orders_by_client_index(self.settings.account_index, [coi], t))
        updates = [u for o in found if (u := self.account.to_update(o)) is not None]
        return updates[-1] if updates else None

    async def trades(self, *, since_ms: int = 0) -> list[Trade]:
        """Our fills at or after `since_ms` from `GET /api/v1/trades` (with auth), oldest first (history.py)."""
        spec, account = self._spec(), self.settings.account_index
        return await history.fetch_trades(
            lambda cursor: self._private(lambda t: self._rest.trades(account, spec.market_id, t, cursor=cursor,
                                                                     limit=history.PAGE)),
            market_id=spec.market_id, symbol=spec.symbol, account=account, since_ms=since_ms,
            client_id_for=self.registry.client_id_for)

    async def public_trades(self, *, since_ms: int = 0) -> list[Trade]:
        """Our fills among the market's most recent trades (`GET /recentTrades`, public: no token), oldest
        first. What a refused token leaves readable: a credentials halt back-fills from it. Only the
        venue's last page, so a fill older than that is not there (the next start's `trades` has it)."""
        spec = self._spec()

        async def one_page(cursor: str | None) -> tuple[list, None]:
            return await self._rest.recent_trades(spec.market_id, limit=history.PAGE), None

        return await history.fetch_trades(one_page, market_id=spec.market_id, symbol=spec.symbol,
                                          account=self.settings.account_index, since_ms=since_ms,
                                          client_id_for=self.registry.client_id_for)

    async def funding(self, *, since_ms: int = 0) -> list[FundingPayment]:
        """Our funding payments at or after `since_ms`, oldest first (`GET /positionFunding`, money.py).
        The bound goes out in seconds: if the venue counts ms it only widens the window (filtered here)."""
        spec, account = self._spec(), self.settings.account_index
        return await money.fetch_funding(
            lambda cursor: self._private(lambda t: self._rest.position_funding(
                account, spec.market_id, t, start_s=since_ms // 1000, cursor=cursor, limit=money.PAGE)),
            market_id=spec.market_id, symbol=spec.symbol, since_ms=since_ms)

    async def account_money(self) -> AccountMoney:
        """`GET /account` only (one request of the REST budget): the mark is the position's value / size."""
        spec = self._spec()
        acct = await self._rest.account(self.settings.account_index)
        return normalize.account_money(acct, spec.market_id, spec.symbol, spec.price_decimals, self.account.now_ms())

    async def funding_rate(self) -> Decimal | None:
        """The current rate per hour as a fraction, positive = longs pay shorts (`GET /funding-rates`)."""
        return money.funding_rate_per_hour(await self._rest.funding_rates(), self._spec().market_id)

    def health(self) -> VenueHealth:
        return VenueHealth(V, self._stream.health() if self._stream is not None else {})

    def statistics(self) -> VenueStatistics:
        """The socket (`ws`: reconnects, decode failures) and its book (`order_book`: gaps, ignored
        frames as duplicates, crossings); rate-limit waits, nonce refetches and the rest by name."""
        st = self._stream
        b = self._budgets
        n = self._nonces.totals()
        streams = {"ws": StreamStats(), BOOK: StreamStats()} if st is None else {
            "ws": StreamStats(reconnects=st.reconnects, malformed=st.decoder.malformed),
            BOOK: StreamStats(gaps=st.book.gaps, duplicates=st.book.ignored, crossed=st.book.crossed)}
        return VenueStatistics(V, streams=streams, counters={
            "rest_limit_waits": b.rest.waits,
            "sendtx_limit_waits": b.sendtx.waits if b.sendtx is not b.rest else 0,
            "limit_waited_s": b.rest.waited_s + (b.sendtx.waited_s if b.sendtx is not b.rest else 0.0),
            "hedge_limit_waits": b.rest.priority_waits + (b.sendtx.priority_waits if b.sendtx is not b.rest else 0),
            "credential_refusals": self.credentials.count.value,
            "ws_unknown": st.decoder.unknown if st else 0,
            "nonce_fetches": n.fetches,
            "nonce_invalidations": n.invalidations,
            "key_busy_waits": self._nonces.busy_waits,
            "dropped_updates": self.account.dropped_updates,
            "stale_updates": self.account.stale_updates,
            "regressed_updates": self.account.regressed_updates,
            "token_mints": self.tokens.mints,
        })
