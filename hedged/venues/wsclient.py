"""Opening a client WebSocket with trio-websocket, without leaking its socket.

trio-websocket 0.12 never closes the TCP stream of a client connection that the *server*
closed (an abrupt EOF, or a close frame answered by the client): the connection records
its close reason, and `aclose()` then returns early, so the socket lives on until garbage
collection. A venue that drops the stream every few hours would leak one descriptor per
reconnect. `open_ws` closes the stream itself once trio-websocket is done with it (closing
a trio stream twice is harmless). Found by tests/test_daemon_e2e.py under stream faults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio_websocket


@asynccontextmanager
async def open_ws(url: str, headers: list[tuple[bytes, bytes]], **options) -> AsyncIterator[
        trio_websocket.WebSocketConnection]:
    """`trio_websocket.open_websocket_url(url, extra_headers=headers, **options)`, socket closed on exit."""
    conn: trio_websocket.WebSocketConnection | None = None
    try:
        async with trio_websocket.open_websocket_url(url, extra_headers=headers, **options) as conn:
            yield conn
    finally:
        stream = getattr(conn, "_stream", None)  # private: there is no public handle on it
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()
