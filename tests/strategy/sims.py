"""The real adapters (ExtendedClient, LighterClient) on their in-memory simulators, plus the real Ledger.

Wiring facts follow the adapters' own test harnesses (tests/venues/*): throw-away keys, the sims'
in-memory HTTP transport and WS connector, one wall clock advancing with trio's clock.
"""

from __future__ import annotations

import math
import random
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import trio

from hedged.config import HedgeConfig
from hedged.ledger import Ledger, LedgerCore, Leg, Roles
from hedged.strategy.executor import HedgeExecutor
from hedged.venues.base import OrderStatus
from hedged.sim.common.market import Market, MarketSettings
from hedged.venues.extended.client import ExtendedClient, ExtendedSettings
from hedged.sim.extended.server import ExtendedSim
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.venues.lighter.client import LighterClient, LighterSettings
from hedged.venues.lighter.settings import HedgeKey
from hedged.venues.lighter.signing import generate_api_key
from hedged.sim.lighter.server import Latency, LighterSim, LighterSimSettings, trio_wall_clock

LIGHTER_ACCOUNT, LIGHTER_KEY = 604118, 5


@dataclass
class SimWorld:
    ext_sim: ExtendedSim
    ext: ExtendedClient
    lig_sim: LighterSim
    lig: LighterClient
    ledger: Ledger
    nursery: trio.Nursery
    events: trio.MemorySendChannel
    lig_scope: trio.CancelScope

    async def stop_lighter(self) -> None:
        """End the Lighter venue service, as the first half of a supervisor restart does (the
        same client object is started again by `start_lighter`)."""
        self.lig_scope.cancel()
        with trio.fail_after(5):
            await self.lig.top_of_book.wait_value(None)

    async def start_lighter(self) -> None:
        self.lig_scope = await self.nursery.start(_run_lighter, self.lig, self.events.clone())

    def new_client_id(self, venue) -> str:
        return (self.ext if venue == self.ext.venue else self.lig).new_client_id()

    def truth(self) -> tuple[Decimal, Decimal]:
        return self.ext_sim.position(), self.lig_sim_position()

    def lig_sim_position(self) -> Decimal:
        return self.lig_sim.position(LIGHTER_ACCOUNT)

    async def rest_maker(self, side, size: Decimal) -> str:
        """Rest a post-only order on the Extended sim (away from the touch: only `force_fill` fills it)."""
        cid = self.ext.new_client_id()
        self.ledger.register_order(self.ext.venue, cid, side, size)
        top = self.ext.top_of_book.value
        price = top.bid - self.ext.rules.tick * 5 if side.sign > 0 else top.ask + self.ext.rules.tick * 5
        await self.ext.place_maker(side, size, price, cid)
        with trio.fail_after(5):  # accepted by the venue (its accept delay), so it can be filled
            await self.ledger.version.wait_value(
                lambda _: self.ledger.order(self.ext.venue, cid).status is OrderStatus.OPEN)
        return cid

    async def maker_fill(self, side, qty: Decimal, *, resting: Decimal | None = None) -> str:
        """Rest a post-only order on the Extended sim and let the venue fill `qty` of it."""
        cid = await self.rest_maker(side, resting if resting is not None else qty)
        self.ext_sim.force_fill(cid, qty)
        return cid


async def _run_lighter(lig: LighterClient, events: trio.MemorySendChannel, *,
                       task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run the Lighter service in a scope of its own (handed back when it is ready), so a test can end it."""
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as n:
            await n.start(lig.run, events)
            task_status.started(scope)


@asynccontextmanager
async def sim_world(state_dir: Path, *, seed: int = 7, live_market: bool = True, lighter_latency: Latency | None = None,
                    tx_over_ws: bool = True, lighter_flow_rate: float = 1.0,
                    sign_in_thread: bool = False, hedge_keys: tuple[int, ...] = ()):
    """`hedge_keys`: more API keys of the Lighter account, registered on the sim and given to the adapter."""
    keys = generate_api_key()
    ext_sim = ExtendedSim(ExtendedSimSettings(seed=seed, live_market=live_market, domain_chain_id="SN_SIM"))
    wall = trio_wall_clock()
    lig_sim = LighterSim(LighterSimSettings(seed=seed, latency=lighter_latency or Latency()), wall_clock=wall,
                         market=Market(MarketSettings(seed=seed, flow_rate=lighter_flow_rate)))
    lig_sim.add_account(LIGHTER_ACCOUNT, collateral=Decimal(1_000_000))
    lig_sim.register_api_key(LIGHTER_ACCOUNT, LIGHTER_KEY, keys.public_key)
    pool = []
    for index in hedge_keys:
        extra = generate_api_key()
        lig_sim.register_api_key(LIGHTER_ACCOUNT, index, extra.public_key)
        pool.append(HedgeKey(index, extra.private_key))
    send, recv = trio.open_memory_channel(math.inf)
    async with trio.open_nursery() as n:
        await n.start(ext_sim.run)
        await n.start(lig_sim.run)
        ext = ExtendedClient(
            ExtendedSettings(rest_url=ext_sim.rest_url, ws_url=ext_sim.ws_url, market=ext_sim.settings.market,
                             api_key=ext_sim.keys.api_key, stark_private_key=ext_sim.keys.private_key_hex,
                             stark_public_key=ext_sim.keys.public_key_hex, vault=ext_sim.settings.vault,
                             signing_domain="sim"),
            http_transport=ext_sim.http_transport(), ws_connect=ext_sim.connect_ws, rng=random.Random(seed),
            wall_clock=lambda: ext_sim.now_ms() / 1000)
        lig = LighterClient(
            LighterSettings(rest_url="http://lighter.sim", ws_url="ws://lighter.sim/stream", market="SOL",
                            account_index=LIGHTER_ACCOUNT, api_key_index=LIGHTER_KEY,
                            api_private_key=keys.private_key, chain_id=300, state_dir=state_dir, tier="premium", tx_over_ws=tx_over_ws,
                            sign_in_thread=sign_in_thread, hedge_keys=tuple(pool)),  # autojump clock: no worker threads (docs/design.md)
            rng=random.Random(seed), http_transport=lig_sim.http_transport(), ws_connect=lig_sim.connect_ws,
            wall_clock=wall)
        await n.start(ext.run, send.clone())
        lig_scope = await n.start(_run_lighter, lig, send.clone())
        ledger = Ledger(LedgerCore(Roles(maker=Leg(ext.venue, ext.rules.market), hedge=Leg(lig.venue, lig.rules.market))))
        await n.start(ledger.run, recv)
        yield SimWorld(ext_sim, ext, lig_sim, lig, ledger, n, send, lig_scope)
        n.cancel_scope.cancel()


def quiet_executor(w: SimWorld) -> HedgeExecutor:
    """The real executor on a sim world: 30 s hedge timeout, 0.05 tolerance, alerts dropped."""
    async def alert(event, severity, **details):
        await trio.lowlevel.checkpoint()

    return HedgeExecutor(ledger=w.ledger, maker=w.ext, hedge=w.lig, cfg=HedgeConfig(timeout_s=30.0),
                         tolerance=lambda: Decimal("0.05"), rng=random.Random(1), alert=alert,
                         new_client_id=w.new_client_id)
