"""Outgoing stream frames through the fault plan: one `FrameWriter` per WebSocket connection.

The writer owns the connection's sequence counter. Callers pass the frame type and a
`render(seq) -> str` function, so a SEQ_GAP fault can bump the number before the frame is
built; venues whose frames carry no counter just ignore the argument (`render` may return str or
UTF-8 bytes).

`send_texts(conn, payloads)` is the fast path every simulator stream uses: each payload is still its
own WebSocket text message, but the frames are built here and written with one `send_all`, so a burst
of book updates costs one socket write and one scheduler pass instead of one (plus a lock) per frame.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

import trio
import trio_websocket
from loguru import logger

from hedged.sim.common.faults import FaultKind, FaultPlan


def ws_text_frames(payloads: Sequence[bytes]) -> bytes:
    """Server-to-client text frames (FIN, opcode 1, unmasked), one per payload, concatenated.

    Servers never mask (RFC 6455 5.1) and the simulators never negotiate permessage-deflate, so
    this is exactly what wsproto would have produced for each `TextMessage`.
    """
    out = bytearray()
    for p in payloads:
        n = len(p)
        if n < 126:
            out += bytes((0x81, n))
        elif n < 65536:
            out += b"\x81\x7e" + n.to_bytes(2, "big")
        else:
            out += b"\x81\x7f" + n.to_bytes(8, "big")
        out += p
    return bytes(out)


_FAST_PATH_ATTRS = ("_stream", "_stream_lock", "_close_reason", "_abort_web_socket")


def _fast_path_ok(conn: trio_websocket.WebSocketConnection) -> bool:
    # The fast path writes to trio-websocket's stream under its own send lock (version pinned in
    # requirements.lock); anything unexpected, or a client-side connection (which must mask),
    # takes the library's per-message path instead.
    return not conn.is_client and all(hasattr(conn, a) for a in _FAST_PATH_ATTRS)


def _raw_socket(stream: object) -> socket.socket | None:
    inner = getattr(stream, "inner_stream", stream)
    if isinstance(inner, trio.SocketStream):
        return getattr(inner.socket, "_sock", None)  # trio's wrapped stdlib socket (non-blocking)
    return None


async def send_texts(conn: trio_websocket.WebSocketConnection, payloads: Sequence[bytes]) -> None:
    """Send each UTF-8 payload as one text message, in order, with a single socket write.

    On a TCP socket whose kernel buffer takes the whole write at once (the usual case) this returns
    without a scheduler pass: a book stream then costs one pass per update (its wait for the next
    change), not two. Only when the kernel buffer is full does it fall back to `send_all`, which
    waits. So callers must wait on something else between calls (they all wait for their next frame).
    Raises `trio_websocket.ConnectionClosed` like `send_message` when the connection is closed.
    """
    if not payloads:
        return
    if not _fast_path_ok(conn):
        for p in payloads:
            await conn.send_message(p.decode())
        return
    if conn._close_reason:  # noqa: SLF001
        raise trio_websocket.ConnectionClosed(conn._close_reason)  # noqa: SLF001
    data = ws_text_frames(payloads)
    lock = conn._stream_lock  # noqa: SLF001 - shared with the library's own pongs and close frames
    try:
        lock.acquire_nowait()  # uncontended (the usual case): no extra scheduler pass
    except trio.WouldBlock:
        await lock.acquire()
    try:
        raw = _raw_socket(conn._stream)  # noqa: SLF001
        if raw is not None:
            try:
                data = data[raw.send(data) :]
            except BlockingIOError:
                pass
            except OSError:
                pass  # closed or reset: send_all below raises the matching trio error
        if data:
            await conn._stream.send_all(data)  # noqa: SLF001
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        await conn._abort_web_socket()  # noqa: SLF001
        raise trio_websocket.ConnectionClosed(conn._close_reason) from None  # noqa: SLF001
    finally:
        lock.release()


class FrameWriter:
    def __init__(self, conn: trio_websocket.WebSocketConnection, plan: FaultPlan | None, stream: str) -> None:
        self.conn = conn
        self.plan = plan
        self.stream = stream
        self.seq = 0
        self.frozen = False
        self.sent = 0
        self._held: bytes | None = None

    async def send(self, frame_type: str, render: Callable[[int], str | bytes]) -> None:
        """Send one frame (or not, or twice, or later...) as the fault plan decides.

        Raises `trio_websocket.ConnectionClosed` after a CLOSE_* fault closed the connection.
        """
        if self.frozen:
            await trio.lowlevel.checkpoint()
            return
        self.seq += 1
        fault = self.plan.on_frame(self.stream, frame_type) if self.plan is not None else None
        kind = fault.kind if fault is not None else None
        if kind is not None:
            logger.info("sim_fault stream={} frame={} kind={}", self.stream, frame_type, kind)
        if kind is FaultKind.SEQ_GAP:
            self.seq += 1
        elif kind is FaultKind.DROP:
            await trio.lowlevel.checkpoint()
            return
        elif kind is FaultKind.FREEZE:
            self.frozen = True
            await trio.lowlevel.checkpoint()
            return
        elif kind is FaultKind.CLOSE_BEFORE:
            await self._close()
        text = render(self.seq)
        if isinstance(text, str):
            text = text.encode()
        if kind is FaultKind.DELAY:
            await trio.sleep(fault.delay or 0.0)  # type: ignore[union-attr]
        elif kind is FaultKind.REORDER and self._held is None:
            self._held = text
            await trio.lowlevel.checkpoint()
            return
        batch = [text, text] if kind is FaultKind.DUPLICATE else [text]
        if self._held is not None:
            batch.append(self._held)
            self._held = None
        await send_texts(self.conn, batch)
        self.sent += len(batch)
        if kind is FaultKind.CLOSE_AFTER:
            await self._close()

    async def _close(self) -> None:
        await self.conn.aclose(code=1011, reason="simulated disconnect")
        raise trio_websocket.ConnectionClosed(None)
