"""Lighter simulator WebSocket: protocol, channels, faults; payloads parsed with lighter-sdk's models.

Driven in memory with trio-websocket (the sim's connect_ws) and the autojump clock, so every wait has an
absolute deadline and nothing depends on real time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
import trio_websocket
from lighter.models import AccountPosition, Order, Trade, Tx

from hedged.sim.lighter.server import LighterSim, LighterSimSettings, trio_wall_clock
from tests.venues.lighter.sim_trader import LIGHTER_SIM_ACCOUNT as ACCT
from tests.venues.lighter.sim_trader import LighterSimTrader, prepare_sim
from hedged.sim.common.faults import Fault, FaultKind

ORDERS = f"account_orders/2/{ACCT}"


class Client:
    def __init__(self, conn: trio_websocket.WebSocketConnection) -> None:
        self.conn = conn

    async def send(self, **frame: Any) -> None:
        await self.conn.send_message(json.dumps(frame))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        with trio.fail_after(timeout):
            return json.loads(await self.conn.get_message())

    async def recv_type(self, prefix: str, timeout: float = 5) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                frame = await self.recv()
                if frame["type"].startswith(prefix):
                    return frame


@asynccontextmanager
async def ws(sim: LighterSim, url: str = "ws://lighter.sim/stream") -> AsyncIterator[Client]:
    async with sim.connect_ws(url) as conn:
        client = Client(conn)
        assert (await client.recv())["type"] == "connected"
        yield client


async def test_book_snapshot_then_updates_chain_by_begin_nonce_with_gapped_offsets(
    lighter_sim: LighterSim, autojump_clock: trio.testing.MockClock
) -> None:
    async with ws(lighter_sim) as c:
        await c.send(type="subscribe", channel="order_book/2")
        snap = await c.recv()
        assert (snap["type"], snap["channel"], snap["order_book"]["begin_nonce"]) == ("subscribed/order_book", "order_book:2", 0)
        prev, offsets = snap["order_book"]["nonce"], [snap["offset"]]
        for _ in range(20):
            upd = await c.recv()
            assert upd["type"] == "update/order_book"
            assert upd["order_book"]["begin_nonce"] == prev
            assert upd["order_book"]["nonce"] > prev
            prev = upd["order_book"]["nonce"]
            offsets.append(upd["offset"])
            for level in upd["order_book"]["asks"] + upd["order_book"]["bids"]:
                Decimal(level["price"]), Decimal(level["size"])
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        assert any(b - a > 1 for a, b in zip(offsets, offsets[1:], strict=False))


async def test_applying_updates_to_the_snapshot_reproduces_the_sim_book(
    lighter_sim: LighterSim, autojump_clock: trio.testing.MockClock
) -> None:
    async with ws(lighter_sim) as c:
        await c.send(type="subscribe", channel="order_book/2")
        snap = (await c.recv())["order_book"]
        book = {side: {lv["price"]: lv["size"] for lv in snap[side]} for side in ("asks", "bids")}

        def apply(upd: dict[str, Any]) -> None:
            for side in ("asks", "bids"):
                for lv in upd[side]:
                    if Decimal(lv["size"]) == 0:
                        book[side].pop(lv["price"], None)
                    else:
                        book[side][lv["price"]] = lv["size"]

        for _ in range(10):
            apply((await c.recv())["order_book"])
        lighter_sim.freeze_feed()
        while True:
            with trio.move_on_after(1):
                apply((await c.recv())["order_book"])
                continue
            break
    for side, levels in (("asks", lighter_sim.feed.asks), ("bids", lighter_sim.feed.bids)):
        assert book[side] == {f"{p:.3f}": f"{q:.3f}" for p, q in levels.items()}


async def test_private_channels_need_a_token_and_refuse_duplicates(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, autojump_clock: trio.testing.MockClock
) -> None:
    async with ws(lighter_sim) as c:
        await c.send(type="subscribe", channel=ORDERS)
        err = await c.recv()
        assert (err["type"], err["code"]) == ("error", 21504)
        await c.send(type="subscribe", channel=ORDERS, auth=lighter_sim_trader.token())
        snap = await c.recv_type("subscribed/")
        assert (snap["type"], snap["channel"], snap["account"], snap["orders"]) == (
            "subscribed/account_orders", "account_orders:2", ACCT, {"2": []}
        )
        await c.send(type="subscribe", channel=ORDERS, auth=lighter_sim_trader.token())
        assert (await c.recv_type("error"))["code"] == 30003


async def _subscribe_account(c: Client, t: LighterSimTrader) -> None:
    for channel in (ORDERS, f"account_all_trades/{ACCT}", f"account_all_positions/{ACCT}", f"account_tx/{ACCT}"):
        await c.send(type="subscribe", channel=channel, auth=t.token())
        await c.recv_type("subscribed/")


async def test_a_partial_ioc_fill_reaches_every_account_channel_in_sdk_shapes(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, autojump_clock: trio.testing.MockClock
) -> None:
    t = lighter_sim_trader
    async with ws(lighter_sim) as c:
        await _subscribe_account(c, t)
        depth = sum(size for _, size in lighter_sim.book.asks)
        await t.order(is_ask=False, qty=str(depth + 1), price=str(lighter_sim.book.best_ask * 2), coi=91007)
        frames: dict[str, list[dict[str, Any]]] = {}
        while "update/account_tx" not in frames:
            frame = await c.recv()
            frames.setdefault(frame["type"], []).append(frame)
    trades = [Trade.model_validate(tr) for f in frames["update/account_all_trades"] for tr in f["trades"]["2"]]
    assert sum(Decimal(tr.size) for tr in trades) == depth
    (final,) = [Order.model_validate(o) for f in frames["update/account_orders"] for o in f["orders"]["2"]]
    assert (final.status, Decimal(final.filled_base_amount), final.client_order_index) == (
        "canceled-not-enough-liquidity", depth, 91007
    )
    position = AccountPosition.model_validate(frames["update/account_all_positions"][-1]["positions"]["2"])
    assert (position.sign, Decimal(position.position)) == (1, depth)
    (tx,) = [Tx.model_validate(x) for x in frames["update/account_tx"][0]["txs"]]
    assert (tx.type, tx.status, tx.account_index) == (14, 2, ACCT)


async def test_sendtx_over_ws_acks_with_the_request_id_and_reports_nonce_errors(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, autojump_clock: trio.testing.MockClock
) -> None:
    t = lighter_sim_trader
    async with ws(lighter_sim) as c:
        tx = await t.sign_order(is_ask=True, qty="1", price="400", tif=1)
        await c.send(type="jsonapi/sendtx", data={"id": "r1", "tx_type": tx.tx_type, "tx_info": json.loads(tx.tx_info)})
        ack = await c.recv_type("jsonapi/")
        assert (ack["id"], ack["code"], len(ack["tx_hash"])) == ("r1", 200, 80)
        stale = await t.sign_order(is_ask=True, qty="1", price="400", tif=1, nonce=1)
        await c.send(type="jsonapi/sendtx", data={"id": "r2", "tx_type": stale.tx_type, "tx_info": stale.tx_info})
        nack = await c.recv_type("jsonapi/")
        assert (nack["id"], nack["code"]) == ("r2", 21104)


async def test_ping_gets_pong_and_unknown_frames_get_an_error(
    lighter_sim: LighterSim, autojump_clock: trio.testing.MockClock
) -> None:
    async with ws(lighter_sim) as c:
        await c.send(type="ping")
        assert (await c.recv())["type"] == "pong"
        await c.conn.send_message("not json")
        assert (await c.recv())["code"] == 30000


async def test_unsubscribe_stops_book_updates(lighter_sim: LighterSim, autojump_clock: trio.testing.MockClock) -> None:
    async with ws(lighter_sim) as c:
        await c.send(type="subscribe", channel="order_book/2")
        await c.recv()
        await c.send(type="unsubscribe", channel="order_book/2")
        await c.recv_type("unsubscribed")
        with trio.move_on_after(2) as scope:
            await c.recv()
        assert scope.cancelled_caught


@pytest.mark.parametrize(("kind", "breaks"), [(FaultKind.DROP, True), (FaultKind.SEQ_GAP, True), (FaultKind.DUPLICATE, False)])
async def test_book_frame_faults_show_up_as_continuity_breaks(
    lighter_sim: LighterSim, autojump_clock: trio.testing.MockClock, kind: FaultKind, breaks: bool
) -> None:
    lighter_sim.add_fault(Fault(kind, target="order_book/2", on="update/order_book", skip=2))
    async with ws(lighter_sim) as c:
        await c.send(type="subscribe", channel="order_book/2")
        prev = (await c.recv())["order_book"]["nonce"]
        gaps = repeats = 0
        for _ in range(8):
            body = (await c.recv())["order_book"]
            if body["nonce"] == prev:
                repeats += 1
                continue
            gaps += body["begin_nonce"] != prev
            prev = body["nonce"]
    assert (gaps, repeats) == ((1, 0) if breaks else (0, 1))


async def test_close_after_a_fill_frame_drops_the_connection(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, autojump_clock: trio.testing.MockClock
) -> None:
    lighter_sim.add_fault(Fault(FaultKind.CLOSE_AFTER, target=ORDERS, on="update/account_orders"))
    async with ws(lighter_sim) as c:
        await _subscribe_account(c, lighter_sim_trader)
        await lighter_sim_trader.order(is_ask=False, qty="1", price=str(lighter_sim.book.best_ask + 1))
        await c.recv_type("update/account_orders")
        with pytest.raises(trio_websocket.ConnectionClosed):
            while True:
                await c.recv()


async def test_frozen_feed_keeps_the_connection_open_but_silent(
    lighter_sim: LighterSim, autojump_clock: trio.testing.MockClock
) -> None:
    async with ws(lighter_sim) as c:
        await c.send(type="subscribe", channel="order_book/2")
        await c.recv()
        lighter_sim.freeze_feed()
        with trio.move_on_after(3) as scope:
            await c.recv_type("update/")
        assert scope.cancelled_caught
        await c.send(type="ping")
        assert (await c.recv())["type"] == "pong"


async def test_shutdown_frame_precedes_the_close(lighter_sim: LighterSim, autojump_clock: trio.testing.MockClock) -> None:
    async with ws(lighter_sim) as c:
        async with trio.open_nursery() as n:
            n.start_soon(lighter_sim.shutdown_connections, 100)
            assert (await c.recv())["type"] == "shutdown"
        with pytest.raises(trio_websocket.ConnectionClosed):
            await c.recv()


async def test_private_subscription_is_cut_when_its_token_expires(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    sim = LighterSim(LighterSimSettings(cut_expired_subscriptions=True), wall_clock=trio_wall_clock())
    signer = prepare_sim(sim)
    await nursery.start(sim.run)
    async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://l") as http:
        t = LighterSimTrader(sim, signer, http)
        async with ws(sim) as c:
            await c.send(type="subscribe", channel=ORDERS, auth=t.token(lifetime_s=60))
            await c.recv_type("subscribed/")
            await trio.sleep(61)
            await t.order(is_ask=True, qty="1", price="400", tif=1)
            err = await c.recv_type("error")
            assert (err["code"], err["channel"]) == (21504, ORDERS)


async def test_a_connection_whose_send_queue_overflows_is_disconnected(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # In memory the client's bytes never back up, so stall the sim's writer with a DELAY fault instead:
    # updates pile up behind it exactly as they would behind a slow reader's full socket.
    sim = LighterSim(LighterSimSettings(ws_queue_size=5))
    sim.add_fault(Fault(FaultKind.DELAY, target="order_book/2", on="update/order_book", delay=10))
    await nursery.start(sim.run)
    async with ws(sim) as c:
        await c.send(type="subscribe", channel="order_book/2")
        with pytest.raises(trio_websocket.ConnectionClosed):
            for _ in range(100):
                await c.recv(timeout=30)


async def test_account_orders_channel_can_carry_the_account(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sim = LighterSim(LighterSimSettings(account_orders_with_account=True))
    signer = prepare_sim(sim)
    await nursery.start(sim.run)
    async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://l") as http:
        t = LighterSimTrader(sim, signer, http)
        async with ws(sim) as c:
            await c.send(type="subscribe", channel=ORDERS, auth=t.token())
            assert (await c.recv_type("subscribed/"))["channel"] == f"account_orders:2:{ACCT}"


async def test_sim_serves_rest_and_ws_on_a_real_socket(lighter_sim: LighterSim, nursery: trio.Nursery) -> None:
    server = await nursery.start(lighter_sim.serve_tcp)
    async with httpx.AsyncClient(base_url=server.http_url()) as http:
        r = await http.get("/api/v1/orderBooks")
        assert r.status_code == 200 and r.json()["order_books"][0]["symbol"] == "SOL"
    async with trio_websocket.open_websocket_url(server.ws_url("/stream")) as conn:
        assert json.loads(await conn.get_message())["type"] == "connected"
        await conn.send_message(json.dumps({"type": "subscribe", "channel": "order_book/2"}))
        with trio.fail_after(5):
            assert json.loads(await conn.get_message())["type"] == "subscribed/order_book"


async def test_idle_connection_is_closed_but_a_pinging_one_is_kept(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sim = LighterSim(LighterSimSettings(idle_timeout_s=120))
    await nursery.start(sim.run)
    async with ws(sim) as quiet, ws(sim) as chatty:
        for _ in range(5):
            await trio.sleep(60)
            await chatty.send(type="ping")
            assert (await chatty.recv())["type"] == "pong"
        with pytest.raises(trio_websocket.ConnectionClosed):
            await quiet.recv()


async def test_lost_ack_over_ws_applies_the_tx_without_a_reply(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, autojump_clock: trio.testing.MockClock
) -> None:
    lighter_sim.add_fault(Fault(FaultKind.LOST_ACK, target="WS jsonapi/sendtx"))
    async with ws(lighter_sim) as c:
        tx = await lighter_sim_trader.sign_order(is_ask=True, qty="1", price="400", tif=1, coi=42)
        await c.send(type="jsonapi/sendtx", data={"id": "r1", "tx_type": tx.tx_type, "tx_info": tx.tx_info})
        await lighter_sim.executed.wait_value(lambda n: n >= 1)
        with trio.move_on_after(2) as scope:
            await c.recv_type("jsonapi/")
        assert scope.cancelled_caught
    assert lighter_sim.order_by_client_id(ACCT, 42).status == "open"  # type: ignore[union-attr]
