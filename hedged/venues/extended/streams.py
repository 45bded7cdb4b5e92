"""Extended streams: the Trio loops around the book and account streams (the pure account core is account.py).

| scenario                                  | what happens                                          |
|-------------------------------------------|-------------------------------------------------------|
| book: malformed frame                     | logged, counted, skipped (book untouched)             |
| book: duplicate seq                       | ignored, counted                                      |
| book: seq gap / DELTA before a SNAPSHOT   | reconnect (book cleared, top_of_book -> None)         |
| book: no message for `book_stale_s`       | reconnect (frozen feed)                               |
| book: a frame leaves it crossed (bid>=ask)| top_of_book -> None at once, reconnect for a fresh SNAPSHOT (stale until then) |
| account: malformed frame                  | logged, counted, skipped                              |
| account: duplicate seq                    | ignored, counted                                      |
| account: seq gap                          | reconnect, then re-sync over REST                     |
| account: (re)connect                      | not ready until open orders + positions re-synced     |
| account: duplicated / stale order update  | dropped by `OrderTracker` (fills never go backwards)  |
| any drop                                  | reconnect after exponential backoff with seeded jitter|
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

import trio
import trio_websocket
from loguru import logger
from trio_util import AsyncValue

from hedged.venues.wsclient import open_ws
from hedged.venues.base import OrderUpdate, StreamHealth, Trade, VenueError, VenueEvent
from hedged.venues.extended import wire
from hedged.venues.extended.account import AccountCore, OrderTracker, SeqCheck, StreamStats, TradeDedup
from hedged.venues.extended.book import BookFeed, BookResult, same_top

__all__ = [
    "AccountCore", "Backoff", "OrderTracker", "SeqCheck", "StreamState", "StreamStats", "TradeDedup", "WsConnect",
    "default_ws_connect", "run_account_stream", "run_book_stream",
]  # fmt: skip


class Backoff:
    """Exponential backoff with full-range jitter from an injected, seeded RNG."""

    def __init__(self, rng: random.Random, *, initial: float = 0.2, maximum: float = 30.0, factor: float = 2.0) -> None:
        self._rng = rng
        self.initial, self.maximum, self.factor = initial, maximum, factor
        self._attempt = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self._attempt)
        if base < self.maximum:
            self._attempt += 1  # stop growing at the cap (and never overflow a float)
        # Jitter in [base/2, base]: spreads reconnect storms but never reconnects instantly.
        return base / 2 + self._rng.random() * base / 2

    def reset(self) -> None:
        self._attempt = 0

class StreamState:
    """Connection facts of one stream, written only by that stream's task."""

    def __init__(self) -> None:
        self.connected = False
        self.subscribed = False
        self.last_message_at: float | None = None
        self.stats = StreamStats()

    def down(self) -> None:
        self.connected = False
        self.subscribed = False

    def health(self, now: float) -> StreamHealth:
        age = None if self.last_message_at is None else max(0.0, now - self.last_message_at)
        return StreamHealth(connected=self.connected, subscribed=self.subscribed, last_message_age_s=age)



# ------------------------------------------------------------ Trio loops ----
# Everything below only moves bytes and time; the decisions are in the classes above.

WsConnect = Callable[[str, list[tuple[bytes, bytes]]], AbstractAsyncContextManager[trio_websocket.WebSocketConnection]]

_WS_ERRORS = (
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


def default_ws_connect(url: str, headers: list[tuple[bytes, bytes]]):
    return open_ws(url, headers, connect_timeout=10, disconnect_timeout=2)


async def _connection(name: str, url: str, headers, connect: WsConnect, state: StreamState,
                      session: Callable[[trio_websocket.WebSocketConnection], Awaitable[str]]) -> str:
    """Open one connection, run `session` on it, and say why it ended (never raises transport errors)."""
    reason = "closed"
    try:
        async with connect(url, headers) as ws:
            state.connected = True
            logger.debug("stream_connected venue=extended stream={}", name)
            reason = await session(ws)
    except* _WS_ERRORS as group:
        reason = f"transport: {type(group.exceptions[0]).__name__}"
    finally:
        state.down()
    return reason


async def _receive(ws: trio_websocket.WebSocketConnection, stale_s: float | None) -> bytes | str | None:
    """The next message, or None if the connection closed or went quiet for `stale_s`."""
    try:
        if stale_s is None:
            return await ws.get_message()
        with trio.move_on_after(stale_s):
            return await ws.get_message()
        return None
    except trio_websocket.ConnectionClosed:
        return None


async def run_book_stream(
    *,
    url: str,
    headers: list[tuple[bytes, bytes]],
    connect: WsConnect,
    feed: BookFeed,
    state: StreamState,
    top: AsyncValue,
    backoff: Backoff,
    stale_s: float,
) -> None:
    """Keep `top` current from the full-depth book stream, forever."""

    async def session(ws: trio_websocket.WebSocketConnection) -> str:
        feed.reset()
        while True:
            message = await _receive(ws, stale_s)
            if message is None:
                return "closed or stale"
            now = trio.current_time()
            state.last_message_at = now
            state.stats.messages += 1
            try:
                result = feed.apply(wire.decode_frame(message))
            except wire.WireError as exc:
                state.stats.malformed += 1
                logger.warning("book_malformed venue=extended error={}", exc)
                continue
            if result is BookResult.GAP:
                state.stats.gaps += 1
                return f"seq gap after {feed.last_seq}"
            if result is BookResult.CROSSED:
                # Never quoted or priced against: withdrawn now, not after the socket has closed.
                state.stats.crossed += 1
                state.subscribed = False  # stale in health() from this instant, not once the socket closed
                top.value = None
                bid, ask = feed.book.best_bid(), feed.book.best_ask()
                logger.warning("book_crossed venue=extended bid={} ask={} action=reconnect",
                               bid[0] if bid else None, ask[0] if ask else None)
                return "crossed book"
            if result is BookResult.DUPLICATE:
                state.stats.duplicates += 1
            elif result is BookResult.APPLIED:
                if not state.subscribed:
                    state.subscribed = True
                    backoff.reset()
                new_top = feed.top(now)
                if not same_top(top.value, new_top):
                    top.value = new_top

    while True:
        reason = await _connection("book", url, headers, connect, state, session)
        feed.reset()
        top.value = None  # a book we cannot keep current must not be quoted against
        state.stats.reconnects += 1
        delay = backoff.next()
        logger.warning("stream_down venue=extended stream=book reason={} retry_in_s={:.2f}", reason, delay)
        await trio.sleep(delay)


async def run_account_stream(
    *,
    url: str,
    headers: list[tuple[bytes, bytes]],
    connect: WsConnect,
    core: AccountCore,
    state: StreamState,
    backoff: Backoff,
    resync: Callable[[], Awaitable[None]],
    ready: AsyncValue,
    emit: Callable[[list[VenueEvent]], Awaitable[None]],
    ping_interval_s: float,
    ping_timeout_s: float,
    rng: random.Random,
) -> None:
    """Feed account events to `emit`; after every (re)connect re-sync over REST, then set `ready`."""

    async def session(ws: trio_websocket.WebSocketConnection) -> str:
        core.seq.reset()
        # No subscribe frame on v1: an accepted upgrade (with the API key) is the subscription.
        state.subscribed = True
        outcome = ["closed"]
        async with trio.open_nursery() as nursery:

            def stop(why: str) -> None:
                outcome[0] = why
                nursery.cancel_scope.cancel()

            async def do_resync() -> None:
                try:
                    await resync()
                except VenueError as exc:
                    stop(f"resync failed: {exc}")
                    return
                ready.value = True
                backoff.reset()
                logger.debug("account_resynced venue=extended")

            async def heartbeat() -> None:
                while True:
                    await trio.sleep(ping_interval_s)
                    with trio.move_on_after(ping_timeout_s) as scope:
                        try:
                            await ws.ping(rng.getrandbits(64).to_bytes(8, "big"))
                        except trio_websocket.ConnectionClosed:
                            stop("closed during ping")
                            return
                    if scope.cancelled_caught:
                        stop("pong timeout")
                        return

            nursery.start_soon(do_resync)
            nursery.start_soon(heartbeat)
            while True:
                message = await _receive(ws, None)
                if message is None:
                    stop("closed")
                    break
                state.last_message_at = received = trio.current_time()
                events, gap = core.handle(message)
                # The hedge latency clock of a fill starts when its frame was read off the socket.
                events = [replace(e, received_at=received) if isinstance(e, OrderUpdate | Trade) else e
                          for e in events]
                if gap:
                    stop(f"seq gap after {core.seq.last}")
                    break
                if events:
                    # Shielded: the tracker has already counted these as seen, so
                    # they must reach the ledger even if the connection is being torn down.
                    with trio.CancelScope(shield=True):
                        await emit(events)
        return outcome[0]

    while True:
        reason = await _connection("account", url, headers, connect, state, session)
        ready.value = False
        state.stats.reconnects += 1
        delay = backoff.next()
        logger.warning("stream_down venue=extended stream=account reason={} retry_in_s={:.2f}", reason, delay)
        await trio.sleep(delay)
