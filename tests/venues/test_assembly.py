"""The venue assembly: both production adapters come up against the embedded simulators."""

from __future__ import annotations

import dataclasses
import random

import trio

from hedged.config import Config
from hedged.secrets import SecretStore
from hedged.venues.assembly import SimPair, build_venues
from hedged.venues.base import Venue
from hedged.sim.lighter.server import trio_wall_clock


def _cfg(tmp_path) -> Config:
    cfg = Config()
    return dataclasses.replace(cfg, daemon=dataclasses.replace(cfg.daemon, state_dir=tmp_path))


async def _bring_up(venues, pair) -> None:
    send, recv = trio.open_memory_channel(1000)
    async with trio.open_nursery() as n:
        n.start_soon(_drain, recv)
        await n.start(venues.extended.run, send.clone())
        await n.start(venues.lighter.run, send.clone())
        assert venues.extended.rules.venue is Venue.EXTENDED
        assert venues.lighter.rules.min_notional > 0
        ext_top = await venues.extended.top_of_book.wait_value(lambda t: t is not None and t.bid is not None)
        lig_top = await venues.lighter.top_of_book.wait_value(lambda t: t is not None and t.ask is not None)
        # One market, a small basis: the two mids agree to well within a percent.
        assert abs(ext_top.mid - lig_top.mid) / ext_top.mid < 0.01
        assert venues.extended.health().fresh(60) and venues.lighter.health().fresh(60)
        n.cancel_scope.cancel()


async def _drain(recv) -> None:
    async for _ in recv:
        pass


async def test_adapters_reach_ready_against_the_in_memory_simulators(autojump_clock, tmp_path):
    cfg = _cfg(tmp_path)
    pair = SimPair.build(cfg, wall_clock=trio_wall_clock())
    store = SecretStore(environ={})
    pair.remember_secrets(store)
    assert store.redact(pair.lighter_private_key) == "***"
    venues = build_venues(cfg, sim=pair, rng=random.Random(1), in_memory=True, secrets=store)
    with trio.fail_after(60):
        async with pair.running():
            await _bring_up(venues, pair)


async def test_adapters_reach_ready_against_simulators_on_loopback_sockets(sim_pair_tcp, sim_config):
    pair = sim_pair_tcp
    assert pair.extended_urls[0].startswith("http://127.0.0.1:")
    assert pair.lighter_urls[1].startswith("ws://127.0.0.1:")
    venues = build_venues(sim_config, sim=pair, rng=random.Random(2))
    with trio.fail_after(30):
        await _bring_up(venues, pair)


def test_sim_pair_exports_credentials_under_the_configs_secret_names(sim_config):
    pair = SimPair.build(sim_config)
    lines = dict(line.split("=", 1) for line in pair.env_lines())
    assert set(lines) == {"HEDGED_EXTENDED_API_KEY", "HEDGED_EXTENDED_STARK_PRIVATE_KEY", "HEDGED_LIGHTER_API_PRIVATE_KEY"}
    assert lines["HEDGED_LIGHTER_API_PRIVATE_KEY"] == pair.lighter_private_key
    assert pair.extended.keys.private_key_hex not in pair.venue_toml()


async def _ids_of_one_run(cfg, **build_kw) -> tuple[set[str], set[str]]:
    """Build a SimPair, trade once on each venue through the real adapters; the (order ids, trade ids) seen."""
    from decimal import Decimal

    from hedged.venues.base import OrderUpdate, Side, TimeInForce, Trade

    pair = SimPair.build(cfg, wall_clock=trio_wall_clock(), **build_kw)
    venues = build_venues(cfg, sim=pair, rng=random.Random(1), in_memory=True, secrets=SecretStore(environ={}))
    send, recv = trio.open_memory_channel(10_000)
    orders: set[str] = set()
    trades: set[str] = set()
    with trio.fail_after(60):
        async with pair.running(), trio.open_nursery() as n:
            await n.start(venues.extended.run, send.clone())
            await n.start(venues.lighter.run, send.clone())
            ext, lig = venues.extended, venues.lighter
            cid = ext.new_client_id()
            await ext.place_maker(Side.BUY, Decimal("0.5"), ext.top_of_book.value.bid - Decimal("0.05"), cid)
            await pair.extended.wait_idle()
            pair.extended.force_fill(cid, Decimal("0.5"))
            hedge = lig.new_client_id()
            price = lig.rules.round_price(lig.top_of_book.value.ask * Decimal("1.01"), up=True)
            await lig.place_taker(Side.BUY, Decimal("0.5"), price, hedge, TimeInForce.IOC)
            both = {"extended", "lighter"}
            while {i.split(":")[0] for i in orders} != both or {i.split(":")[0] for i in trades} != both:
                event = await recv.receive()
                if isinstance(event, OrderUpdate) and event.order_id is not None:
                    orders.add(f"{event.venue}:{event.order_id}")
                if isinstance(event, Trade):
                    trades.add(f"{event.venue}:{event.trade_id}")
            for client in (ext, lig):
                trades |= {f"{t.venue}:{t.trade_id}" for t in await client.trades()}
            n.cancel_scope.cancel()
    return orders, trades


async def test_two_sim_pairs_built_in_sequence_never_share_an_order_or_trade_id(autojump_clock, tmp_path):
    cfg = _cfg(tmp_path)
    first_orders, first_trades = await _ids_of_one_run(cfg)
    second_orders, second_trades = await _ids_of_one_run(cfg)
    assert len(first_orders) >= 2 and len(first_trades) >= 2 and len(second_orders) >= 2
    assert not first_orders & second_orders
    assert not first_trades & second_trades


async def test_sim_pairs_with_a_fixed_id_base_repeat_their_ids(autojump_clock, tmp_path):
    cfg = _cfg(tmp_path)
    first = await _ids_of_one_run(cfg, id_base=0)
    assert first == await _ids_of_one_run(cfg, id_base=0)
