"""The adapter's default transports (httpx over TCP, trio-websocket's open_websocket_url) against
the simulator on a loopback socket. Real time, one absolute deadline (conftest rule 2)."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import trio

from hedged.venues.base import OrderStatus, Side
from hedged.venues.extended import ExtendedClient, ExtendedSettings


async def test_default_transports_place_fill_and_cancel_over_loopback() -> None:
    from hedged.sim.extended.server import ExtendedSim
    from hedged.sim.extended.config import ExtendedSimSettings

    sim = ExtendedSim(ExtendedSimSettings(seed=21, live_market=False, domain_chain_id="SN_SIM"))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(sim.serve)
            settings = ExtendedSettings(
                rest_url=server.http_url(sim.settings.rest_prefix), ws_url=server.ws_url(sim.settings.ws_prefix),
                market="SOL-USD", api_key=sim.keys.api_key, stark_private_key=sim.keys.private_key_hex,
                stark_public_key=sim.keys.public_key_hex, vault=sim.settings.vault, signing_domain="sim")
            client = ExtendedClient(settings, rng=random.Random(21))
            send, events = trio.open_memory_channel(math.inf)
            await nursery.start(client.run, send)
            cid = client.new_client_id()
            await client.place_maker(Side.BUY, Decimal("1"), client.top_of_book.value.bid - Decimal("0.05"), cid)
            await sim.wait_idle()
            sim.force_fill(cid, Decimal("0.4"))
            await client.cancel(client_id=cid)
            final = None
            async for event in events:
                if getattr(event, "client_id", None) == cid and getattr(event, "status", None) is OrderStatus.CANCELLED:
                    final = event
                    break
            assert final.filled_qty == Decimal("0.4") and sim.position() == Decimal("0.4")
            assert client.health().fresh(5.0)
            nursery.cancel_scope.cancel()
