"""Extended simulator: closing a position, expiry, the dead man's switch, and same seed -> same run."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import trio
from x10.models.account import AccountStreamDataModel
from x10.models.http import WrappedStreamResponseModel

from hedged.venues.base import Side
from hedged.sim.extended.server import ExtendedSim
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.sim.common.faults import Fault, FaultKind
from hedged.sim.common.market import MarketSettings

AccountFrame = WrappedStreamResponseModel[AccountStreamDataModel]


async def test_closing_fill_reports_a_closed_position_and_realised_pnl(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, autojump_clock
):
    best_bid, best_ask = extended_sim.book.best_bid, extended_sim.book.best_ask
    await extended_sim_http.post("/user/order", json=extended_sim_sign("BUY", "1", best_bid, external_id="open"))
    await extended_sim_http.post("/user/order", json=extended_sim_sign("SELL", "1", best_ask, external_id="close"))
    await extended_sim.wait_idle()
    extended_sim.force_fill("open", Decimal("1"))
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        for _ in range(3):
            AccountFrame.model_validate_json(await ws.get_message())
        extended_sim.force_fill("close", Decimal("1"))
        frames = [AccountFrame.model_validate_json(await ws.get_message()) for _ in range(4)]
    [position] = frames[2].data.positions
    assert (position.status, position.size) == ("CLOSED", Decimal("0"))
    assert position.realised_pnl == best_ask - best_bid
    assert extended_sim.position() == 0
    assert (await extended_sim_http.get("/user/positions")).json()["data"] == []


async def test_gtt_order_expires_with_an_expired_message(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, autojump_clock
):
    body = extended_sim_sign("BUY", "1", extended_sim.book.best_bid, external_id="e", expire_in=timedelta(seconds=30))
    await extended_sim_http.post("/user/order", json=body)
    await extended_sim.wait_idle()
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        for _ in range(3):
            await ws.get_message()
        await trio.sleep(31)
        extended_sim.step_market()  # the engine checks expiries on market steps
        frame = AccountFrame.model_validate_json(await ws.get_message())
    assert [(o.external_id, o.status) for o in frame.data.orders] == [("e", "EXPIRED")]


async def test_dead_mans_switch_cancels_open_orders_when_it_expires(
    extended_sim, extended_sim_http, extended_sim_sign, autojump_clock
):
    await extended_sim_http.post("/user/order", json=extended_sim_sign("BUY", "1", extended_sim.book.best_bid))
    r = await extended_sim_http.post("/user/deadmanswitch", params={"countdownTime": "10"})
    assert r.json() == {"status": "OK"}
    await trio.sleep(9)
    assert len(extended_sim.open_orders()) == 1
    await trio.sleep(2)
    assert extended_sim.open_orders() == []


async def _recorded_run(seed: int) -> list[str]:
    """A live, faulty run driven only by the clock: the raw frames of both streams."""
    settings = ExtendedSimSettings(
        seed=seed,
        start_epoch_ms=1_795_540_000_000,
        ping_interval=None,
        market_settings=MarketSettings(seed=seed, flow_rate=3.0),
    )
    sim = ExtendedSim(settings)
    sim.faults.add(Fault(FaultKind.DUPLICATE, target="*", count=0, probability=0.2))
    headers = {"User-Agent": "t", "X-Api-Key": sim.keys.api_key}
    out: list[str] = []
    async with sim.running(), trio.open_nursery() as nursery:
        async def record(path: str) -> None:
            async with sim.connect_ws(sim.ws_url + path, headers) as ws:
                while True:
                    out.append(path + " " + await ws.get_message())

        nursery.start_soon(record, "/account")
        await trio.sleep(0.05)
        # Resting orders on both sides, placed through the engine's own admission path.
        for side, price in ((Side.BUY, sim.book.best_bid), (Side.SELL, sim.book.best_ask)):
            sim.engine.submit(_unsigned(sim, side, price), sim.now_ms())
        for order_id in list(sim.engine.orders):
            sim.schedule(0.0, sim.accept_order, order_id)
        nursery.start_soon(record, "/orderbooks/SOL-USD")
        await trio.sleep(20)
        nursery.cancel_scope.cancel()
    return out


def _unsigned(sim, side, price):
    from hedged.sim.extended.checks import NewOrder

    return NewOrder(
        external_id=f"det-{side}", market="SOL-USD", type="LIMIT", side="BUY" if side is Side.BUY else "SELL",
        qty=Decimal("2"), price=price, reduce_only=False, post_only=True, time_in_force="GTT",
        expiry_ms=sim.now_ms() + 3_600_000, fee=Decimal("0.0005"), nonce=1, cancel_id=None,
    )


@pytest.mark.parametrize("seed", [5])
async def test_same_seed_gives_the_same_frames_and_another_seed_does_not(seed, autojump_clock):
    first = await _recorded_run(seed)
    second = await _recorded_run(seed)
    assert len(first) > 100
    assert any('"type":"TRADE"' in f for f in first)
    assert sorted(first) == sorted(second)  # the two streams interleave freely; each is identical
    for prefix in ("/account", "/orderbooks"):
        assert [f for f in first if f.startswith(prefix)] == [f for f in second if f.startswith(prefix)]
    assert [f for f in await _recorded_run(seed + 1) if f.startswith("/orderbooks")] != [
        f for f in first if f.startswith("/orderbooks")
    ]
    for frame in first:  # and the SDK parses all of them
        path, text = frame.split(" ", 1)
        assert json.loads(text)["seq"] >= 1
        if path == "/account":
            AccountFrame.model_validate_json(text)
