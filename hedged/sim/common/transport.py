"""Plumbing shared by every venue simulator: handler protocols, in-memory and socket access.

A simulator implements two small protocols:

* `RestHandler.handle(req: SimRequest) -> SimResponse` for HTTP.
* `WsHandler.serve_ws(path, query, headers, conn)` for one accepted WebSocket
  (`conn` is a real `trio_websocket.WebSocketConnection`). Optionally
  `WsHandler.ws_reject(path, query, headers) -> int | None` returns an HTTP status to refuse
  the upgrade with (401, 404, ...), before `serve_ws` is called.

The same handlers are then reachable two ways:

* In memory, for deterministic tests under `MockClock(autojump_threshold=0)`:
  `httpx.AsyncClient(transport=MemoryHttpTransport(sim), base_url=...)` and
  `async with MemoryWsConnector(sim)(url, headers) as conn:` (also accepts
  `extra_headers=[(b"User-Agent", b"...")]` like `trio_websocket.open_websocket_url`).
  Host and scheme of the URLs are ignored; only path and query reach the handlers.
* On a socket: `server = await nursery.start(serve_tcp, sim, sim)` serves HTTP and
  WebSocket on one `127.0.0.1` port (0 = ephemeral); `server.port`, `server.http_url(path)` and
  `server.ws_url(path)` give the bound addresses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import h11
import httpx
import trio
import trio.testing
import trio_websocket
from loguru import logger

Query = Mapping[str, list[str]]
"""Query string as a multi-dict: every name maps to all its values, in order."""


@dataclass(frozen=True, slots=True)
class SimRequest:
    method: str  # upper case
    path: str  # URL path without the query, e.g. "/api/v1/user/orders/12"
    query: Query
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        """First value of query parameter `name`, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, ()))


@dataclass(frozen=True, slots=True)
class SimResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


class RestHandler(Protocol):
    async def handle(self, req: SimRequest) -> SimResponse: ...


class WsHandler(Protocol):
    async def serve_ws(
        self, path: str, query: Query, headers: Mapping[str, str], conn: trio_websocket.WebSocketConnection
    ) -> None: ...


def split_target(target: str) -> tuple[str, Query]:
    """'/a/b?x=1&x=2' -> ('/a/b', {'x': ['1', '2']})."""
    parts = urlsplit(target)
    return parts.path or "/", parse_qs(parts.query, keep_blank_values=True)


def _lower_headers(pairs: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in pairs:
        k = k.decode("latin-1") if isinstance(k, bytes) else str(k)
        v = v.decode("latin-1") if isinstance(v, bytes) else str(v)
        out[k.lower()] = v
    return out


# ---------------------------------------------------------------- in memory: HTTP


class MemoryHttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that calls `handler.handle()` directly: no sockets, no kernel, no clock jumps.

    httpx's own timeouts are not applied by custom transports; clients must bound requests with
    Trio deadlines (they do anyway). A simulated TIMEOUT fault therefore hangs until cancelled.
    """

    def __init__(self, handler: RestHandler) -> None:
        self._handler = handler

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        req = SimRequest(
            method=request.method.upper(),
            path=request.url.path,
            query=parse_qs(request.url.query.decode("ascii"), keep_blank_values=True),
            headers=_lower_headers(request.headers.raw),
            body=body,
        )
        resp = await self._handler.handle(req)
        return httpx.Response(resp.status, headers=dict(resp.headers), content=resp.body, request=request)


# ---------------------------------------------------------------- WebSocket serving (shared)


async def _keepalive(conn: trio_websocket.WebSocketConnection, interval: float, timeout: float) -> None:
    """Protocol pings every `interval` s; drop the client if a pong takes longer than `timeout` s."""
    while True:
        await trio.sleep(interval)
        with trio.move_on_after(timeout) as scope:
            await conn.ping()
        if scope.cancelled_caught:
            logger.info("sim_ws_pong_timeout path={}", conn.path)
            await conn.aclose(code=1011, reason="pong timeout")
            return


async def serve_ws_stream(
    handler: WsHandler,
    stream: trio.abc.Stream,
    *,
    ping_interval: float | None = None,
    pong_timeout: float = 10.0,
) -> None:
    """Run the server side of one WebSocket on `stream`: handshake, optional reject, serve_ws."""
    try:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            path, query = split_target(request.path)
            headers = _lower_headers(request.headers)
            reject = getattr(handler, "ws_reject", None)
            status = reject(path, query, headers) if reject is not None else None
            if status is not None:
                await request.reject(status)
                nursery.cancel_scope.cancel()
                return
            conn = await request.accept()
            if ping_interval:
                nursery.start_soon(_keepalive, conn, ping_interval, pong_timeout)
            try:
                await handler.serve_ws(path, query, headers, conn)
            except trio_websocket.ConnectionClosed:
                pass
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await conn.aclose()
            nursery.cancel_scope.cancel()
    except* (trio.BrokenResourceError, trio.ClosedResourceError, trio_websocket.ConnectionClosed):
        pass  # the client went away; nothing to serve any more


class MemoryWsConnector:
    """`connect_ws(url, headers)`: an in-memory WebSocket to `handler`, as an async context manager.

    Shape-compatible with `trio_websocket.open_websocket_url(url, extra_headers=...)`; `headers`
    may be a mapping or a list of (name, value) pairs, str or bytes. A refused upgrade raises
    `trio_websocket.ConnectionRejected` exactly like a real server would.
    """

    def __init__(self, handler: WsHandler, *, ping_interval: float | None = None, pong_timeout: float = 10.0) -> None:
        self._handler = handler
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout

    @asynccontextmanager
    async def __call__(
        self,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[Any, Any]] | None = None,
        *,
        extra_headers: Iterable[tuple[Any, Any]] | None = None,
        **_ignored: Any,
    ) -> AsyncIterator[trio_websocket.WebSocketConnection]:
        pairs: list[tuple[bytes, bytes]] = []
        for source in (headers, extra_headers):
            items = source.items() if isinstance(source, Mapping) else (source or ())
            for k, v in items:
                pairs.append((k if isinstance(k, bytes) else str(k).encode(), v if isinstance(v, bytes) else str(v).encode()))
        parts = urlsplit(url)
        resource = parts.path or "/"
        if parts.query:
            resource += "?" + parts.query
        client_stream, server_stream = trio.testing.memory_stream_pair()
        try:
            async with self._open(client_stream, server_stream, parts.hostname or "sim", resource, pairs) as conn:
                yield conn
        except BaseExceptionGroup as group:
            # Like open_websocket_url: surface a single error (e.g. ConnectionRejected) unwrapped.
            errors = [e for e in group.exceptions if not isinstance(e, trio.Cancelled)]
            if len(errors) == 1:
                raise errors[0] from None
            raise

    @asynccontextmanager
    async def _open(
        self,
        client_stream: trio.abc.Stream,
        server_stream: trio.abc.Stream,
        host: str,
        resource: str,
        pairs: list[tuple[bytes, bytes]],
    ) -> AsyncIterator[trio_websocket.WebSocketConnection]:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: serve_ws_stream(
                    self._handler, server_stream, ping_interval=self._ping_interval, pong_timeout=self._pong_timeout
                )
            )
            conn = await trio_websocket.wrap_client_stream(nursery, client_stream, host, resource, extra_headers=pairs)
            try:
                yield conn
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await conn.aclose()
                nursery.cancel_scope.cancel()


# ---------------------------------------------------------------- sockets: HTTP + WS on one port


class _PrefixedStream(trio.abc.Stream):
    """Replays bytes already read (the HTTP head) before reading from the real stream."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        self._inner, self._prefix = inner, prefix

    @property
    def inner_stream(self) -> trio.abc.Stream:
        """The wrapped stream (frames.send_texts writes to its socket directly when it can)."""
        return self._inner

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            out, self._prefix = self._prefix, b""
            await trio.lowlevel.checkpoint()
            return out
        return await self._inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(slots=True)
class SocketServer:
    """Where `serve_tcp` listens."""

    host: str
    port: int

    def http_url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def ws_url(self, path: str = "") -> str:
        return f"ws://{self.host}:{self.port}{path}"


async def _serve_http(rest: RestHandler, stream: trio.abc.Stream, head: bytes) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(head)
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
            continue
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return
        if not isinstance(event, h11.Request):
            return
        body = bytearray()
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                break
            else:
                return
        path, query = split_target(event.target.decode("latin-1"))
        req = SimRequest(event.method.decode().upper(), path, query, _lower_headers(event.headers), bytes(body))
        resp = await rest.handle(req)
        hdrs = [(k.encode(), v.encode()) for k, v in resp.headers.items()]
        hdrs.append((b"content-length", str(len(resp.body)).encode()))
        out = conn.send(h11.Response(status_code=resp.status, headers=hdrs))
        out += conn.send(h11.Data(data=resp.body)) if resp.body else b""
        out += conn.send(h11.EndOfMessage())
        await stream.send_all(out)
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            return
        conn.start_next_cycle()


async def serve_tcp(
    rest: RestHandler | None,
    ws: WsHandler | None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ping_interval: float | None = None,
    pong_timeout: float = 10.0,
    task_status: trio.TaskStatus[SocketServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve HTTP (h11, keep-alive) and WebSocket upgrades on one port until cancelled.

    Use with `nursery.start(...)`; the started value is a `SocketServer` with the bound port.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]

    async def on_connection(stream: trio.SocketStream) -> None:
        try:
            head = bytearray()
            while b"\r\n\r\n" not in head:
                data = await stream.receive_some(65536)
                if not data:
                    return
                head += data
            upgrade = b"upgrade: websocket" in bytes(head).lower()
            if upgrade and ws is not None:
                await serve_ws_stream(
                    ws, _PrefixedStream(stream, bytes(head)), ping_interval=ping_interval, pong_timeout=pong_timeout
                )
            elif rest is not None:
                await _serve_http(rest, stream, bytes(head))
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            pass
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    logger.debug("sim_listening host={} port={}", host, bound)
    task_status.started(SocketServer(host, bound))
    await trio.serve_listeners(on_connection, listeners)
