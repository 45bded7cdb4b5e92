"""Reconciliation tests' world: both simulators (which outlive any one "process"), and the real
adapters + real Ledger (optionally on a journal file) that a test can start, kill without any
cleanup (as SIGKILL would) and start again on the same journal and state dir.

`Hook` wraps a simulator's in-memory HTTP transport so a test can make something happen at the
venue at an exact point of a REST round trip (e.g. a fill between two calls), deterministically
under the autojump clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import trio

from hedged.ledger import Ledger, LedgerCore, Leg, Roles
from hedged.venues.extended.client import ExtendedClient, ExtendedSettings
from hedged.sim.extended.server import ExtendedSim
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.venues.lighter.client import LighterClient, LighterSettings
from hedged.venues.lighter.signing import generate_api_key
from hedged.sim.lighter.server import Latency, LighterSim, LighterSimSettings, trio_wall_clock

LIGHTER_ACCOUNT, LIGHTER_KEY = 604118, 5


class Hook(httpx.AsyncBaseTransport):
    """Delegates to the simulator's transport; before a request whose `METHOD path` matches a
    registered trigger, awaits that trigger once (it may fill an order, wait for the stream...)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.triggers: list[list] = []  # [endpoint, skip, after, action]
        self.seen: list[str] = []
        self.delay: dict[str, float] = {}  # "METHOD path" -> seconds every such request takes

    def once(self, endpoint: str, action: Callable[[], Awaitable[None]], *, skip: int = 0,
             after: bool = False) -> None:
        """Run `action` once, at the (skip+1)-th request to `endpoint`: before the venue answers it,
        or (`after`) once the venue has answered but before the answer reaches the client."""
        self.triggers.append([endpoint, skip, after, action])

    def _due(self, endpoint: str) -> list:
        for t in self.triggers:
            if t[0] == endpoint:
                if t[1] == 0:
                    self.triggers.remove(t)
                    return t
                t[1] -= 1
                return []
        return []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = f"{request.method} {request.url.path}"
        self.seen.append(endpoint)
        due = self._due(endpoint)
        if due and not due[2]:
            await due[3]()
        if endpoint in self.delay:
            await trio.sleep(self.delay[endpoint])
        response = await self.inner.handle_async_request(request)
        if due and due[2]:
            await due[3]()
        return response


@dataclass
class Sims:
    ext: ExtendedSim
    lig: LighterSim
    keys: object
    state_dir: Path

    def lig_position(self) -> Decimal:
        return self.lig.position(LIGHTER_ACCOUNT)

    def lig_trades(self) -> list:
        return self.lig.fills(LIGHTER_ACCOUNT)


@dataclass
class Proc:
    """One daemon "process": adapters, ledger, and the nursery they run in."""

    sims: Sims
    ext: ExtendedClient
    lig: LighterClient
    ledger: Ledger
    ext_hook: Hook
    lig_hook: Hook
    nursery: trio.Nursery
    ids: list[str] = field(default_factory=list)

    def new_client_id(self, venue) -> str:
        return (self.ext if venue == self.ext.venue else self.lig).new_client_id()


@asynccontextmanager
async def sims(tmp_path: Path, *, seed: int = 7, lighter_latency: Latency | None = None, ext_kw: dict | None = None):
    ext_sim = ExtendedSim(ExtendedSimSettings(seed=seed, live_market=False, domain_chain_id="SN_SIM", **(ext_kw or {})))
    lig_sim = LighterSim(LighterSimSettings(seed=seed, latency=lighter_latency or Latency()), wall_clock=trio_wall_clock())
    keys = generate_api_key()
    lig_sim.add_account(LIGHTER_ACCOUNT, collateral=Decimal(1_000_000))
    lig_sim.register_api_key(LIGHTER_ACCOUNT, LIGHTER_KEY, keys.public_key)
    async with trio.open_nursery() as n:
        await n.start(ext_sim.run)
        await n.start(lig_sim.run)
        yield Sims(ext_sim, lig_sim, keys, tmp_path / "state")
        n.cancel_scope.cancel()


@asynccontextmanager
async def process(s: Sims, *, journal: Path | None = None, seed: int = 7):
    """Start adapters and ledger; leaving the block tears them down with no cleanup at the venues."""
    ext_hook, lig_hook = Hook(s.ext.http_transport()), Hook(s.lig.http_transport())
    send, recv = trio.open_memory_channel(math.inf)
    async with trio.open_nursery() as n:
        ext = ExtendedClient(
            ExtendedSettings(rest_url=s.ext.rest_url, ws_url=s.ext.ws_url, market=s.ext.settings.market,
                             api_key=s.ext.keys.api_key, stark_private_key=s.ext.keys.private_key_hex,
                             stark_public_key=s.ext.keys.public_key_hex, vault=s.ext.settings.vault,
                             signing_domain="sim"),
            http_transport=ext_hook, ws_connect=s.ext.connect_ws, rng=random.Random(seed),
            wall_clock=lambda: s.ext.now_ms() / 1000)
        lig = LighterClient(
            LighterSettings(rest_url="http://lighter.sim", ws_url="ws://lighter.sim/stream", market="SOL",
                            account_index=LIGHTER_ACCOUNT, api_key_index=LIGHTER_KEY,
                            api_private_key=s.keys.private_key, chain_id=300, state_dir=s.state_dir,
                            tier="premium", sign_in_thread=False),
            rng=random.Random(seed), http_transport=lig_hook, ws_connect=s.lig.connect_ws, wall_clock=trio_wall_clock())
        await n.start(ext.run, send.clone())
        await n.start(lig.run, send.clone())
        roles = Roles(maker=Leg(ext.venue, ext.rules.market), hedge=Leg(lig.venue, lig.rules.market))
        ledger = Ledger.open(roles, journal) if journal is not None else Ledger(LedgerCore(roles))
        ledger.write_in_thread = False  # autojump clock: a worker thread looks idle to it (as the engine's in-memory mode)
        await n.start(ledger.run, recv)
        try:
            yield Proc(s, ext, lig, ledger, ext_hook, lig_hook, n)
        finally:
            n.cancel_scope.cancel()
    if journal is not None:
        ledger.close()
