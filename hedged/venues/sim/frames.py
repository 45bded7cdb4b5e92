"""Outgoing stream frames through the fault plan: one `FrameWriter` per WebSocket connection.

The writer owns the connection's sequence counter. Callers pass the frame type and a
`render(seq) -> str` function, so a SEQ_GAP fault can bump the number before the frame is
built; venues whose frames carry no counter just ignore the argument.
"""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio_websocket
from loguru import logger

from hedged.venues.sim.faults import FaultKind, FaultPlan


class FrameWriter:
    def __init__(self, conn: trio_websocket.WebSocketConnection, plan: FaultPlan | None, stream: str) -> None:
        self.conn = conn
        self.plan = plan
        self.stream = stream
        self.seq = 0
        self.frozen = False
        self.sent = 0
        self._held: str | None = None

    async def send(self, frame_type: str, render: Callable[[int], str]) -> None:
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
        if kind is FaultKind.DELAY:
            await trio.sleep(fault.delay or 0.0)  # type: ignore[union-attr]
        elif kind is FaultKind.REORDER and self._held is None:
            self._held = text
            await trio.lowlevel.checkpoint()
            return
        await self.conn.send_message(text)
        self.sent += 1
        if kind is FaultKind.DUPLICATE:
            await self.conn.send_message(text)
            self.sent += 1
        if self._held is not None:
            held, self._held = self._held, None
            await self.conn.send_message(held)
            self.sent += 1
        if kind is FaultKind.CLOSE_AFTER:
            await self._close()

    async def _close(self) -> None:
        await self.conn.aclose(code=1011, reason="simulated disconnect")
        raise trio_websocket.ConnectionClosed(None)
