"""Runs the real LighterClient (httpx, trio-websocket, signer, decoding) against the in-memory simulator.

Rules that keep these tests deterministic: every test uses the autojump clock; the simulator and the
client share one wall clock that advances with trio's clock; waiting is done on the event channel
with one absolute deadline per wait, never by sleeping and hoping.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from hedged.venues.base import OrderUpdate, VenueEvent
from hedged.venues.lighter.client import LighterClient, LighterSettings
from hedged.venues.lighter.settings import HedgeKey
from hedged.venues.lighter.signing import generate_api_key
from hedged.sim.lighter.server import LighterSim, LighterSimSettings, trio_wall_clock
from hedged.sim.common.faults import FaultPlan

ACCOUNT, KEY = 604118, 5
_KEYS = generate_api_key()  # one throw-away key for the module: the sim cannot verify signatures anyway


@dataclass
class Harness:
    sim: LighterSim
    client: LighterClient
    recv: trio.MemoryReceiveChannel[VenueEvent]
    nursery: trio.Nursery
    seen: list[VenueEvent] = field(default_factory=list)

    async def wait_for(self, pred: Callable[[VenueEvent], bool], timeout: float = 10.0) -> VenueEvent:
        """The first event (already seen or arriving) that satisfies `pred`."""
        for ev in self.seen:
            if pred(ev):
                return ev
        with trio.fail_after(timeout):
            async for ev in self.recv:
                self.seen.append(ev)
                if pred(ev):
                    return ev
        raise AssertionError("event channel closed")

    async def wait_order(self, client_id: str, pred: Callable[[OrderUpdate], bool], timeout: float = 10.0) -> OrderUpdate:
        ev = await self.wait_for(lambda e: isinstance(e, OrderUpdate) and e.client_id == client_id and pred(e), timeout)
        assert isinstance(ev, OrderUpdate)
        return ev

    def drain(self) -> None:
        while True:
            try:
                self.seen.append(self.recv.receive_nowait())
            except trio.WouldBlock:
                return

    def updates(self, client_id: str) -> list[OrderUpdate]:
        self.drain()
        return [e for e in self.seen if isinstance(e, OrderUpdate) and e.client_id == client_id]


def settings_for(state_dir: Path, **over: Any) -> LighterSettings:
    base = LighterSettings(
        rest_url="http://lighter.sim", ws_url="ws://lighter.sim/stream", market="SOL", account_index=ACCOUNT,
        api_key_index=KEY, api_private_key=_KEYS.private_key, chain_id=300, state_dir=state_dir, tier="premium",
        sign_in_thread=False,  # under the autojump clock a worker thread looks idle (docs/design.md)
    )  # fmt: skip
    return replace(base, **over)


@asynccontextmanager
async def running(
    state_dir: Path,
    *,
    sim_settings: LighterSimSettings | None = None,
    faults: FaultPlan | None = None,
    seed: int = 1,
    wrap_ws: Callable[[Any], Any] | None = None,
    stream_funding: bool = False,
    hedge_keys: tuple[int, ...] = (),
    **over: Any,
) -> AsyncIterator[Harness]:
    """`hedge_keys`: more API keys of the account, registered on the sim and given to the client."""
    wall = trio_wall_clock()  # real epoch base: the signer stamps ExpiredAt from the real clock
    sim = LighterSim(sim_settings or LighterSimSettings(seed=seed), faults=faults, wall_clock=wall)
    sim.add_account(ACCOUNT, collateral=Decimal(1_000_000))
    sim.register_api_key(ACCOUNT, KEY, _KEYS.public_key)
    pool = []
    for index in hedge_keys:
        extra = generate_api_key()
        sim.register_api_key(ACCOUNT, index, extra.public_key)
        pool.append(HedgeKey(index, extra.private_key))
    if pool:
        over["hedge_keys"] = tuple(pool)
    connect = sim.connect_ws
    if wrap_ws is not None:

        @asynccontextmanager
        async def connect(url: str, headers: Any = None) -> AsyncIterator[Any]:
            async with sim.connect_ws(url, headers) as conn:
                yield wrap_ws(conn)

    client = LighterClient(settings_for(state_dir, **over), rng=random.Random(seed),
                           http_transport=sim.http_transport(), ws_connect=connect, wall_clock=wall,
                           stream_funding=stream_funding)  # fmt: skip
    send, recv = trio.open_memory_channel[VenueEvent](10_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        await nursery.start(client.run, send)
        yield Harness(sim, client, recv, nursery)
        nursery.cancel_scope.cancel()
