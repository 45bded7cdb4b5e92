"""Extended simulator fault injection: frames (dup/reorder/drop/gap/close/freeze) and REST (timeouts, lost ack, 404)."""

import json
from decimal import Decimal

import pytest
import trio
import trio_websocket
from x10.models.account import AccountStreamDataModel
from x10.models.http import WrappedStreamResponseModel

from hedged.sim.extended.config import ExtendedSimSettings
from hedged.sim.common.faults import Fault, FaultKind

AccountFrame = WrappedStreamResponseModel[AccountStreamDataModel]
BOOK = "/orderbooks/SOL-USD"


async def book_frames(sim, n):
    """Read `n` book frames, stepping the market whenever the stream has nothing to say."""
    out = []
    async with sim.connect_ws(sim.ws_url + BOOK, {"User-Agent": "t"}) as ws:
        while len(out) < n:
            with trio.move_on_after(1):
                out.append(json.loads(await ws.get_message()))
                continue
            sim.step_market()
    return out


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (FaultKind.DUPLICATE, [1, 2, 3, 3, 4]),
        (FaultKind.REORDER, [1, 2, 4, 3, 5]),
        (FaultKind.DROP, [1, 2, 4, 5, 6]),
        (FaultKind.SEQ_GAP, [1, 2, 4, 5, 6]),
    ],
)
async def test_book_frame_faults_shape_the_sequence(extended_sim, autojump_clock, kind, expected):
    extended_sim.faults.add(Fault(kind, target="orderbooks/*", on="DELTA", skip=1))
    frames = await book_frames(extended_sim, 5)
    assert [f["seq"] for f in frames] == expected


async def test_frozen_feed_sends_nothing_more_but_stays_open(extended_sim, autojump_clock):
    extended_sim.faults.add(Fault(FaultKind.FREEZE, target="orderbooks/*", on="DELTA"))
    async with extended_sim.connect_ws(extended_sim.ws_url + BOOK, {"User-Agent": "t"}) as ws:
        assert json.loads(await ws.get_message())["type"] == "SNAPSHOT"
        extended_sim.step_market(5)
        with trio.move_on_after(30) as scope:
            await ws.get_message()
        assert scope.cancelled_caught and not ws.closed


async def test_account_stream_closes_between_a_fill_and_its_next_message(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, autojump_clock
):
    await extended_sim_http.post("/user/order", json=extended_sim_sign("BUY", "1", extended_sim.book.best_bid, external_id="c"))
    await extended_sim.wait_idle()
    extended_sim.faults.add(Fault(FaultKind.CLOSE_AFTER, target="account", on="ORDER", skip=1))
    got = []
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        for _ in range(3):
            got.append(AccountFrame.model_validate_json(await ws.get_message()).type)
        extended_sim.force_fill("c", Decimal("0.3"))
        got.append(AccountFrame.model_validate_json(await ws.get_message()).data.orders[0].status)
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()  # the TRADE/POSITION/BALANCE never arrive on this connection
    assert got == ["BALANCE", "POSITION", "ORDER", "PARTIALLY_FILLED"]
    # A reconnect restates the order with its fill.
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        frames = [AccountFrame.model_validate_json(await ws.get_message()) for _ in range(3)]
    assert frames[2].data.orders[0].filled_qty == Decimal("0.3")


async def test_lost_ack_applies_the_order_but_the_reply_never_comes(
    extended_sim, extended_sim_http, extended_sim_sign, autojump_clock
):
    extended_sim.faults.add(Fault(FaultKind.LOST_ACK, target="POST /user/order"))
    with trio.move_on_after(5) as scope:
        await extended_sim_http.post("/user/order", json=extended_sim_sign("BUY", "1", extended_sim.book.best_bid, external_id="l"))
    assert scope.cancelled_caught
    await extended_sim.wait_idle()
    assert extended_sim.order("l")["status"] == "NEW"  # the venue has it; look it up by external id
    r = await extended_sim_http.get("/user/orders/external/l")
    assert r.status_code == 200 and r.json()["data"][0]["externalId"] == "l"


async def test_timeout_fault_hangs_and_is_not_applied(extended_sim, extended_sim_http, extended_sim_sign, autojump_clock):
    extended_sim.faults.add(Fault(FaultKind.TIMEOUT, target="POST /user/order", delay=10))
    with trio.fail_after(20):
        r = await extended_sim_http.post("/user/order", json=extended_sim_sign("BUY", "1", extended_sim.book.best_bid))
    assert r.status_code == 504 and trio.current_time() >= 10
    assert extended_sim.engine.orders == {}


@pytest.mark.parametrize(
    "extended_sim_settings", [ExtendedSimSettings(live_market=False, ping_interval=None, get_by_id_lag=2.0)]
)
async def test_get_by_id_is_404_for_the_configured_window_after_acceptance(
    extended_sim, extended_sim_http, extended_sim_sign, autojump_clock
):
    r = await extended_sim_http.post("/user/order", json=extended_sim_sign("BUY", "1", extended_sim.book.best_bid))
    order_id = r.json()["data"]["id"]
    await extended_sim.wait_idle()
    assert (await extended_sim_http.get(f"/user/orders/{order_id}")).status_code == 404
    await trio.sleep(2)
    assert (await extended_sim_http.get(f"/user/orders/{order_id}")).status_code == 200


async def test_injected_seq_gap_on_the_account_stream(extended_sim, extended_sim_headers, autojump_clock):
    extended_sim.faults.add(Fault(FaultKind.SEQ_GAP, target="account", on="ORDER"))
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        seqs = [AccountFrame.model_validate_json(await ws.get_message()).seq for _ in range(3)]
    assert seqs == [1, 2, 4]


async def test_server_pings_every_15_s_and_drops_a_client_that_does_not_answer(extended_sim, autojump_clock):
    import trio.testing
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import CloseConnection, Ping, Request

    from hedged.sim.common.transport import serve_ws_stream

    # A hand-made client that completes the handshake, then reads but never answers pings.
    client, server = trio.testing.memory_stream_pair()
    ws = WSConnection(ConnectionType.CLIENT)
    pings, closed_at = 0, None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: serve_ws_stream(extended_sim, server, ping_interval=15, pong_timeout=10))
        target = extended_sim.settings.ws_prefix + BOOK
        await client.send_all(ws.send(Request(host="sim", target=target, extra_headers=[(b"user-agent", b"t")])))
        start = trio.current_time()
        with trio.fail_after(120):
            while closed_at is None:
                data = await client.receive_some()
                if not data:
                    closed_at = trio.current_time()
                    break
                ws.receive_data(data)
                for event in ws.events():
                    pings += isinstance(event, Ping)
                    if isinstance(event, CloseConnection):
                        closed_at = trio.current_time()
        nursery.cancel_scope.cancel()
    assert pings == 1 and closed_at - start == pytest.approx(25, abs=0.5)
