"""One WebSocket session skeleton for every venue stream: connect -> subscribe -> re-sync -> ready -> backoff -> reconnect.

A venue supplies only its hooks (`Hooks`): what to do once the socket is open, what to subscribe,
how to re-sync, how to take a frame, what to run while ready, what to forget when the session ends.

| step | the skeleton | the venue's hooks |
|---|---|---|
| connect | `connect(url, headers)`; the whole setup, up to ready, within `setup_timeout_s` (None: no bound) | `opened(ws)`: a greeting to wait for, per-session state to reset |
| subscribe | the reader (and keepalive) already run | `subscribe(ws)`: send the subscriptions, return once they are confirmed |
| re-sync | a `VenueError` ends the session | `resync()`: read over REST what the gap hid |
| ready | `ready` True, backoff reset, `task_status.started()` after the first | `serve(ws)`: what runs while the session lasts (Lighter: the token watch) |
| every frame | `last_message_at`; none for `idle_timeout_s`: reconnect | `on_message(ws, raw)`; raise `Reconnect(why)` to end the session |
| keepalive | every `ping_interval_s` a protocol ping; no pong in `pong_timeout_s`: reconnect | `ping_payload(ws)`: its payload (and any application ping) |
| down | `ready` False, `connected` False, `reconnects` += 1 | `down()`: drop what the session knew |
| backoff | sleep `backoff.next()`, connect again | the `ReconnectDelays` (injected, a `hedged.backoff.Retries`: each venue keeps its schedule) |

A mid-session re-sync (Lighter's token refresh) is `not_ready()`, then `resync_then_ready(after=...)`.
Log lines keep each venue's event names (`SessionLog`): operators, docs and DST read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import trio
import trio_websocket
from loguru import logger
from trio_util import AsyncValue

from hedged.venues.base import StreamStats, VenueError

Ws = trio_websocket.WebSocketConnection
Connect = Callable[[str, Any], AbstractAsyncContextManager[Ws]]


class Reconnect(Exception):
    """Raised by a hook (or the skeleton): end this session, say why, connect again after the backoff."""


SESSION_ENDS = (
    Reconnect,
    OSError,
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


class ReconnectDelays(Protocol):
    def next(self) -> float:
        """Seconds to wait before the next connect (a session just ended)."""
        ...

    def reset(self) -> None:
        """A session became ready."""
        ...


@dataclass(frozen=True, slots=True)
class SessionLog:
    """A venue's event names: `str.format` templates of `session`, `reason`, `attempt`, `delay` and `after`
    (formatted here, so no field lands in a log record's extras)."""

    down: str  # WARNING, once per ended session
    ready: str | None = None
    ready_level: str = "INFO"
    connected: str | None = None  # DEBUG


@dataclass(frozen=True, slots=True)
class SessionConfig:
    url: str
    headers: Any = ()  # as the venue's `connect` takes them
    setup_timeout_s: float | None = None  # connect .. ready
    idle_timeout_s: float | None = None  # no frame at all for this long = frozen feed
    ping_interval_s: float | None = None  # None: no keepalive task
    pong_timeout_s: float = 10.0


class Hooks:
    """What a venue stream supplies to its `Session` (override what it needs; these are the defaults)."""

    async def opened(self, ws: Ws) -> None:
        pass

    async def subscribe(self, ws: Ws) -> None:
        pass

    async def resync(self) -> None:
        pass

    async def serve(self, ws: Ws) -> None:
        await trio.sleep_forever()

    async def on_message(self, ws: Ws, raw: str | bytes) -> None:
        raise NotImplementedError

    async def ping_payload(self, ws: Ws) -> bytes | None:
        return None

    def down(self) -> None:
        pass


def why(group: BaseExceptionGroup) -> str:
    first = group.exceptions[0]
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return (str(first) if isinstance(first, Reconnect) else f"{type(first).__name__}: {first}")[:200]


class Session:
    """Keeps one venue stream's sessions up forever. Written only by its own task (and its hooks)."""

    def __init__(self, cfg: SessionConfig, hooks: Hooks, *, connect: Connect,
                 backoff: Callable[[], ReconnectDelays], log: SessionLog, ready: AsyncValue[bool] | None = None,
                 stats: StreamStats | None = None) -> None:
        self.cfg = cfg
        self._hooks = hooks
        self._connect = connect
        self._new_backoff = backoff  # a fresh schedule for every run()
        self._backoff = backoff()
        self._log = log
        # Given by the client: one object across its runs, so a watcher of its False -> True edges (the
        # reconciler) still sees re-syncs after a restart of the service.
        self.ready: AsyncValue[bool] = ready if ready is not None else AsyncValue(False)
        self.ready.value = False
        self.connected = False
        self.last_message_at: float | None = None  # any frame of this socket
        self.stats = stats if stats is not None else StreamStats()  # the skeleton counts `reconnects`
        self.sessions = 0
        self._became_ready = False
        self._started: Callable[[], None] | None = None

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Keep a session up forever; `task_status.started()` once the first session is ready."""
        self._backoff = self._new_backoff()
        self._started = task_status.started
        attempt = 0  # sessions in a row that never became ready
        while True:
            self._became_ready = False
            reason = "closed"
            try:
                await self._session()
            except* SESSION_ENDS as group:
                reason = why(group)
            finally:
                self._down()
            self.stats.reconnects += 1
            delay = self._backoff.next()
            logger.warning(self._log.down.format(session=self.sessions, reason=reason, attempt=attempt, delay=delay))
            attempt = 0 if self._became_ready else attempt + 1
            await trio.sleep(delay)

    @property
    def reconnects(self) -> int:
        return self.stats.reconnects

    def not_ready(self) -> None:
        self.ready.value = False

    async def resync_then_ready(self, *, after: str | None = None) -> None:
        """The venue's re-sync, then ready. A refused re-sync ends the session (the next one re-syncs)."""
        try:
            await self._hooks.resync()
        except VenueError as exc:
            raise Reconnect(f"resync{f' after {after}' if after else ''} failed: {exc}") from None
        self.ready.value = True
        self._became_ready = True
        self._backoff.reset()
        if self._log.ready is not None:
            logger.log(self._log.ready_level, self._log.ready.format(session=self.sessions,
                                                                     after=f" after={after}" if after else ""))

    async def _session(self) -> None:
        self.sessions += 1
        cfg = self.cfg
        bound = math.inf if cfg.setup_timeout_s is None else trio.current_time() + cfg.setup_timeout_s
        with trio.CancelScope(deadline=bound) as setup:
            async with self._connect(cfg.url, cfg.headers) as ws:
                await self._hooks.opened(ws)
                self.connected = True
                if self._log.connected is not None:
                    logger.debug(self._log.connected.format(session=self.sessions))
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader, ws)
                    if cfg.ping_interval_s is not None:
                        nursery.start_soon(self._keepalive, ws, cfg.ping_interval_s)
                    await self._hooks.subscribe(ws)
                    await self.resync_then_ready()
                    setup.deadline = math.inf  # set up in time: from here the session runs until it breaks
                    self._on_first_ready()
                    await self._hooks.serve(ws)
        if setup.cancelled_caught:
            raise Reconnect("session setup timed out")

    def _on_first_ready(self) -> None:
        if self._started is not None:
            started, self._started = self._started, None
            started()

    def _down(self) -> None:
        self.ready.value = False
        self.connected = False
        self._hooks.down()

    async def _reader(self, ws: Ws) -> None:
        idle = self.cfg.idle_timeout_s
        while True:
            with trio.move_on_after(math.inf if idle is None else idle):
                raw = await ws.get_message()
                self.last_message_at = trio.current_time()
                await self._hooks.on_message(ws, raw)
                continue
            raise Reconnect("idle feed")

    async def _keepalive(self, ws: Ws, interval_s: float) -> None:
        while True:
            await trio.sleep(interval_s)
            payload = await self._hooks.ping_payload(ws)
            with trio.move_on_after(self.cfg.pong_timeout_s) as scope:
                await ws.ping(payload)
            if scope.cancelled_caught:
                raise Reconnect("pong timeout")
