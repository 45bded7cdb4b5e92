"""ExtendedClient against the in-memory simulator: the normal flows (autojump clock)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from adapter_fixtures import Observed, assert_reaches_truth, open_sim_client, settled, until

from hedged.venues.base import (
    NotSupported,
    OrderRejected,
    OrderStatus,
    Side,
    TimeInForce,
    TransportError,
    VenueClient,
    VenueError,
)
from hedged.venues.extended import ExtendedClient, ExtendedSettings

D = Decimal


def below_bid(client, ticks: int = 5) -> Decimal:
    top = client.top_of_book.value
    return top.bid - client.rules.tick * ticks


async def test_client_is_ready_with_rules_book_and_healthy_streams(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        assert isinstance(client, VenueClient)
        assert client.rules.tick == D("0.01") and client.rules.min_size == D("0.1")
        top = client.top_of_book.value
        assert top.bid == sim.book.best_bid and top.ask == sim.book.best_ask
        health = client.health()
        assert health.fresh(5.0) and set(health.streams) == {"account", "book"}
        observed = Observed()
        await until(events, observed, lambda o: o.position is not None)
        assert observed.position == 0


async def test_maker_order_is_acknowledged_then_reported_open(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        cid = client.new_client_id()
        ack = await client.place_maker(Side.BUY, D("0.5"), below_bid(client), cid)
        assert ack.client_id == cid and ack.order_id == str(sim.engine.by_external[cid])
        observed = Observed()
        await until(events, observed, lambda o: cid in o.orders and o.orders[cid].status is OrderStatus.OPEN)
        order = sim.order(cid)
        assert order["postOnly"] is True and order["timeInForce"] == "GTT"


async def test_partial_fill_then_cancel_reports_the_fill_once_with_position(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        cid = client.new_client_id()
        await client.place_maker(Side.SELL, D("1.37"), sim.book.best_ask + D("0.05"), cid)
        await sim.wait_idle()
        sim.force_fill(cid, D("0.4"))
        await client.cancel(client_id=cid)
        await sim.wait_idle()
        observed = Observed()
        await until(events, observed, settled(sim, cid))
        final = observed.orders[cid]
        assert final.status is OrderStatus.CANCELLED and final.filled_qty == D("0.4")
        assert sum(t.qty for t in observed.trades.values()) == D("0.4")
        assert observed.position == D("-0.4")


async def test_crossing_post_only_order_ends_rejected_with_reason(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        cid = client.new_client_id()
        await client.place_maker(Side.BUY, D("0.5"), sim.book.best_ask, cid)
        observed = Observed()
        await until(events, observed, lambda o: cid in o.orders and o.orders[cid].status.is_terminal)
        assert observed.orders[cid].reason == "POST_ONLY_FAILED" and observed.orders[cid].filled_qty == 0


async def test_taker_ioc_fills_against_the_book(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        cid = client.new_client_id()
        ask = client.top_of_book.value.ask
        await client.place_taker(Side.BUY, D("0.3"), ask + client.rules.tick * 10, cid, TimeInForce.IOC)
        observed = Observed()
        await until(events, observed, settled(sim, cid))
        assert observed.orders[cid].status is OrderStatus.FILLED and observed.position == D("0.3")
        assert sim.order(cid)["timeInForce"] == "IOC"


async def test_orders_off_tick_or_step_are_refused_before_sending(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        before = sim.stats_requests
        with pytest.raises(OrderRejected):
            await client.place_maker(Side.BUY, D("0.505"), below_bid(client), client.new_client_id())
        with pytest.raises(OrderRejected):
            await client.place_maker(Side.BUY, D("0.05"), below_bid(client), client.new_client_id())
        with pytest.raises(OrderRejected):
            await client.place_maker(Side.BUY, D("0.5"), below_bid(client) + D("0.005"), client.new_client_id())
        assert sim.stats_requests == before


async def test_venue_business_rejection_is_typed_with_its_code(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        cid = client.new_client_id()
        far = client.rules.round_price(sim.engine.mark * D("1.5"), up=False)
        with pytest.raises(OrderRejected) as info:
            await client.place_taker(Side.BUY, D("0.3"), far, cid)
        assert info.value.code == "1141"
        assert cid not in sim.engine.by_external
        assert client._tracker.get(cid) is None


async def test_cancel_all_cancels_every_open_order(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        ids = [client.new_client_id() for _ in range(3)]
        for i, cid in enumerate(ids):
            await client.place_maker(Side.BUY, D("0.2"), below_bid(client, 3 + i), cid)
        await sim.wait_idle()
        assert len(sim.open_orders()) == 3
        await client.cancel_all()
        await sim.wait_idle()
        observed = Observed()
        await until(events, observed, settled(sim, *ids))
        assert sim.open_orders() == [] and await client.open_orders() == []
        assert all(observed.orders[c].status is OrderStatus.CANCELLED for c in ids)


async def test_cancel_by_venue_id_works(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        cid = client.new_client_id()
        ack = await client.place_maker(Side.BUY, D("0.2"), below_bid(client), cid)
        await sim.wait_idle()
        await client.cancel(order_id=ack.order_id)
        await sim.wait_idle()
        observed = Observed()
        await until(events, observed, settled(sim, cid))
        assert observed.orders[cid].status is OrderStatus.CANCELLED


async def test_cancel_of_an_unknown_order_raises_and_of_a_finished_one_returns(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        with pytest.raises(VenueError):  # NotFound: nothing to cancel, and the caller must know
            await client.cancel(client_id="hd-never-placed")
        cid = client.new_client_id()
        await client.place_taker(Side.BUY, D("0.2"), client.top_of_book.value.ask + D("0.1"), cid)
        observed = Observed()
        await until(events, observed, settled(sim, cid))
        await client.cancel(client_id=cid)  # finished: quiet, whatever the venue answers


async def test_reads_reflect_the_venue(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        resting = client.new_client_id()
        filled = client.new_client_id()
        await client.place_maker(Side.BUY, D("0.5"), below_bid(client), resting)
        await client.place_taker(Side.SELL, D("0.3"), client.top_of_book.value.bid - D("0.1"), filled)
        await sim.wait_idle()
        opens = await client.open_orders()
        assert [o.client_id for o in opens] == [resting] and opens[0].status is OrderStatus.OPEN
        (position,) = await client.positions()
        assert position.size == sim.position() == D("-0.3")
        status = await client.order_status(filled)
        assert status.status is OrderStatus.FILLED and status.filled_qty == D("0.3")
        assert await client.order_status("hd-unknown") is None


async def test_modify_is_not_supported(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        with pytest.raises(NotSupported):
            await client.modify("1", price=D("1"), qty=D("1"))


async def test_client_ids_are_unique_short_and_differ_across_restarts() -> None:
    import random

    settings = ExtendedSettings(rest_url="http://x", ws_url="ws://x", market="SOL-USD", api_key="k",
                                stark_private_key="0x1", stark_public_key="0x2", vault=1)
    first = ExtendedClient(settings, rng=random.Random(1), wall_clock=lambda: 1_800_000_000.0)
    # A restart with the same seed and even the same clock still differs by the random part.
    second = ExtendedClient(settings, rng=random.Random(2), wall_clock=lambda: 1_800_000_000.0)
    ids = {first.new_client_id() for _ in range(1000)} | {second.new_client_id() for _ in range(1000)}
    assert len(ids) == 2000 and max(len(i) for i in ids) <= 32 and all(i.isascii() for i in ids)


async def test_calls_before_run_raise_transport_error() -> None:
    settings = ExtendedSettings(rest_url="http://x", ws_url="ws://x", market="SOL-USD", api_key="k",
                                stark_private_key="0x1", stark_public_key="0x2", vault=1)
    client = ExtendedClient(settings)
    with pytest.raises(TransportError):
        await client.open_orders()


def test_settings_repr_hides_secrets_and_rejects_unknown_domains() -> None:
    settings = ExtendedSettings(rest_url="http://x", ws_url="ws://x", market="SOL-USD", api_key="APIKEY-123",
                                stark_private_key="0xdeadbeef", stark_public_key="0x2", vault=1)
    assert "APIKEY-123" not in repr(settings) and "deadbeef" not in repr(settings)
    with pytest.raises(ValueError):
        ExtendedSettings(rest_url="http://x", ws_url="ws://x", market="SOL-USD", api_key="k",
                         stark_private_key="0x1", stark_public_key="0x2", vault=1, signing_domain="moon")
    with pytest.raises(TypeError):
        ExtendedSettings(rest_url="http://x", ws_url="ws://x", market="SOL-USD", api_key="k",
                         stark_private_key="0x1", stark_public_key="0x2", vault=1, unknown=1)


async def test_many_fills_across_orders_reach_the_venue_truth(autojump_clock) -> None:
    async with open_sim_client(seed=5) as (client, sim, events):
        ids = []
        for i in range(6):
            cid = client.new_client_id()
            side = Side.BUY if i % 2 == 0 else Side.SELL
            price = below_bid(client, 2 + i) if side is Side.BUY else client.top_of_book.value.ask + D("0.01") * (2 + i)
            await client.place_maker(side, D("1"), price, cid)
            ids.append(cid)
        await sim.wait_idle()
        for n, cid in enumerate(ids):
            sim.force_fill(cid, D("0.25"))
            if n % 3 == 0:
                sim.force_fill(cid, D("0.75"))
        await client.cancel_all()
        await sim.wait_idle()
        observed = Observed()
        await until(events, observed, settled(sim, *ids))
        assert_reaches_truth(observed, sim)
