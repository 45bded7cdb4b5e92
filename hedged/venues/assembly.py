"""Build both venue adapters from the config: against the real venues, or the embedded simulators.

In sim mode the two simulators share one seeded market (one reference price, a small
basis between the venues), get throw-away credentials, and are reached either over
127.0.0.1 sockets (`make run`, `hedged sim`, benchmarks: the adapters' real httpx and
trio-websocket stacks) or in memory (tests under the autojump clock). Either way the
adapters are the production ones; only their URLs and transports differ.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from hedged.config import Config, ExtendedVenueConfig, LighterVenueConfig, SimConfig
from hedged.secrets import SECRETS, SecretStore
from hedged.venues.extended import ExtendedClient, ExtendedSettings
from hedged.sim.extended.server import ExtendedSim
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.venues.lighter import LighterClient, LighterSettings
from hedged.venues.lighter.settings import HedgeKey
from hedged.venues.lighter.signing import generate_api_key
from hedged.sim.lighter.server import Latency, LighterSim, LighterSimSettings
from hedged.sim.lighter.tx import LighterFees
from hedged.sim.common.market import Market, MarketSettings
from hedged.sim.common.money import FundingSettings

EXTENDED_NETWORKS = {
    "mainnet": ("https://api.starknet.extended.exchange/api/v1",
                "wss://api.starknet.extended.exchange/stream.extended.exchange/v1"),
    "testnet": ("https://api.starknet.sepolia.extended.exchange/api/v1",
                "wss://api.starknet.sepolia.extended.exchange/stream.extended.exchange/v1"),
}
SIM_LIGHTER_ACCOUNT = 281474976710000  # a sub-account-sized index, as real ones are
SIM_LIGHTER_KEY_INDEX = 3
SIM_CHAIN_ID = 304


def market_settings(s: SimConfig) -> MarketSettings:
    return MarketSettings(
        seed=s.seed, start_price=s.start_price, volatility=s.volatility, spread=s.spread_bps / 10_000,
        depth_levels=s.depth_levels, level_size=s.level_size, basis=s.basis_bps / 10_000, flow_rate=s.flow_rate,
        flow_size_min=s.flow_size_min, flow_size_max=s.flow_size_max, tick_interval=s.tick_interval_s,
    )


_ID_SPAN = 1_000_000  # ids one run may use before it could meet the next run's range (see run_id_base)
_last_id_base = 0


def run_id_base() -> int:
    """A run-unique id offset: wall-clock ms x 1000, and never within `_ID_SPAN` of the last base this
    process handed out (two builds in the same millisecond). Runs started apart stay disjoint until one has
    made 1000 ids per elapsed ms, far beyond any sim's rate; the value fits the venues' id types (int64,
    Lighter order indexes below 2^52)."""
    global _last_id_base
    _last_id_base = max(int(time.time() * 1000) * 1000, _last_id_base + _ID_SPAN)
    return _last_id_base


@dataclass
class SimPair:
    """Both simulators on one market, with the credentials the adapters need."""

    market: Market
    extended: ExtendedSim
    lighter: LighterSim
    lighter_private_key: str = field(repr=False)
    lighter_account: int = SIM_LIGHTER_ACCOUNT
    lighter_key_index: int = SIM_LIGHTER_KEY_INDEX
    # venues.lighter.hedge_api_keys, each registered with its own throw-away key: index -> private key
    lighter_hedge_keys: dict[int, str] = field(default_factory=dict, repr=False)
    # where the adapters reach them: socket URLs once served, in-memory otherwise
    extended_urls: tuple[str, str] = ("", "")
    lighter_urls: tuple[str, str] = ("", "")

    @classmethod
    def build(cls, cfg: Config, *, wall_clock: Any = None, extended_chain_id: str = "SN_SIM",
              id_base: int | None = None, start_epoch_ms: int | None = None) -> SimPair:
        """Both sims for `cfg`. `extended_chain_id` is the signing domain orders must carry
        (SN_SIM for the embedded mode; SN_SEPOLIA for `hedged sim`, reached as a testnet).

        `id_base` offsets every order and trade id of both sims. By default it is run-unique
        (`run_id_base()`): a daemon restarted on the same state dir meets fresh sims, and real
        venues never reuse an id, so neither may they. Pass 0 for ids that repeat run to run.
        `start_epoch_ms` pins the Extended sim's wall clock at trio time zero (deterministic runs;
        pass the same epoch to `wall_clock` so both venues agree)."""
        s = cfg.sim
        base = run_id_base() if id_base is None else id_base
        market = Market(market_settings(s))
        funding = FundingSettings(interval_s=s.funding_interval_s)
        ext = ExtendedSim(
            ExtendedSimSettings(seed=s.seed, market=cfg.market.extended, asset=cfg.market.extended.split("-")[0],
                                market_settings=market.settings, accept_delay=s.extended_accept_delay_s,
                                cancel_delay=s.extended_accept_delay_s, domain_chain_id=extended_chain_id,
                                id_base=base, start_epoch_ms=start_epoch_ms, funding=funding),
            market=market,
        )
        latency = {"zero": Latency(), "standard": Latency.standard(), "premium": Latency.premium()}[s.lighter_latency]
        fees = {"standard": LighterFees.standard(), "premium": LighterFees.premium()}[s.lighter_fees]
        lig_settings = LighterSimSettings(seed=s.seed, latency=latency, id_base=base, fees=fees, funding=funding)
        lig_settings = replace(lig_settings, market=replace(lig_settings.market, symbol=cfg.market.lighter))
        lig = LighterSim(lig_settings, market=market, **({"wall_clock": wall_clock} if wall_clock else {}))
        keys = generate_api_key()
        lig.add_account(SIM_LIGHTER_ACCOUNT, collateral=Decimal(100_000))
        lig.register_api_key(SIM_LIGHTER_ACCOUNT, SIM_LIGHTER_KEY_INDEX, keys.public_key)
        hedge_keys = {}
        for index in cfg.venues.lighter.hedge_api_keys:  # the pool for parallel hedges, as on the venue
            extra = generate_api_key()
            lig.register_api_key(SIM_LIGHTER_ACCOUNT, index, extra.public_key)
            hedge_keys[index] = extra.private_key
        pair = cls(market=market, extended=ext, lighter=lig, lighter_private_key=keys.private_key,
                   lighter_hedge_keys=hedge_keys)
        pair.extended_urls = (ext.rest_url, ext.ws_url)
        pair.lighter_urls = ("http://lighter.sim", "ws://lighter.sim/stream")
        return pair

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SimPair]:
        """Run both engines (market steps, delays) in memory for the duration."""
        async with trio.open_nursery() as n:
            await n.start(self.extended.run)
            await n.start(self.lighter.run)
            yield self
            n.cancel_scope.cancel()

    async def serve(self, *, extended_port: int = 0, lighter_port: int = 0,
                    task_status: trio.TaskStatus[SimPair] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve both on 127.0.0.1 until cancelled; the adapters then use real sockets."""
        async with trio.open_nursery() as n:
            ext_server = await n.start(lambda task_status: self.extended.serve(port=extended_port, task_status=task_status))
            await n.start(self.lighter.run)
            lig_server = await n.start(lambda task_status: self.lighter.serve_tcp(port=lighter_port, task_status=task_status))
            self.extended_urls = (ext_server.http_url(self.extended.settings.rest_prefix),
                                  ext_server.ws_url(self.extended.settings.ws_prefix))
            self.lighter_urls = (lig_server.http_url(""), lig_server.ws_url("/stream"))
            task_status.started(self)

    def env_lines(self) -> list[str]:
        """The throw-away credentials as environment assignments, under the config's default names."""
        ext, lig = ExtendedVenueConfig(), LighterVenueConfig()
        return [f"{ext.api_key_env}={self.extended.keys.api_key}",
                f"{ext.stark_private_key_env}={self.extended.keys.private_key_hex}",
                f"{lig.api_private_key_env}={self.lighter_private_key}",
                *(f"{lig.hedge_key_env(i)}={key}" for i, key in self.lighter_hedge_keys.items())]

    def venue_toml(self) -> str:
        """A [venues.*] fragment that points a daemon in testnet mode at these sims."""
        return "\n".join([
            "[venues.extended]", 'mode = "testnet"', f'rest_url = "{self.extended_urls[0]}"',
            f'ws_url = "{self.extended_urls[1]}"', f"vault = {self.extended.settings.vault}",
            f'stark_public_key = "{self.extended.keys.public_key_hex}"', "",
            "[venues.lighter]", 'mode = "testnet"', f'rest_url = "{self.lighter_urls[0]}"',
            f'ws_url = "{self.lighter_urls[1]}"', f"account_index = {self.lighter_account}",
            *([f"hedge_api_keys = [{', '.join(map(str, self.lighter_hedge_keys))}]"] if self.lighter_hedge_keys else []),
            f"api_key_index = {self.lighter_key_index}", "",
        ])

    def remember_secrets(self, store: SecretStore) -> None:
        store.remember(self.extended.keys.api_key)
        store.remember(self.extended.keys.private_key_hex)
        store.remember(self.lighter_private_key)
        for key in self.lighter_hedge_keys.values():
            store.remember(key)


def extended_settings(cfg: Config, *, sim: SimPair | None = None, secrets: SecretStore = SECRETS) -> ExtendedSettings:
    v = cfg.venues.extended
    if v.mode == "sim":
        assert sim is not None, "sim mode needs the simulators"
        rest, ws = sim.extended_urls
        k = sim.extended.keys
        return ExtendedSettings(rest_url=v.rest_url or rest, ws_url=v.ws_url or ws, market=cfg.market.extended,
                                api_key=k.api_key, stark_private_key=k.private_key_hex,
                                stark_public_key=k.public_key_hex, vault=sim.extended.settings.vault,
                                signing_domain="sim")
    rest, ws = EXTENDED_NETWORKS[v.mode]
    return ExtendedSettings(rest_url=v.rest_url or rest, ws_url=v.ws_url or ws, market=cfg.market.extended,
                            api_key=secrets.get(v.api_key_env), stark_private_key=secrets.get(v.stark_private_key_env),
                            stark_public_key=v.stark_public_key, vault=v.vault, signing_domain=v.mode)


def lighter_settings(cfg: Config, *, sim: SimPair | None = None, secrets: SecretStore = SECRETS,
                     sign_in_thread: bool = True) -> LighterSettings:
    v = cfg.venues.lighter
    state_dir = Path(cfg.daemon.state_dir)
    if v.mode == "sim":
        assert sim is not None, "sim mode needs the simulators"
        rest, ws = sim.lighter_urls
        return LighterSettings(rest_url=v.rest_url or rest, ws_url=v.ws_url or ws, market=cfg.market.lighter,
                               account_index=sim.lighter_account, api_key_index=sim.lighter_key_index,
                               api_private_key=sim.lighter_private_key, chain_id=SIM_CHAIN_ID,
                               hedge_keys=tuple(HedgeKey(i, k) for i, k in sim.lighter_hedge_keys.items()),
                               state_dir=state_dir, tier=v.tier, sign_in_thread=sign_in_thread)
    hedge_keys = tuple(HedgeKey(i, secrets.get(v.hedge_key_env(i))) for i in v.hedge_api_keys)
    return LighterSettings.for_network(v.mode, rest_url=v.rest_url, ws_url=v.ws_url, market=cfg.market.lighter,
                                       account_index=v.account_index, api_key_index=v.api_key_index,
                                       api_private_key=secrets.get(v.api_private_key_env), hedge_keys=hedge_keys,
                                       state_dir=state_dir, tier=v.tier)


@dataclass
class Venues:
    extended: ExtendedClient
    lighter: LighterClient


def build_venues(cfg: Config, *, sim: SimPair | None, rng: random.Random, in_memory: bool = False,
                 secrets: SecretStore = SECRETS, **client_kw: Any) -> Venues:
    """The two adapters. `in_memory` routes sim-mode adapters through the sims' memory transports
    (`client_kw` may replace them, e.g. DST's cuttable cables)."""
    ext_kw: dict[str, Any] = {}
    lig_kw: dict[str, Any] = {}
    if in_memory and sim is not None:
        if cfg.venues.extended.mode == "sim":
            ext_kw = {"http_transport": sim.extended.http_transport(), "ws_connect": sim.extended.connect_ws}
        if cfg.venues.lighter.mode == "sim":
            lig_kw = {"http_transport": sim.lighter.http_transport(), "ws_connect": sim.lighter.connect_ws}
    ext = ExtendedClient(extended_settings(cfg, sim=sim, secrets=secrets), rng=random.Random(rng.random()),
                         **{**ext_kw, **client_kw.get("extended", {})})
    # In memory means a test under the mock clock: sign on the Trio thread (see docs/design.md).
    lig_settings = lighter_settings(cfg, sim=sim, secrets=secrets, sign_in_thread=not in_memory)
    lig = LighterClient(lig_settings, rng=random.Random(rng.random()),
                        **{**lig_kw, **client_kw.get("lighter", {})})
    return Venues(extended=ext, lighter=lig)
