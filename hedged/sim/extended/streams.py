"""WebSocket v1 side of the Extended simulator: `/orderbooks/{market}[?depth=1]` and `/account`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import trio
import trio_websocket

from hedged.sim.extended import wire
from hedged.sim.extended.engine import AccountMsg
from hedged.sim.common.frames import FrameWriter
from hedged.sim.common.transport import Query

if TYPE_CHECKING:
    from hedged.sim.extended.host import ExtendedHost

ACCOUNT_QUEUE = 10_000  # messages buffered per account connection before the sim drops a slow client


def ws_reject(sim: ExtendedHost, path: str, query: Query, headers: Mapping[str, str]) -> int | None:
    s = sim.settings
    if not path.startswith(s.ws_prefix + "/"):
        return 404
    rel = path[len(s.ws_prefix) :]
    if s.require_user_agent and not headers.get("user-agent"):
        return 400
    if rel == "/account":
        return None if headers.get("x-api-key") == sim.keys.api_key else 401
    if rel == "/orderbooks" or rel == f"/orderbooks/{s.market}":
        return None
    return 404


async def serve_ws(
    sim: ExtendedHost, path: str, query: Query, headers: Mapping[str, str], conn: trio_websocket.WebSocketConnection
) -> None:
    rel = path[len(sim.settings.ws_prefix) :]
    if rel == "/account":
        await _serve_account(sim, conn)
    else:
        await _serve_book(sim, conn, depth1=query.get("depth", [""])[0] == "1")


# ---------------------------------------------------------------- order book


def _plain(x: Decimal) -> str:
    """Same text as wire.dec (never exponent notation), cheaper in the common case: book prices and
    sizes are multiples of tick/step, which str() already prints plainly. This runs for every number
    of every book frame."""
    text = str(x)
    return text if "E" not in text else format(x, "f")


def _snapshot(market: str, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]) -> dict[str, Any]:
    return {"m": market, "b": _full_levels(bids), "a": _full_levels(asks)}


def _full_levels(levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
    out = []
    for p, q in levels:
        qs = _plain(q)
        out.append({"p": _plain(p), "q": qs, "c": qs})
    return out


def _diff(old: dict[Decimal, Decimal], new: list[tuple[Decimal, Decimal]], descending: bool) -> list[dict[str, str]]:
    """DELTA levels, best first: `q` = size change, `c` = resulting size (0 removes the level)."""
    changed = []
    for p, q in new:
        before = old.get(p, _ZERO)
        if before != q:
            changed.append((p, q - before, q))
    if len(old) != len(new) or any(p not in old for p, _, _ in changed):
        # Price levels came or went (the book moved): add the removed ones and restore price order.
        present = {p for p, _ in new}
        changed += [(p, -before, _ZERO) for p, before in old.items() if before and p not in present]
        changed.sort(key=itemgetter(0), reverse=descending)
    return [{"p": _plain(p), "q": _plain(d), "c": _plain(c)} for p, d, c in changed]


_ZERO = Decimal(0)


async def _serve_book(sim: ExtendedHost, conn: trio_websocket.WebSocketConnection, *, depth1: bool) -> None:
    s = sim.settings
    market = s.market
    book = sim.book
    writer = FrameWriter(conn, sim.faults, f"orderbooks/{market}" + ("?depth=1" if depth1 else ""))
    sim.book_connections += 1
    try:
        seen = -1
        last_bids: dict[Decimal, Decimal] = {}
        last_asks: dict[Decimal, Decimal] = {}
        next_snapshot = -math.inf
        crossings = sim.crossings
        while True:
            if book.version == seen and sim.crossings == crossings:
                await sim.wait_book_change()
            if sim.crossings != crossings and last_asks and not depth1:
                # Fault knob: one DELTA that puts a bid through the best ask. It is not remembered in
                # last_bids, so later DELTAs never repair it: only a fresh SNAPSHOT (a new connection) does.
                crossings = sim.crossings
                level = {"p": _plain(min(last_asks) + s.tick), "q": _plain(s.min_size), "c": _plain(s.min_size)}
                crossing = {"m": market, "b": [level], "a": []}
                ts = sim.now_ms()
                await writer.send("DELTA", lambda seq: wire.stream_frame("DELTA", crossing, ts, seq))
                continue
            crossings = sim.crossings
            seen = book.version
            bids, asks = (book.bids[:1], book.asks[:1]) if depth1 else (list(book.bids), list(book.asks))
            ts = sim.now_ms()
            now = trio.current_time()
            if depth1 or now >= next_snapshot:
                data = _snapshot(market, bids, asks)
                await writer.send("SNAPSHOT", lambda seq: wire.stream_frame("SNAPSHOT", data, ts, seq))
                next_snapshot = now + s.book_snapshot_interval
            else:
                delta = {"m": market, "b": _diff(last_bids, bids, True), "a": _diff(last_asks, asks, False)}
                if delta["b"] or delta["a"]:
                    await writer.send("DELTA", lambda seq: wire.stream_frame("DELTA", delta, ts, seq))
            last_bids, last_asks = dict(bids), dict(asks)
            sim.book_frames_sent += 1
    finally:
        sim.book_connections -= 1


# ---------------------------------------------------------------- account


async def _serve_account(sim: ExtendedHost, conn: trio_websocket.WebSocketConnection) -> None:
    writer = FrameWriter(conn, sim.faults, "account")
    send_channel, receive_channel = trio.open_memory_channel[AccountMsg](ACCOUNT_QUEUE)
    # Snapshot and subscription in the same step (no checkpoint between): no update lost or doubled.
    initial = sim.engine.initial_messages(sim.now_ms())
    sim.account_subscribers.add(send_channel)
    try:
        async with receive_channel:
            for msg in initial:
                await _send_account(sim, writer, msg)
            async for msg in receive_channel:
                await _send_account(sim, writer, msg)
    finally:
        sim.account_subscribers.discard(send_channel)


async def _send_account(sim: ExtendedHost, writer: FrameWriter, msg: AccountMsg) -> None:
    ts = sim.now_ms()
    await writer.send(msg.type, lambda seq: wire.stream_frame(msg.type, msg.data, ts, seq))
    if msg.type in _STAMPED:
        _stamp(sim, msg)


_STAMPED = frozenset({"TRADE", "ORDER"})
_ENDED = frozenset({"FILLED", "CANCELLED", "EXPIRED", "REJECTED"})


def _stamp(sim: ExtendedHost, msg: AccountMsg) -> None:
    """Benchmark stamps (hedged/sim/common/stamps.py), taken once the frame is written: each
    fill, and each order that ended with something filled (the replaced design hedged then)."""
    if msg.type == "TRADE":
        for t in msg.data["trades"]:
            sim.stamps.add("fills", {"trade": t["id"], "order": t["orderId"], "side": t["side"], "qty": t["qty"],
                                     "taker": t["isTaker"]}, once=t["id"])
        return
    for o in msg.data["orders"]:
        if o["status"] in _ENDED and o["filledQty"] != "0":
            sim.stamps.add("orders", {"order": o["id"], "status": o["status"], "filled": o["filledQty"]},
                           once=o["id"])
