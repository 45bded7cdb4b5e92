"""The knobs DST adds to the simulators and around them: the REST-vs-stream lag, and the cable a crash cuts."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import trio

from hedged.dst.world import World
from hedged.sim.common.faults import Fault, FaultKind

BOOKS = {"extended": "/api/v1/info/markets/SOL-USD/orderbook", "lighter": "/api/v1/orderBookOrders?market_id=2&limit=5"}


@pytest.mark.parametrize("venue", ["extended", "lighter"])
async def test_a_stale_read_answers_with_the_state_of_the_request_instant_delivered_late(
    venue, tmp_path, autojump_clock
):
    world = World(5, tmp_path / "state")
    async with world.running():
        sim = world.pair.extended if venue == "extended" else world.pair.lighter
        base = "http://extended.sim" if venue == "extended" else "http://lighter.sim"
        headers = {"User-Agent": "dst-test"}
        async with httpx.AsyncClient(transport=sim.http_transport(), base_url=base, headers=headers) as http:
            before = (await http.get(BOOKS[venue])).content
            sim.faults.add(Fault(FaultKind.STALE_READ, target="GET " + BOOKS[venue].split("?")[0][len("/api/v1"):],
                                 delay=2.0))
            got: list[tuple[float, bytes]] = []

            async def read() -> None:
                body = (await http.get(BOOKS[venue])).content
                got.append((trio.current_time(), body))

            async with trio.open_nursery() as n:
                asked = trio.current_time()
                n.start_soon(read)
                await trio.sleep(0.5)
                world.pair.market.move_price(Decimal(5))  # the world moves while the answer travels
            fresh = (await http.get(BOOKS[venue])).content
    (arrived, stale), = got
    assert arrived - asked == pytest.approx(2.0)
    assert stale == before  # the picture predates the move the stream has already shown
    assert fresh != stale


async def test_a_cut_cable_lets_nothing_through_and_breaks_open_websockets(tmp_path, autojump_clock):
    world = World(5, tmp_path / "state")
    async with world.running():
        ext, _ = world.cables(1)
        sim = world.pair.extended
        async with httpx.AsyncClient(transport=ext.http_transport(), base_url=sim.rest_url,
                                     headers={"User-Agent": "dst-test"}) as http:
            assert (await http.get("/info/markets")).status_code == 200
            async with ext.ws_connect(sim.ws_url + "/orderbooks/SOL-USD", {"User-Agent": "dst-test"}) as ws:
                await ws.get_message()
                served = sim.stats_requests
                ext.cut()
                with pytest.raises(Exception):  # noqa: B017 - any transport error: the socket is gone
                    while True:
                        await ws.get_message()
            with pytest.raises(httpx.ConnectError):
                await http.get("/info/markets")
            assert sim.stats_requests == served  # nothing a dying engine sends reaches the venue
            with pytest.raises(OSError):
                ext.ws_connect(sim.ws_url + "/orderbooks/SOL-USD", {})
