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

Both streams run on the shared session skeleton (`hedged.venues.session.Session`: connect -> subscribe ->
re-sync -> ready -> backoff -> reconnect); the classes here are their hooks. The book stream is ready at
its first applied SNAPSHOT; the account stream (no subscribe frame on v1: the accepted upgrade is the
subscription) once open orders and positions are re-synced.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

import trio
import trio_websocket
from loguru import logger
from trio_util import AsyncValue

from hedged.backoff import Retries
from hedged.venues.wsclient import open_ws
from hedged.venues.base import OrderUpdate, StreamHealth, StreamStats, Trade, VenueEvent
from hedged.venues.extended import wire
from hedged.venues.extended.account import AccountCore, OrderTracker, SeqCheck, TradeDedup
from hedged.venues.extended.book import BookFeed, BookResult, same_top
from hedged.venues.session import Hooks, Reconnect, Session, SessionConfig, SessionLog

__all__ = [
    "AccountCore", "AccountStream", "BookStream", "OrderTracker", "SeqCheck", "StreamStats", "TradeDedup",
    "WsConnect", "default_ws_connect",
]  # fmt: skip


WsConnect = Callable[[str, list[tuple[bytes, bytes]]], AbstractAsyncContextManager[trio_websocket.WebSocketConnection]]


def default_ws_connect(url: str, headers: list[tuple[bytes, bytes]]):
    return open_ws(url, headers, connect_timeout=10, disconnect_timeout=2)


def _log(stream: str) -> SessionLog:
    return SessionLog(down=f"stream_down venue=extended stream={stream} reason={{reason}} retry_in_s={{delay:.2f}}",
                      connected=f"stream_connected venue=extended stream={stream}")


class _Stream(Hooks):
    """What both streams share: counters, the `subscribed` flag, and the session that runs them."""

    session: Session

    def __init__(self) -> None:
        self.stats = StreamStats()
        self.subscribed = False

    async def run(self) -> None:
        await self.session.run()

    def health(self, now: float) -> StreamHealth:
        last = self.session.last_message_at
        age = None if last is None else max(0.0, now - last)
        return StreamHealth(connected=self.session.connected, subscribed=self.subscribed, last_message_age_s=age)

    def down(self) -> None:
        self.subscribed = False


class BookStream(_Stream):
    """Keeps `top` current from the full-depth book stream; ready at the first applied frame."""

    def __init__(self, cfg: SessionConfig, *, connect: WsConnect, feed: BookFeed, top: AsyncValue,
                 backoff: Callable[[], Retries]) -> None:
        super().__init__()
        self.feed, self.top = feed, top
        self._live = trio.Event()
        self.session = Session(cfg, self, connect=connect, backoff=backoff, log=_log("book"), stats=self.stats)

    async def opened(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.feed.reset()
        self._live = trio.Event()

    async def subscribe(self, ws: trio_websocket.WebSocketConnection) -> None:
        await self._live.wait()

    def down(self) -> None:
        super().down()
        self.feed.reset()
        self.top.value = None  # a book we cannot keep current must not be quoted against

    async def on_message(self, ws: trio_websocket.WebSocketConnection, raw: str | bytes) -> None:
        now, feed, stats = trio.current_time(), self.feed, self.stats
        stats.messages += 1
        try:
            result = feed.apply(wire.decode_frame(raw))
        except wire.WireError as exc:
            stats.malformed += 1
            logger.warning("book_malformed venue=extended error={}", exc)
            return
        if result is BookResult.GAP:
            stats.gaps += 1
            raise Reconnect(f"seq gap after {feed.last_seq}")
        if result is BookResult.CROSSED:
            # Never quoted or priced against: withdrawn now, not after the socket has closed.
            stats.crossed += 1
            self.subscribed = False  # stale in health() from this instant, not once the socket closed
            self.top.value = None
            bid, ask = feed.book.best_bid(), feed.book.best_ask()
            logger.warning("book_crossed venue=extended bid={} ask={} action=reconnect",
                           bid[0] if bid else None, ask[0] if ask else None)
            raise Reconnect("crossed book")
        if result is BookResult.DUPLICATE:
            stats.duplicates += 1
        elif result is BookResult.APPLIED:
            if not self.subscribed:
                self.subscribed = True
                self._live.set()
            new_top = feed.top(now)
            if not same_top(self.top.value, new_top):
                self.top.value = new_top


class AccountStream(_Stream):
    """Feeds account events to `emit`; after every (re)connect re-syncs over REST, then `ready`."""

    def __init__(self, cfg: SessionConfig, *, connect: WsConnect, market: str, tracker: OrderTracker,
                 backoff: Callable[[], Retries], resync: Callable[[], Awaitable[None]], ready: AsyncValue[bool],
                 emit: Callable[[list[VenueEvent]], Awaitable[None]], rng: random.Random) -> None:
        super().__init__()
        self.core = AccountCore(market, tracker, self.stats,
                                on_malformed=lambda why: logger.warning("account_malformed venue=extended error={}", why))
        self._resync, self._emit, self._rng = resync, emit, rng
        log = dataclasses.replace(_log("account"), ready="account_resynced venue=extended", ready_level="DEBUG")
        self.session = Session(cfg, self, connect=connect, backoff=backoff, ready=ready, stats=self.stats, log=log)

    async def opened(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.core.seq.reset()
        # No subscribe frame on v1: an accepted upgrade (with the API key) is the subscription.
        self.subscribed = True

    async def resync(self) -> None:
        await self._resync()

    async def ping_payload(self, ws: trio_websocket.WebSocketConnection) -> bytes:
        return self._rng.getrandbits(64).to_bytes(8, "big")

    async def on_message(self, ws: trio_websocket.WebSocketConnection, raw: str | bytes) -> None:
        received = self.session.last_message_at
        events, gap = self.core.handle(raw)
        # The hedge latency clock of a fill starts when its frame was read off the socket.
        events = [replace(e, received_at=received) if isinstance(e, OrderUpdate | Trade) else e for e in events]
        if gap:
            raise Reconnect(f"seq gap after {self.core.seq.last}")
        if events:
            await self._emit(events)  # all of them, even during a teardown (ExtendedClient._emit)
