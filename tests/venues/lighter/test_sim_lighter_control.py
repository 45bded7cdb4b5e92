"""The Lighter simulator's local HTTP control surface (`/_sim/...`), driven through its in-memory httpx transport.

Controls are sent over HTTP and their effects read back through the endpoint's truth, REST sendTx and the
WebSocket, under the autojump clock; waits are on frames or `sim.executed`, each with a deadline.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
import trio_websocket
from lighter.models import Order, Trade

from hedged.sim.lighter.server import LighterSim, LighterSimSettings
from tests.venues.lighter.sim_trader import LIGHTER_SIM_ACCOUNT as ACCT
from tests.venues.lighter.sim_trader import LIGHTER_SIM_KEY, LighterSimTrader

ORDERS = f"account_orders/2/{ACCT}"


@pytest.fixture
async def control(lighter_sim: LighterSim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=lighter_sim.http_transport(), base_url="http://lighter.sim/_sim") as client:
        yield client


async def _recv(conn: trio_websocket.WebSocketConnection, prefix: str) -> dict[str, Any]:
    with trio.fail_after(5):
        while True:
            frame = json.loads(await conn.get_message())
            if frame["type"].startswith(prefix):
                return frame


async def _rest_order(sim: LighterSim, t: LighterSimTrader, *, coi: int, price: str = "100", qty: str = "2") -> None:
    """A resting GTT buy far below the book, run through the sequencer."""
    done = sim.executed.value + 1
    r = await t.order(is_ask=False, qty=qty, price=price, tif=1, coi=coi)
    assert r.status_code == 200, r.text
    with trio.fail_after(5):
        await sim.executed.wait_value(lambda n: n >= done)


async def test_a_price_set_through_control_moves_the_truth_and_the_order_book_stream(
    lighter_sim: LighterSim, control: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    before = (await control.get("/truth")).json()
    assert Decimal("140") < Decimal(before["bestBid"]) < Decimal("160")
    async with lighter_sim.connect_ws("ws://lighter.sim/stream") as conn:
        await _recv(conn, "connected")
        await conn.send_message(json.dumps({"type": "subscribe", "channel": "order_book/2"}))
        await _recv(conn, "subscribed/order_book")
        r = await control.post("/price", json={"price": "200"})
        assert (r.status_code, r.json()) == (200, {"ok": True})
        truth = (await control.get("/truth")).json()
        assert Decimal(truth["reference"]) == Decimal(200)
        assert Decimal("199") < Decimal(truth["bestBid"]) < Decimal(truth["bestAsk"]) < Decimal("201")
        with trio.fail_after(5):
            while True:
                upd = await _recv(conn, "update/order_book")
                bids = [Decimal(lv["price"]) for lv in upd["order_book"]["bids"] if Decimal(lv["size"]) > 0]
                if bids:
                    break
        assert all(Decimal("190") < p < Decimal("201") for p in bids)
        r = await control.post("/price", json={"pct": "-10"})
        assert r.status_code == 200
        assert Decimal("179") < Decimal((await control.get("/truth")).json()["bestAsk"]) < Decimal("181")


async def test_a_forced_fill_shows_in_the_truth_and_on_the_account_orders_stream(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, control: httpx.AsyncClient,
    autojump_clock: trio.testing.MockClock,
) -> None:  # fmt: skip
    await _rest_order(lighter_sim, lighter_sim_trader, coi=4242)
    truth = (await control.get("/truth")).json()
    (resting,) = truth["openOrders"]
    assert (resting["client_order_index"], truth["position"], truth["fills"]) == (4242, "0.000", [])
    async with lighter_sim.connect_ws("ws://lighter.sim/stream") as conn:
        await _recv(conn, "connected")
        await conn.send_message(json.dumps({"type": "subscribe", "channel": ORDERS, "auth": lighter_sim_trader.token()}))
        await _recv(conn, "subscribed/account_orders")
        r = await control.post("/fill", json={"order": "4242", "qty": "0.5", "price": "99.5"})
        assert r.status_code == 200, r.text
        frame = await _recv(conn, "update/account_orders")
        (streamed,) = frame["orders"]["2"]
        streamed = Order.model_validate(streamed)
        assert (streamed.client_order_index, streamed.filled_base_amount, streamed.status) == (4242, "0.500", "open")
        # by venue order index, the rest of it
        r = await control.post("/fill", json={"order": resting["order_index"]})
        assert r.status_code == 200, r.text
        frame = await _recv(conn, "update/account_orders")
        assert (frame["orders"]["2"][0]["filled_base_amount"], frame["orders"]["2"][0]["status"]) == ("2.000", "filled")
    truth = (await control.get("/truth", params={"account": ACCT})).json()
    assert (truth["account"], truth["position"], truth["openOrders"]) == (ACCT, "2.000", [])
    fills = [Trade.model_validate(f) for f in truth["fills"]]
    assert [(f.size, f.price, f.bid_client_id) for f in fills] == [("0.500", "99.500", 4242), ("1.500", "100.000", 4242)]
    order = (await control.get("/order", params={"client_order_index": 4242})).json()["order"]
    assert (order["status"], order["filled_base_amount"]) == ("filled", "2.000")
    assert (await control.get("/order", params={"client_order_index": 1})).json() == {"order": None}


async def test_a_sendtx_fault_added_through_control_fails_the_next_sendtx_only(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, control: httpx.AsyncClient,
    autojump_clock: trio.testing.MockClock,
) -> None:  # fmt: skip
    r = await control.post("/fault", json={"kind": "http_error", "target": "POST /sendTx", "status": 502})
    assert r.status_code == 200
    tx = await lighter_sim_trader.sign_order(is_ask=False, qty="1", price="100", tif=1, coi=7)
    assert (await lighter_sim_trader.send(tx)).status_code == 502
    assert (await lighter_sim_trader.send(tx)).status_code == 200  # not applied, so the same nonce is still next
    await control.post("/fault", json={"kind": "reject", "target": "POST /sendTx", "code": 21104, "count": 0})
    tx = await lighter_sim_trader.sign_order(is_ask=False, qty="1", price="100", tif=1, coi=8)
    assert [(await lighter_sim_trader.send(tx)).json()["code"] for _ in range(2)] == [21104, 21104]
    assert (await control.post("/faults/clear")).status_code == 200
    assert (await lighter_sim_trader.send(tx)).status_code == 200


async def test_lighter_only_controls_reject_orders_skip_nonces_and_revoke_tokens(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, control: httpx.AsyncClient,
    lighter_sim_http: httpx.AsyncClient, autojump_clock: trio.testing.MockClock,
) -> None:  # fmt: skip
    t = lighter_sim_trader
    assert (await control.post("/orders/reject", json={"status": "canceled-margin-not-allowed"})).status_code == 200
    await _rest_order(lighter_sim, t, coi=11)
    order = (await control.get("/order", params={"client_order_index": 11})).json()["order"]
    assert order["status"] == "canceled-margin-not-allowed"

    assert (await control.post("/nonce/skip", json={"by": 2})).status_code == 200
    assert lighter_sim.exchange.next_nonce(ACCT, LIGHTER_SIM_KEY) == t.nonce + 2
    assert (await t.order(is_ask=False, qty="1", price="100", tif=1)).json()["code"] == 21104

    token = t.token()
    params = {"account_index": ACCT, "market_id": 2, "auth": token}
    assert (await lighter_sim_http.get("/api/v1/accountActiveOrders", params=params)).status_code == 200
    assert (await control.post("/tokens/revoke")).status_code == 200
    assert (await lighter_sim_http.get("/api/v1/accountActiveOrders", params=params)).json()["code"] == 21504

    assert (await control.post("/feed/freeze")).status_code == 200
    assert (await control.get("/truth")).json()["frozen"] is True
    assert (await control.post("/feed/freeze", json={"frozen": False})).status_code == 200
    assert lighter_sim.frozen is False


async def test_step_flow_and_book_controls_change_the_book(
    lighter_sim: LighterSim, control: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    assert (await control.post("/book/pull", json={"side": "sell"})).status_code == 200
    truth = (await control.get("/truth")).json()
    assert truth["bestAsk"] is None and truth["bestBid"] is not None
    assert (await control.post("/book/restore")).status_code == 200
    assert (await control.get("/truth")).json()["bestAsk"] is not None
    steps = lighter_sim.market_model.steps
    assert (await control.post("/step", json={"n": 3})).status_code == 200
    assert lighter_sim.market_model.steps == steps + 3
    assert (await control.post("/flow", json={"side": "BUY", "qty": "0.5"})).status_code == 200


async def test_shutdown_through_control_closes_every_websocket(
    lighter_sim: LighterSim, control: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    async with lighter_sim.connect_ws("ws://lighter.sim/stream") as conn:
        await _recv(conn, "connected")
        r = await control.post("/shutdown", json={"close_in_ms": 100})
        assert r.status_code == 200
        assert (await _recv(conn, "shutdown"))["close_in_ms"] == 100
        with pytest.raises(trio_websocket.ConnectionClosed), trio.fail_after(5):
            while True:
                await conn.get_message()


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/price", {"price": "abc"}, "price"),
        ("POST", "/price", {"price": "-1"}, "price"),
        ("POST", "/price", {}, "pct"),
        ("POST", "/price", {"pct": "NaN"}, "pct"),
        ("POST", "/fill", {"qty": "1"}, "order"),
        ("POST", "/fill", {"order": 99}, "order"),
        ("POST", "/fill", {"order": "nope"}, "order"),
        ("POST", "/fill", {"order": "1", "qty": "x"}, "qty"),
        ("POST", "/flow", {"side": "up", "qty": "1"}, "side"),
        ("POST", "/flow", {"side": "buy"}, "qty"),
        ("POST", "/step", {"n": "many"}, "n"),
        ("POST", "/fault", {"kind": "nonsense"}, "kind"),
        ("POST", "/fault", {"target": "POST /sendTx"}, "kind"),
        ("POST", "/fault", {"kind": "reject", "count": "2"}, "count"),
        ("POST", "/fault", {"kind": "reject", "colour": "red"}, "colour"),
        ("POST", "/book/pull", {"side": 3}, "side"),
        ("POST", "/feed/freeze", {"frozen": "yes"}, "frozen"),
        ("POST", "/orders/reject", {"count": 0}, "count"),
        ("POST", "/orders/reject", {"status": "filled"}, "status"),
        ("POST", "/nonce/skip", {"api_key_index": 9}, "api_key_index"),
        ("POST", "/shutdown", {"close_in_ms": -5}, "close_in_ms"),
        ("GET", "/truth?account=1", None, "account"),
        ("GET", "/truth?account=x", None, "account"),
        ("GET", "/order", None, "client_order_index"),
        ("POST", "/price", [1, 2], "body"),
    ],
)
async def test_bad_control_input_is_a_400_naming_the_field(
    control: httpx.AsyncClient, method: str, path: str, body: Any, field: str
) -> None:
    r = await control.request(method, path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert r.json()["error"].startswith(field + ":")


async def test_malformed_json_is_a_400_naming_the_body(control: httpx.AsyncClient) -> None:
    r = await control.post("/price", content=b"{not json")
    assert (r.status_code, r.json()["field"]) == (400, "body")


async def test_unknown_control_routes_and_methods_are_404(control: httpx.AsyncClient) -> None:
    assert (await control.post("/teleport", json={})).status_code == 404
    assert (await control.get("/price")).status_code == 404
    assert (await control.post("/truth")).status_code == 404


async def test_truth_needs_an_account_when_the_sim_has_several(
    lighter_sim: LighterSim, control: httpx.AsyncClient
) -> None:
    lighter_sim.add_account(1000)
    r = await control.get("/truth")
    assert (r.status_code, r.json()["field"]) == (400, "account")
    assert (await control.get("/truth", params={"account": 1000})).json()["collateral"] == "100000"


async def test_control_path_none_leaves_only_the_venue_api() -> None:
    sim = LighterSim(LighterSimSettings(control_path=None))
    async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://lighter.sim") as http:
        r = await http.post("/_sim/price", json={"price": "1"})
    assert r.status_code == 404 and "code" in r.json()
    assert sim.market_model.reference != Decimal(1)


async def test_a_book_cross_through_control_sends_one_crossing_update_and_a_sound_snapshot_after(
    lighter_sim: LighterSim, control: httpx.AsyncClient, autojump_clock: trio.testing.MockClock
) -> None:
    async with lighter_sim.connect_ws("ws://lighter.sim/stream") as conn:
        await _recv(conn, "connected")
        await conn.send_message(json.dumps({"type": "subscribe", "channel": "order_book/2"}))
        snap = (await _recv(conn, "subscribed/order_book"))["order_book"]
        best_ask = min(Decimal(lv["price"]) for lv in snap["asks"])
        lighter_sim.freeze_feed()  # only the knob's update is sent from here
        assert (await control.post("/book/cross")).status_code == 200
        upd = (await _recv(conn, "update/order_book"))["order_book"]
        assert upd["begin_nonce"] == snap["nonce"] and [Decimal(lv["price"]) for lv in upd["bids"]] == [
            best_ask + Decimal("0.001")]
        await conn.send_message(json.dumps({"type": "unsubscribe", "channel": "order_book/2"}))
        await conn.send_message(json.dumps({"type": "subscribe", "channel": "order_book/2"}))
        fresh = (await _recv(conn, "subscribed/order_book"))["order_book"]
        assert max(Decimal(lv["price"]) for lv in fresh["bids"]) < min(Decimal(lv["price"]) for lv in fresh["asks"])
