"""The simulators' benchmark stamps (hedged/sim/common/stamps.py) as a bench reads them over `/_sim/stamps`:
one row per fill frame written (however many account connections read it) and per sendTx accepted,
stamped on CLOCK_MONOTONIC, the clock the bench process shares."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import trio

from hedged.venues.base import Side
from hedged.sim.extended.server import ExtendedSim
from hedged.sim.extended.checks import NewOrder
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.sim.lighter.server import LighterSim, LighterSimSettings
from tests.venues.lighter.sim_trader import LighterSimTrader, prepare_sim


def mono() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


async def test_a_fill_frame_is_stamped_once_when_written_with_its_order_side_and_quantity(nursery, autojump_clock):
    sim = ExtendedSim(ExtendedSimSettings(seed=3, live_market=False, ping_interval=None))
    await nursery.start(sim.run)
    price = sim.book.best_bid
    order = sim.engine.submit(NewOrder(
        external_id="m1", market="SOL-USD", type="LIMIT", side="BUY", qty=Decimal("1"), price=price,
        reduce_only=False, post_only=True, time_in_force="GTT", expiry_ms=sim.now_ms() + 3_600_000,
        fee=Decimal("0.0005"), nonce=1, cancel_id=None), sim.now_ms())  # fmt: skip
    sim.accept_order(order.id)
    headers = {"User-Agent": "t", "X-Api-Key": sim.keys.api_key}
    async with sim.connect_ws(sim.ws_url + "/account", headers) as a, sim.connect_ws(sim.ws_url + "/account", headers) as b:
        for ws in (a, b):
            for _ in range(3):  # BALANCE, POSITION, ORDER restatement
                await ws.get_message()
        before = mono()
        sim.add_flow(Side.SELL, Decimal("1"))  # another trader takes our whole bid
        for ws in (a, b):
            for _ in range(4):  # ORDER, TRADE, POSITION, BALANCE
                await ws.get_message()
        after = mono()
    async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://extended.sim") as http:
        stamps = (await http.get("/_sim/stamps")).json()
        counts = (await http.get("/_sim/stamps/counts")).json()
    [fill] = stamps["fills"]
    assert (fill["order"], fill["side"], fill["qty"], fill["taker"]) == (order.id, "BUY", "1", False)
    assert before <= fill["t"] <= after
    [ended] = stamps["orders"]
    assert (ended["order"], ended["status"], ended["filled"]) == (order.id, "FILLED", "1")
    assert counts["fills"] == 1 and stamps["clock"] == "CLOCK_MONOTONIC"


async def test_a_sendtx_is_stamped_on_arrival_and_its_order_when_it_ends(nursery, autojump_clock):
    sim = LighterSim(LighterSimSettings(seed=7))
    signer = prepare_sim(sim)
    await nursery.start(sim.run)
    async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://lighter.sim") as http:
        trader = LighterSimTrader(sim, signer, http)
        bid = sim.book.best_bid
        before = mono()
        reply = await trader.order(is_ask=True, qty="0.5", price=str(bid - Decimal(1)), tif=0, coi=77)
        assert reply.status_code == 200, reply.text
        await sim.executed.wait_value(lambda n: n >= 1)
        await trio.testing.wait_all_tasks_blocked()
        stamps = (await http.get("/_sim/stamps")).json()
    [tx] = stamps["txs"]
    assert (tx["type"], tx["side"], tx["qty"], tx["client"]) == (14, "sell", "0.500", 77)
    assert before <= tx["t"] <= mono()
    [ended] = stamps["orders"]
    assert (ended["client"], ended["status"], ended["filled"], ended["qty"]) == (77, "filled", "0.500", "0.500")
    assert ended["t"] >= tx["t"]
