"""Lighter simulator: the /stream WebSocket (book feed, account channels, sendtx over WS, faults).

Protocol (lighter.md §6): `connected` first; client frames `subscribe`/`unsubscribe` with `/` in the
channel, `ping`, `jsonapi/sendtx`, `jsonapi/sendtxbatch`; server frames `subscribed/<name>`, `update/<name>`
with `:` in the channel, `pong`, `error`, `shutdown`. Every session has one writer task fed through a
bounded memory channel: a client that falls `ws_queue_size` frames behind is disconnected (as the venue
drops slow readers). Frame faults are looked up with stream = the subscribe form (`order_book/2`,
`account_orders/2/604118`, `jsonapi`, `control`) and frame type = the message `type`.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
import trio
import trio_websocket

from hedged.sim.lighter import money as sim_money
from hedged.sim.lighter import render
from hedged.sim.lighter.exchange import Event, FundingEvent, OrderEvent, PositionEvent, TradeEvent, TxEvent
from hedged.sim.lighter.tx import (
    ERR_AUTH,
    WS_ALREADY_SUBSCRIBED,
    WS_MALFORMED,
    WS_SUBSCRIBE_FAILED,
    TxRejected,
    parse_tx,
)
from hedged.sim.common.faults import FaultKind
from hedged.sim.common.frames import send_texts

if TYPE_CHECKING:
    from hedged.sim.lighter.host import LighterHost

_encode = msgspec.json.Encoder().encode
_PRIVATE = ("account_orders", "account_all_orders", "account_all_trades", "account_all_positions", "account_tx")
# The official SDK's WsClient subscribes to `account_all/{A}`, without a token (the venue's docs list
# none): positions, trades, funding, assets and volumes of the account in one channel.
ACCOUNT_ALL = "account_all"
_session_ids = itertools.count(1)
_BATCH = 64  # frames per socket write at most, so a writer that never runs dry still yields regularly


@dataclass(slots=True)
class _Sub:
    name: str
    account: int | None
    token_deadline: float | None


class Session:
    """One client connection."""

    def __init__(self, sim: LighterHost, conn: trio_websocket.WebSocketConnection, *, readonly: bool) -> None:
        self.sim = sim
        self.conn = conn
        self.readonly = readonly
        self.id = f"sim-{next(_session_ids)}"
        self.subs: dict[str, _Sub] = {}
        self.offset = sim.rng.randint(10_000, 900_000)
        self.frozen = False
        self.last_client_msg = trio.current_time()
        self._send, self._recv = trio.open_memory_channel[tuple[str, str, dict[str, Any]]](sim.settings.ws_queue_size)
        self._scope = trio.CancelScope()

    # ---- outgoing -------------------------------------------------------------------------------

    def _enqueue(self, stream: str, frame: dict[str, Any]) -> None:
        try:
            self._send.send_nowait((stream, frame["type"], frame))
        except trio.WouldBlock:
            self.kill()  # slow reader: the venue disconnects rather than buffer without bound

    def send_raw(self, frame: dict[str, Any], stream: str = "control") -> None:
        self._enqueue(stream, frame)

    def send_book(self, frame_type: str, body: dict[str, Any], now_ms: int) -> None:
        m = self.sim.settings.market
        self.offset += self.sim.rng.randint(1, 40)  # not contiguous, per connection
        us = now_ms * 1000
        self._enqueue(
            f"order_book/{m.market_id}",
            {"type": frame_type, "channel": f"order_book:{m.market_id}", "offset": self.offset, "last_updated_at": us,
             "timestamp": now_ms, "order_book": {**body, "offset": self.offset, "last_updated_at": us}},
        )  # fmt: skip

    def kill(self) -> None:
        self._scope.cancel()

    def close_soon(self, reason: str = "") -> None:
        """Close after the frames already queued have been sent."""
        try:
            self._send.send_nowait(("control", "__close__", {"type": "__close__", "reason": reason}))
        except trio.WouldBlock:
            self.kill()

    async def close(self, reason: str = "") -> None:
        with trio.move_on_after(1):
            await self.conn.aclose(reason=reason)
        self._scope.cancel()

    async def writer(self) -> None:
        """Send queued frames in order. Frames already queued go out together (`send_texts`: one socket
        write, still one WebSocket message per frame); a frame with a fault flushes the batch first."""
        plan = self.sim.faults
        held: tuple[str, str, dict[str, Any]] | None = None
        batch: list[bytes] = []
        conn = self.conn
        while True:
            try:
                stream, ftype, frame = self._recv.receive_nowait()
            except trio.WouldBlock:
                if batch:
                    out, batch = batch, []
                    await send_texts(conn, out)
                    continue
                stream, ftype, frame = await self._recv.receive()
            if ftype == "__close__":
                await send_texts(conn, batch)
                await self.close(frame["reason"])
                return
            fault = plan.on_frame(stream, ftype)
            if self.frozen:
                continue
            if fault is None:
                batch.append(_encode(frame))
                if held is not None:
                    batch.append(_encode(held[2]))
                    held = None
                if len(batch) >= _BATCH:
                    out, batch = batch, []
                    await send_texts(conn, out)
                continue
            await send_texts(conn, batch)
            batch = []
            if fault.kind is FaultKind.DROP:
                continue
            if fault.kind is FaultKind.REORDER and held is None:
                held = (stream, ftype, frame)
                continue
            if fault.kind is FaultKind.FREEZE:
                self.frozen = True
                continue
            if fault.kind is FaultKind.CLOSE_BEFORE:
                await self.close("fault")
                return
            if fault.kind is FaultKind.DELAY:
                await trio.sleep(fault.delay or 0)
            if fault.kind is FaultKind.SEQ_GAP:
                frame = _skip_nonce(frame)
            text = _encode(frame)
            out = [text, text] if fault.kind is FaultKind.DUPLICATE else [text]
            if held is not None:
                out.append(_encode(held[2]))
                held = None
            await send_texts(conn, out)
            if fault.kind is FaultKind.CLOSE_AFTER:
                await self.close("fault")
                return

    # ---- account events -----------------------------------------------------------------------------

    def on_events(self, events: list[Event]) -> None:
        if not self.subs:
            return
        m = self.sim.settings.market
        height = self.sim.exchange.block_height
        for ev in events:
            if isinstance(ev, OrderEvent):
                o = ev.order
                payload = {"orders": {str(o.market_id): [render.order_json(m, o, block_height=height)]}}
                self._private(f"account_orders/{o.market_id}/{o.account}", o.account, "account_orders", payload)
                self._private(f"account_all_orders/{o.account}", o.account, "account_all_orders", payload)
            elif isinstance(ev, TradeEvent):
                trade = render.trade_json(m, ev.trade, block_height=height)
                payload = {"trades": {str(ev.trade.market_id): [trade]}}
                self._private(f"account_all_trades/{ev.account}", ev.account, "account_all_trades", payload)
                self._private(f"{ACCOUNT_ALL}/{ev.account}", ev.account, ACCOUNT_ALL,
                              self._account_all(ev.account, payload["trades"]))
            elif isinstance(ev, PositionEvent):
                payload = {"positions": self._positions(ev.account), "shares": []}
                self._private(f"account_all_positions/{ev.account}", ev.account, "account_all_positions", payload)
                self._private(f"{ACCOUNT_ALL}/{ev.account}", ev.account, ACCOUNT_ALL, self._account_all(ev.account, {}))
            elif isinstance(ev, FundingEvent):
                fundings = {str(ev.funding.market_id): [sim_money.position_funding_json(m, ev.funding)]}
                self._private(f"{ACCOUNT_ALL}/{ev.account}", ev.account, ACCOUNT_ALL,
                              self._account_all(ev.account, {}, fundings))
            elif isinstance(ev, TxEvent):
                acct = ev.record.tx.account
                payload = {"txs": [self._tx(ev)]}
                self._private(f"account_tx/{acct}", acct, "account_tx", payload)

    def _tx(self, ev: TxEvent) -> dict[str, Any]:
        acct = self.sim.exchange.accounts[ev.record.tx.account]
        return render.tx_json(ev.record, l1_address=acct.l1_address, event_info=self.sim.exchange.event_info_json(ev.record))

    def _positions(self, account: int) -> dict[str, Any]:
        m = self.sim.settings.market
        pos = self.sim.exchange.position(account)
        open_count = len(self.sim.exchange.open_orders(account))
        return {str(m.market_id): render.position_json(m, pos, mark=self.sim.market_model.reference, open_orders=open_count)}

    def _account_all(self, account: int, trades: dict[str, Any], fundings: dict[str, Any] | None = None) -> dict[str, Any]:
        ex, m = self.sim.exchange, self.sim.settings.market
        mine = ex.account_trades(account)
        volume = float(sum((m.size(t.size) * m.price(t.price) for t in mine), Decimal(0)))
        return render.account_all_json(account, positions=self._positions(account), trades=trades,
                                       trade_count=len(mine), volume=volume, fundings=fundings)

    def _private(self, key: str, account: int, name: str, payload: dict[str, Any], kind: str = "update") -> None:
        sub = self.subs.get(key)
        if sub is None:
            return
        if (
            kind == "update"
            and self.sim.settings.cut_expired_subscriptions
            and sub.token_deadline is not None
            and sub.token_deadline <= self.sim.wall_clock()
        ):
            del self.subs[key]
            self._error(ERR_AUTH, "auth token expired", key)
            return
        channel = key.replace("/", ":")
        if name == "account_orders" and not self.sim.settings.account_orders_with_account:
            channel = channel.rsplit(":", 1)[0]
        frame: dict[str, Any] = {"type": f"{kind}/{name}", "channel": channel}
        if name == "account_orders":
            frame |= {"account": account, "nonce": self.sim.exchange.block_height}
        self._enqueue(key, frame | payload)

    def _error(self, code: int, message: str, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if channel is not None:
            frame["channel"] = channel
        self._enqueue("control", frame)

    # ---- incoming -----------------------------------------------------------------------------------

    async def reader(self) -> None:
        while True:
            try:
                text = await self.conn.get_message()
            except trio_websocket.ConnectionClosed:
                return
            self.last_client_msg = trio.current_time()
            try:
                msg = json.loads(text)
                kind = msg["type"]
            except (ValueError, KeyError, TypeError):
                self._error(WS_MALFORMED, "malformed message")
                continue
            if kind == "ping":
                self._enqueue("control", {"type": "pong"})
            elif kind == "pong":
                pass
            elif kind == "subscribe":
                self._subscribe(str(msg.get("channel", "")), msg.get("auth"))
            elif kind == "unsubscribe":
                channel = str(msg.get("channel", ""))
                if self.subs.pop(channel, None) is not None:
                    self._enqueue("control", {"type": "unsubscribed", "channel": channel.replace("/", ":")})
            elif kind in ("jsonapi/sendtx", "jsonapi/sendtxbatch"):
                await self._send_tx(kind, msg.get("data") or {})
            else:
                self._error(WS_MALFORMED, f"unknown message type {kind}")

    def _subscribe(self, channel: str, auth: Any) -> None:
        parts = channel.split("/")
        name, args = parts[0], parts[1:]
        m = self.sim.settings.market
        try:
            ints = [int(a) for a in args]
        except ValueError:
            ints = []
        expected = {"order_book": 1, "account_orders": 2}.get(name, 1)
        if name not in ("order_book", ACCOUNT_ALL, *_PRIVATE) or len(ints) != expected or len(args) != expected:
            self._error(WS_SUBSCRIBE_FAILED, f"invalid channel {channel}", channel)
            return
        if name in ("order_book", "account_orders") and ints[0] != m.market_id:
            self._error(WS_SUBSCRIBE_FAILED, f"unknown market {ints[0]}", channel)
            return
        if channel in self.subs:
            self._error(WS_ALREADY_SUBSCRIBED, "already subscribed", channel)
            return
        if name == "order_book":
            self.subs[channel] = _Sub(channel, None, None)
            now_ms = self.sim.now_ms()
            self.send_book("subscribed/order_book", self.sim.feed.snapshot(), now_ms)
            return
        if name == ACCOUNT_ALL:
            if ints[0] not in self.sim.exchange.accounts:
                self._error(WS_SUBSCRIBE_FAILED, f"unknown account {ints[0]}", channel)
                return
            self.subs[channel] = _Sub(channel, ints[0], None)
            history = [sim_money.position_funding_json(m, f) for f in self.sim.exchange.account_fundings(ints[0])]
            snapshot = self._account_all(ints[0], {}, {str(m.market_id): history} if history else {})
            self._private(channel, ints[0], name, snapshot, kind="subscribed")
            return
        account = ints[-1]
        try:
            if self.readonly:
                raise TxRejected(ERR_AUTH, "read-only connection")
            self.sim.check_token(auth if isinstance(auth, str) else None, account)
        except TxRejected as exc:
            self._error(exc.code, exc.message, channel)
            return
        self.subs[channel] = _Sub(channel, account, float(auth.split(":")[0]))
        self._private(channel, account, name, self._snapshot(name, account), kind="subscribed")

    def _snapshot(self, name: str, account: int) -> dict[str, Any]:
        ex, m = self.sim.exchange, self.sim.settings.market
        if name in ("account_orders", "account_all_orders"):
            orders = [render.order_json(m, o, block_height=ex.block_height) for o in ex.open_orders(account)]
            return {"orders": {str(m.market_id): orders}}
        if name == "account_all_trades":
            volume = sum((m.size(t.size) * m.price(t.price) for t in ex.account_trades(account)), Decimal(0))
            v = float(volume)
            return {"trades": {}, "total_volume": v, "monthly_volume": v, "weekly_volume": v, "daily_volume": v}
        if name == "account_all_positions":
            return {"positions": self._positions(account), "shares": []}
        return {"txs": []}

    async def _send_tx(self, kind: str, data: dict[str, Any]) -> None:
        req_id = data.get("id")
        reply: dict[str, Any] = {"type": kind, "id": req_id}
        fault = self.sim.faults.on_request(f"WS {kind}")
        try:
            if self.sim.rate_limited("sendtx"):
                raise TxRejected(30009, "too many requests")
            if fault is not None and fault.kind is FaultKind.REJECT:
                code = fault.code or 21104
                raise TxRejected(code, "invalid nonce" if code == 21104 else "transaction rejected")
            now_ms = self.sim.expiry_now_ms()
            if kind == "jsonapi/sendtx":
                txs = [parse_tx(data.get("tx_type"), data.get("tx_info"), now_ms=now_ms)]
            else:
                types, infos = _json_list(data.get("tx_types")), _json_list(data.get("tx_infos"))
                if len(types) != len(infos) or not 0 < len(types) <= 15:
                    raise TxRejected(WS_MALFORMED, "tx_types/tx_infos: 1 to 15 entries of equal length")
                txs = [parse_tx(t, i, now_ms=now_ms) for t, i in zip(types, infos, strict=True)]
            records, predicted = self.sim.submit(txs)
        except TxRejected as exc:
            self._enqueue("jsonapi", reply | {"code": exc.code, "message": exc.message})
            return
        if fault is not None and fault.kind is FaultKind.LOST_ACK:
            return  # applied, but the acknowledgement never arrives
        hashes: Any = records[0].tx_hash if kind == "jsonapi/sendtx" else [r.tx_hash for r in records]
        self._enqueue("jsonapi", reply | {"code": 200, "tx_hash": hashes, "predicted_execution_time_ms": predicted,
                                          "volume_quota_remaining": 1000})  # fmt: skip

    async def watchdog(self, idle_s: float) -> None:
        while True:
            await trio.sleep_until(self.last_client_msg + idle_s)
            if trio.current_time() >= self.last_client_msg + idle_s:
                await self.close("idle")
                return


def _json_list(value: Any) -> list[Any]:
    try:
        out = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        out = None
    if not isinstance(out, list):
        raise TxRejected(WS_MALFORMED, "expected a JSON list")
    return out


def _skip_nonce(frame: dict[str, Any]) -> dict[str, Any]:
    """SEQ_GAP fault: break the begin_nonce chain (book) or jump the nonce (account frames)."""
    if "order_book" in frame:
        return frame | {"order_book": frame["order_book"] | {"begin_nonce": frame["order_book"]["begin_nonce"] + 1}}
    if "nonce" in frame:
        return frame | {"nonce": frame["nonce"] + 1}
    return frame


async def serve(sim: LighterHost, path: str, query: Any, conn: trio_websocket.WebSocketConnection) -> None:
    readonly = (query.get("readonly") or ["false"])[0] == "true"
    session = Session(sim, conn, readonly=readonly)
    sim.sessions.add(session)
    try:
        with session._scope:
            async with trio.open_nursery() as nursery:
                session.send_raw({"type": "connected", "session_id": session.id})
                nursery.start_soon(session.writer)
                if sim.settings.idle_timeout_s:
                    nursery.start_soon(session.watchdog, sim.settings.idle_timeout_s)
                await session.reader()
                nursery.cancel_scope.cancel()
    finally:
        sim.sessions.discard(session)

