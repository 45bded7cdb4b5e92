"""Lighter WebSocket: one connection carrying the book, the account channels and transactions.

Session lifecycle (one `connect` per session, reconnect with exponential backoff + jitter):

| step | what happens |
|---|---|
| open | wait for `{"type":"connected"}`, then subscribe `order_book/{M}` and the private channels with `auth` |
| subscribed | every channel's `subscribed/...` frame arrived; the handler re-syncs over REST; then `ready` = True |
| book gap (`begin_nonce` != previous `nonce`) | book dropped, `top_of_book` None, `order_book` unsubscribed + subscribed again |
| book crossed (bid >= ask) after a frame | the same (stale until the fresh snapshot); crossed more than 3 times in a row: reconnect with backoff |
| token refreshed | `ready` = False; private channels unsubscribed and subscribed again with the new token; once all are confirmed, re-sync, `ready` = True (a refused token: stays not ready) |
| the private channels' token refused (by a channel or a REST call) | `ready` = False at once, not at the next mint; then as a token refresh |
| `shutdown` frame, idle feed, missing pong, a sendtx unanswered on an open socket, closed socket | `ready` = False, in-flight WS sends fail as `AmbiguousOutcome` (never replayed), reconnect |

Nothing is sent on a new session until it is subscribed and re-synced: `send_tx` refuses with
`TransportError` (certainly not sent) while `ready` is False, and the client waits for `ready`.
The connect -> subscribe -> re-sync -> ready -> backoff loop is the shared `hedged.venues.session.Session`;
`LighterStream` is its hooks (what to subscribe, how to re-sync, how to take a frame) plus `send_tx`.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
import trio_websocket
from loguru import logger
from trio_util import AsyncValue, wait_any

from hedged.backoff import Backoff, Retries
from hedged.venues.wsclient import open_ws
from hedged.venues.base import AmbiguousOutcome, StreamHealth, TransportError, Venue
from hedged.venues.session import Hooks, Reconnect, Session, SessionConfig, SessionLog
from hedged.venues.lighter import wire
from hedged.venues.lighter.book import BookSync, Verdict
from hedged.venues.lighter.nonces import AuthTokens
from hedged.venues.lighter.rest import classify
from hedged.venues.ratelimit import Limiter

if TYPE_CHECKING:
    from hedged.venues.lighter.account import AccountEvents

V = Venue.LIGHTER
WsConnect = Callable[..., AbstractAsyncContextManager[trio_websocket.WebSocketConnection]]

BOOK = "order_book"
ORDERS = "account_orders"
TRADES = "account_all_trades"
POSITIONS = "account_all_positions"
TXS = "account_tx"
# Read for its funding_histories only, when `StreamConfig.funding` asks for it (off by default: see the
# client's `stream_funding`). No token, as the docs list none and the SDK's WsClient sends none.
FUNDING = "account_all"
PRIVATE = (ORDERS, TRADES, POSITIONS, TXS)
STREAMS = (BOOK, *PRIVATE)  # the keys of `health()`; metrics pre-create their series from this
_MAX_CROSSED_RESUBSCRIBES = 3
_LOG = SessionLog(down="lighter_ws_session_ended reason={reason} attempt={attempt}",
                  ready="lighter_ws_ready session={session}{after}", connected="lighter_ws_connected session={session}")
_IN_FLIGHT_SETTLE_S = 1.0  # longer than Lighter's taker hold (300 ms on a Standard account) plus latency


@dataclass(frozen=True, slots=True)
class StreamConfig:
    url: str
    market_id: int
    account_index: int
    connect_timeout_s: float = 10.0
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0  # no frame at all for this long = frozen feed: reconnect
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    tx_reply_timeout_s: float = 5.0
    funding: bool = False  # also subscribe `account_all/{A}` for its funding payments


@dataclass(slots=True)
class _Channel:
    subscribe: str
    private: bool
    subscribed: bool = False
    last_message: float | None = None


@dataclass(slots=True)
class _Pending:
    done: trio.Event = field(default_factory=trio.Event)
    reply: Any = None  # SendTxReply | ErrorFrame | None (None = connection lost)


class LighterStream(Hooks):
    def __init__(
        self,
        cfg: StreamConfig,
        *,
        handler: AccountEvents,
        tokens: AuthTokens,
        connect: WsConnect,
        rng: random.Random,
        sendtx_limiter: Limiter | None = None,
        ready: AsyncValue[bool] | None = None,
    ) -> None:
        self.cfg = cfg
        self._handler = handler
        self._tokens = tokens
        self._sendtx_limiter = sendtx_limiter
        m, a = cfg.market_id, cfg.account_index
        self._channels = {
            BOOK: _Channel(f"order_book/{m}", False),
            ORDERS: _Channel(f"account_orders/{m}/{a}", True),
            TRADES: _Channel(f"account_all_trades/{a}", True),
            POSITIONS: _Channel(f"account_all_positions/{a}", True),
            TXS: _Channel(f"account_tx/{a}", True),
            **({FUNDING: _Channel(f"account_all/{a}", False)} if cfg.funding else {}),
        }
        self.book = BookSync()
        self.decoder = wire.FrameDecoder()
        self.session = Session(
            SessionConfig(cfg.url, {}, setup_timeout_s=cfg.connect_timeout_s, idle_timeout_s=cfg.idle_timeout_s,
                          ping_interval_s=cfg.ping_interval_s, pong_timeout_s=cfg.pong_timeout_s),
            self, connect=connect, log=_LOG, ready=ready,
            backoff=lambda: Retries(Backoff(cfg.backoff_initial_s, cfg.backoff_max_s, jitter="equal"), rng, failed=1))
        self.ready: AsyncValue[bool] = self.session.ready
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._all_subscribed = trio.Event()
        self._broken = trio.Event()  # set when this session proved frozen (a sendtx never answered)
        self._crossed_in_row = 0
        self._private_token: str | None = None  # the token the private channels were last subscribed with
        self._channels_refused = False  # a private channel refused that token (not only a REST call)

    # ---- public ---------------------------------------------------------

    @property
    def reconnects(self) -> int:
        return self.session.reconnects

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Keep a session up forever; `task_status.started()` once the first session is ready."""
        await self.session.run(task_status=task_status)

    def health(self) -> dict[str, StreamHealth]:
        """Per channel. Account channels are quiet while nothing trades; they share the socket with the
        book, so while subscribed their age is that of the socket's last frame."""
        now, socket_last, connected = trio.current_time(), self.session.last_message_at, self.session.connected
        out = {}
        for name, ch in self._channels.items():
            last = ch.last_message
            if ch.private and ch.subscribed and socket_last is not None:
                last = socket_last if last is None else max(last, socket_last)
            out[name] = StreamHealth(connected, ch.subscribed, None if last is None else now - last)
        return out

    async def send_tx(self, tx_type: int, tx_info: str, *, written: Callable[[], None] | None = None) -> wire.SendTxReply:
        """Send a signed tx over the socket. TransportError = certainly not sent (fall back to REST).
        `written` is called once the frame is written, before the reply is waited for."""
        ws = self._ws
        if ws is None or not self.ready.value:
            raise TransportError(V, "stream not ready for sendtx")
        if self._sendtx_limiter is not None:
            await self._sendtx_limiter.acquire(1)
        req_id = str(next(self._ids))
        pending = self._pending[req_id] = _Pending()
        frame = {"type": "jsonapi/sendtx", "data": {"id": req_id, "tx_type": tx_type, "tx_info": json.loads(tx_info)}}
        try:
            try:
                await ws.send_message(json.dumps(frame))
            except trio_websocket.ConnectionClosed:
                raise TransportError(V, "stream closed before sendtx") from None
            if written is not None:
                written()
            with trio.move_on_after(self.cfg.tx_reply_timeout_s):
                await pending.done.wait()
        finally:
            self._pending.pop(req_id, None)
        reply = pending.reply
        if reply is None:
            if self._ws is ws:
                # No answer on a socket still open: the venue answers a sendtx in milliseconds, so this
                # session is frozen (silent but open), and so is what it would tell us of the tx's
                # fate. End it now rather than at the idle timeout: the next session re-syncs our
                # orders over REST, so the hedge's outcome is known within the hedge budget.
                self._broken.set()
            raise AmbiguousOutcome(V, "sendtx reply lost (timeout or disconnect)")
        if reply.code != 200:
            raise classify(reply.code, reply.message, http_status=200)
        return reply

    # ---- the session's hooks ------------------------------------------

    async def opened(self, ws: trio_websocket.WebSocketConnection) -> None:
        while not isinstance(self.decoder.decode(await ws.get_message()), wire.Connected):
            pass
        self._ws = ws
        self._all_subscribed = trio.Event()
        self._broken = trio.Event()

    async def subscribe(self, ws: trio_websocket.WebSocketConnection) -> None:
        for name in self._channels:
            await self._subscribe(ws, name)
        await self._all_subscribed.wait()

    async def resync(self) -> None:
        await self._handler.resync()

    async def serve(self, ws: trio_websocket.WebSocketConnection) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._until_broken)
            await self._token_watch(ws)

    async def ping_payload(self, ws: trio_websocket.WebSocketConnection) -> None:
        """A protocol ping proves the peer is alive; the application ping is a client frame, which is
        what the venue's 2-minute idle rule counts (protocol pings may be invisible to it)."""
        await ws.send_message('{"type":"ping"}')

    def down(self) -> None:
        self._ws = None
        for ch in self._channels.values():
            ch.subscribed = False
        self.book.reset()
        self._handler.on_book(self.book)
        for pending in self._pending.values():
            pending.done.set()  # reply None: the caller raises AmbiguousOutcome

    async def _subscribe(self, ws: trio_websocket.WebSocketConnection, name: str, *, resubscribe: bool = False) -> None:
        ch = self._channels[name]
        ch.subscribed = False
        if resubscribe:
            await ws.send_message(json.dumps({"type": "unsubscribe", "channel": ch.subscribe}))
        msg: dict[str, str] = {"type": "subscribe", "channel": ch.subscribe}
        if ch.private:
            msg["auth"] = self._private_token = await self._tokens.valid()
        await ws.send_message(json.dumps(msg))

    async def _token_watch(self, ws: trio_websocket.WebSocketConnection) -> None:
        """A new token re-subscribes the private channels with it. From the unsubscribe until the venue
        confirms every channel again, our account is not seen (a hedge's fill would be missed), so the
        session is not ready: nothing is sent blind. A refused token keeps it so (the venue sends an
        error, never `subscribed/...`; the token loop mints again) until one is accepted; then the
        handler re-syncs what the gap hid and the session is ready again. The channels' token refused
        (by a REST call too) ends ready at once, not at the next mint (`retry_s` later): the venue may cut
        the channels any moment, and a hedge sent meanwhile filled unseen (DST seed 222)."""
        while True:
            await wait_any(lambda: self._tokens.token.wait_value(self._new_token),
                           lambda: self._tokens.refused.wait_value(self._own_token_refused))
            self.session.not_ready()
            await self._tokens.token.wait_value(self._new_token)
            if not self._channels_refused:
                # Refused on REST only: the channels still deliver, and an order of ours in Lighter's taker
                # hold fills on them. Re-subscribing with the new token (refused too, in a revocation) would
                # cut them just before (DST seeds 177, 391, 518, 582): let the orders in flight end first.
                await self._handler.let_in_flight_settle(_IN_FLIGHT_SETTLE_S)
            self._channels_refused = False
            while True:
                subscribed = self._all_subscribed = trio.Event()
                logger.info("lighter_ws_resubscribe_private reason=token_refreshed")
                for name in PRIVATE:
                    await self._subscribe(ws, name, resubscribe=True)
                await wait_any(subscribed.wait, lambda: self._tokens.token.wait_value(self._new_token))
                if subscribed.is_set():
                    break
                # A newer token came before the channels were back (the last one was refused): use it.
            await self.session.resync_then_ready(after="token_refresh")

    def _new_token(self, token: str | None) -> bool:
        return token is not None and token != self._private_token

    def _own_token_refused(self, refused: str | None) -> bool:
        return refused is not None and refused == self._private_token

    async def _until_broken(self) -> None:
        await self._broken.wait()
        raise Reconnect("sendtx reply timeout on an open socket")

    async def on_message(self, ws: trio_websocket.WebSocketConnection, raw: str | bytes) -> None:
        frame = self.decoder.decode(raw)
        if frame is not None:
            await self._dispatch(ws, frame)

    def _touch(self, name: str, *, subscribed: bool = False) -> None:
        ch = self._channels[name]
        ch.last_message = trio.current_time()
        if subscribed and not ch.subscribed:
            ch.subscribed = True
            if all(c.subscribed for c in self._channels.values()):
                self._all_subscribed.set()

    async def _dispatch(self, ws: trio_websocket.WebSocketConnection, frame: wire.AnyFrame) -> None:
        match frame:
            case wire.BookSnapshot() | wire.BookUpdate() if frame.order_book is not None:
                await self._on_book(ws, frame)
            case wire.OrdersSubscribed() | wire.OrdersUpdate():
                self._touch(ORDERS, subscribed=isinstance(frame, wire.OrdersSubscribed))
                await self._handler.on_orders(frame)
            case wire.TradesSubscribed() | wire.TradesUpdate():
                self._touch(TRADES, subscribed=isinstance(frame, wire.TradesSubscribed))
                await self._handler.on_trades(frame)
            case wire.PositionsSubscribed() | wire.PositionsUpdate():
                self._touch(POSITIONS, subscribed=isinstance(frame, wire.PositionsSubscribed))
                await self._handler.on_positions(frame)
            case wire.TxSubscribed() | wire.TxUpdate():
                self._touch(TXS, subscribed=isinstance(frame, wire.TxSubscribed))
                await self._handler.on_txs(frame)
            case wire.AccountAllSubscribed() | wire.AccountAllUpdate() if FUNDING in self._channels:
                self._touch(FUNDING, subscribed=isinstance(frame, wire.AccountAllSubscribed))
                await self._handler.on_funding(frame)
            case wire.SendTxReply():
                self._resolve(frame.id, frame)
            case wire.ErrorFrame():
                self._on_error(frame)
            case wire.Ping():
                await ws.send_message('{"type":"pong"}')
            case wire.Shutdown():
                raise Reconnect(f"shutdown frame close_in_ms={frame.close_in_ms}")
            case _:
                pass

    async def _on_book(self, ws: trio_websocket.WebSocketConnection, frame: wire.BookFrame) -> None:
        body = frame.order_book
        assert body is not None
        try:
            if isinstance(frame, wire.BookSnapshot):
                verdict = self.book.on_snapshot(body)
                self._touch(BOOK, subscribed=True)
            else:
                verdict = self.book.on_update(body)
                self._touch(BOOK)
        except ValueError as exc:  # a junk price or size inside an otherwise valid frame
            self.decoder.malformed += 1
            logger.warning("lighter_book_bad_level error={}", exc)
            self.book.reset()
            verdict = Verdict.GAP
        if verdict is Verdict.GAP:
            logger.warning("lighter_book_gap nonce_gaps={} action=resubscribe", self.book.gaps)
            self._handler.on_book(self.book)
            await self._subscribe(ws, BOOK, resubscribe=True)
        elif verdict is Verdict.CROSSED:
            self._handler.on_book(self.book)  # not live: top_of_book None, nobody prices against it
            self._crossed_in_row += 1
            if self._crossed_in_row > _MAX_CROSSED_RESUBSCRIBES:
                # Fresh snapshots keep coming crossed: back off through a reconnect, not a resubscribe loop.
                raise Reconnect(f"book crossed {self._crossed_in_row} times in a row")
            logger.warning("lighter_book_crossed crossed={} action=resubscribe", self.book.crossed)
            await self._subscribe(ws, BOOK, resubscribe=True)
        elif verdict is Verdict.APPLIED:
            self._crossed_in_row = 0
            self._handler.on_book(self.book)

    def _on_error(self, frame: wire.ErrorFrame) -> None:
        code = frame.code or 0
        if frame.id is not None and frame.id in self._pending:
            self._resolve(frame.id, frame)
        elif 20000 <= code < 30000 and len(self._pending) == 1:
            # Tx errors may come without our id; sends are serialized per key so one is in flight.
            self._resolve(next(iter(self._pending)), frame)
        elif code == 21504 or "token" in (frame.message or "").lower():
            # A private channel was refused or cut for its token: mint a new one; the token
            # watcher then re-subscribes every private channel with it.
            logger.warning("lighter_ws_auth_error channel={} action=refresh_token", frame.channel)
            self._channels_refused = True
            self._tokens.refresh_soon()
        elif code == 30003:
            logger.debug("lighter_ws_already_subscribed channel={}", frame.channel)
        else:
            logger.warning("lighter_ws_error code={} message={}", code, (frame.message or "")[:200])
            if code == 30012:
                raise Reconnect(f"subscribe failed code={code}")

    def _resolve(self, req_id: str | None, reply: Any) -> None:
        pending = self._pending.get(req_id) if req_id is not None else None
        if pending is None:
            logger.warning("lighter_ws_unmatched_reply id={}", req_id)
            return
        pending.reply = reply
        pending.done.set()


def default_connect(url: str, headers: dict[str, str]) -> AbstractAsyncContextManager[trio_websocket.WebSocketConnection]:
    """The real socket: `connect_ws(url, headers)` shape over trio_websocket.open_websocket_url."""
    return open_ws(url, [(k.encode(), v.encode()) for k, v in headers.items()], max_message_size=16 * 2**20)
