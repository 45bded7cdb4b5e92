"""Normal flows of the Lighter adapter against the in-memory simulator; the venue's truth is the referee."""

import sys
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from hedged.venues.base import (
    OrderRejected,
    OrderStatus,
    OrderUpdate,
    PositionSnapshot,
    Side,
    TimeInForce,
    Trade,
    VenueClient,
)
from hedged.sim.lighter.server import LighterSimSettings

sys.path.insert(0, str(Path(__file__).parent))
from lighter_harness import ACCOUNT, running  # noqa: E402


def fills_of(h, client_id: str) -> Decimal:
    h.drain()
    return sum((e.qty for e in h.seen if isinstance(e, Trade) and e.client_id == client_id), Decimal(0))


async def test_client_starts_with_rules_book_and_healthy_streams(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        assert isinstance(h.client, VenueClient)
        assert h.client.rules.tick == Decimal("0.001") and h.client.rules.min_size == Decimal("0.050")
        top = h.client.top_of_book.value
        assert top is not None and top.bid < top.ask
        assert h.client.health().fresh(max_age_s=1.0)
        assert h.client.spec.market_id == 2  # looked up by symbol among several listed markets


async def test_ioc_buy_hedge_fills_and_matches_the_venue_position(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        top = h.client.top_of_book.value
        cid = h.client.new_client_id()
        price = h.client.rules.round_price(top.ask * Decimal("1.01"), up=True)
        ack = await h.client.place_taker(Side.BUY, Decimal("0.500"), price, cid)
        assert ack.client_id == cid
        done = await h.wait_order(cid, lambda u: u.status.is_terminal)
        assert done.status is OrderStatus.FILLED and done.filled_qty == Decimal("0.500")
        await h.wait_for(lambda e: isinstance(e, PositionSnapshot) and e.size == Decimal("0.500"))
        assert fills_of(h, cid) == Decimal("0.500")
        [pos] = await h.client.positions()
        assert pos.size == h.sim.position(ACCOUNT) == Decimal("0.500")
        status = await h.client.order_status(cid)
        assert status.status is OrderStatus.FILLED and status.filled_qty == Decimal("0.500")


async def test_ioc_larger_than_the_book_ends_cancelled_with_its_partial_fill(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        top = h.client.top_of_book.value
        cid = h.client.new_client_id()
        price = h.client.rules.round_price(top.bid * Decimal("0.995"), up=False)
        await h.client.place_taker(Side.SELL, Decimal("5000.000"), price, cid)
        done = await h.wait_order(cid, lambda u: u.status.is_terminal)
        assert done.status is OrderStatus.CANCELLED and done.reason.startswith("canceled")
        assert 0 < done.filled_qty < Decimal("5000")
        truth = h.sim.order_by_client_id(ACCOUNT, int(cid))
        assert h.sim.position(ACCOUNT) == -done.filled_qty
        assert truth is not None
        assert fills_of(h, cid) == done.filled_qty


async def test_resting_gtt_order_is_cancelled_by_client_id(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        top = h.client.top_of_book.value
        cid = h.client.new_client_id()
        price = h.client.rules.round_price(top.bid * Decimal("0.9"), up=False)
        await h.client.place_taker(Side.BUY, Decimal("1.000"), price, cid, TimeInForce.GTT)
        opened = await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        assert [o.client_id for o in await h.client.open_orders()] == [cid]
        await h.client.cancel(client_id=cid)
        done = await h.wait_order(cid, lambda u: u.status.is_terminal)
        assert done.status is OrderStatus.CANCELLED and done.filled_qty == 0
        assert opened.order_id == done.order_id
        assert await h.client.open_orders() == [] and h.sim.open_orders(ACCOUNT) == []


async def test_orders_sent_on_two_api_keys_at_once_are_cancelled_through_whichever_key_is_free(tmp_path, autojump_clock):
    # A pool of keys: two hedges placed concurrently go out on keys 5 and 6; Lighter's orders belong to the
    # account, so each cancel names the order index and takes the first free key (5 both times here).
    async with running(tmp_path, hedge_keys=(6,)) as h:
        ex = h.sim.exchange
        before = {k: ex.next_nonce(ACCOUNT, k) for k in (5, 6)}
        top = h.client.top_of_book.value
        cids = [h.client.new_client_id() for _ in range(2)]
        async with trio.open_nursery() as n:
            for i, cid in enumerate(cids):
                price = h.client.rules.round_price(top.bid * Decimal("0.9") - i, up=False)
                n.start_soon(h.client.place_taker, Side.BUY, Decimal("0.100"), price, cid, TimeInForce.GTT)
        assert {k: ex.next_nonce(ACCOUNT, k) - before[k] for k in (5, 6)} == {5: 1, 6: 1}
        for cid in cids:
            await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        for cid in cids:
            await h.client.cancel(client_id=cid)
        for cid in cids:
            assert (await h.wait_order(cid, lambda u: u.status.is_terminal)).status is OrderStatus.CANCELLED
        assert {k: ex.next_nonce(ACCOUNT, k) - before[k] for k in (5, 6)} == {5: 3, 6: 1}
        assert h.sim.open_orders(ACCOUNT) == []
        assert h.client.statistics().counters["nonce_fetches"] == 2  # one per key at start, none since


async def test_modify_moves_a_resting_order_and_it_then_fills(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        top = h.client.top_of_book.value
        cid = h.client.new_client_id()
        far = h.client.rules.round_price(top.bid * Decimal("0.9"), up=False)
        await h.client.place_taker(Side.BUY, Decimal("0.200"), far, cid, TimeInForce.GTT)
        opened = await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        through = h.client.rules.round_price(h.client.top_of_book.value.ask * Decimal("1.01"), up=True)
        await h.client.modify(opened.order_id, price=through, qty=Decimal("0.200"))
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        assert h.sim.position(ACCOUNT) == Decimal("0.200")


async def test_cancel_all_leaves_no_open_order(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        top = h.client.top_of_book.value
        cids = [h.client.new_client_id() for _ in range(3)]
        for i, cid in enumerate(cids):
            price = h.client.rules.round_price(top.bid * Decimal("0.9") - i, up=False)
            await h.client.place_taker(Side.BUY, Decimal("0.100"), price, cid, TimeInForce.GTT)
        for cid in cids:
            await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        await h.client.cancel_all()
        for cid in cids:
            await h.wait_order(cid, lambda u: u.status is OrderStatus.CANCELLED)
        assert h.sim.open_orders(ACCOUNT) == []


async def test_cancel_all_long_after_start_cancels_every_resting_order(tmp_path, autojump_clock):
    # The Go signer stamps ExpiredAt (about now + 10 min) from the host clock; the simulator's wall clock runs
    # with trio's MockClock. Twenty virtual minutes in, a cancel-all must still be accepted and executed.
    async with running(tmp_path, sim_settings=LighterSimSettings(book_interval_s=5.0)) as h:
        top = h.client.top_of_book.value
        cids = [h.client.new_client_id() for _ in range(3)]
        for i, cid in enumerate(cids):
            price = h.client.rules.round_price(top.bid * Decimal("0.9") - i, up=False)
            await h.client.place_taker(Side.BUY, Decimal("0.100"), price, cid, TimeInForce.GTT)
        await h.sim.executed.wait_value(lambda n: n >= len(cids))
        assert len(h.sim.open_orders(ACCOUNT)) == len(cids)
        await trio.sleep(20 * 60)
        executed = h.sim.executed.value
        await h.client.cancel_all()
        with trio.fail_after(10):
            await h.sim.executed.wait_value(lambda n: n > executed)
        assert h.sim.open_orders(ACCOUNT) == []


async def test_post_only_maker_that_would_cross_is_cancelled_not_filled(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        top = h.client.top_of_book.value
        cid = h.client.new_client_id()
        await h.client.place_maker(Side.BUY, Decimal("0.100"), h.client.rules.round_price(top.ask * Decimal("1.01"), up=True), cid)
        done = await h.wait_order(cid, lambda u: u.status.is_terminal)
        assert done.status is OrderStatus.CANCELLED and done.filled_qty == 0
        assert h.sim.position(ACCOUNT) == 0


async def test_non_numeric_client_id_is_mapped_and_reported_back(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        top = h.client.top_of_book.value
        price = h.client.rules.round_price(top.ask * Decimal("1.01"), up=True)
        await h.client.place_taker(Side.BUY, Decimal("0.100"), price, "hedge-42")
        done = await h.wait_order("hedge-42", lambda u: u.status.is_terminal)
        assert done.status is OrderStatus.FILLED
        assert (await h.client.order_status("hedge-42")).filled_qty == Decimal("0.100")


async def test_orders_below_the_minimum_or_off_the_grid_are_refused_locally(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        px = h.client.top_of_book.value.ask
        with pytest.raises(OrderRejected):
            await h.client.place_taker(Side.BUY, Decimal("0.010"), px, h.client.new_client_id())
        with pytest.raises(OrderRejected):
            await h.client.place_taker(Side.BUY, Decimal("0.1005"), px, h.client.new_client_id())
        assert h.client.statistics().counters["nonce_invalidations"] == 0


async def test_reusing_a_client_id_is_refused_before_sending(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        px = h.client.rules.round_price(h.client.top_of_book.value.ask * Decimal("1.01"), up=True)
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.100"), px, cid)
        with pytest.raises(OrderRejected):
            await h.client.place_taker(Side.BUY, Decimal("0.100"), px, cid)


async def test_orders_over_rest_when_ws_sending_is_off(tmp_path, autojump_clock):
    async with running(tmp_path, tx_over_ws=False) as h:
        px = h.client.rules.round_price(h.client.top_of_book.value.ask * Decimal("1.01"), up=True)
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.100"), px, cid)
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        assert h.sim.position(ACCOUNT) == Decimal("0.100")


async def test_settings_repr_and_errors_never_show_the_private_key(tmp_path):
    from lighter_harness import _KEYS, settings_for

    s = settings_for(tmp_path)
    assert _KEYS.private_key not in repr(s)
    with pytest.raises(ValueError) as err:
        settings_for(tmp_path, api_private_key="zz" + _KEYS.private_key[2:])
    assert _KEYS.private_key[2:] not in str(err.value)
    assert isinstance(OrderUpdate, type)


async def test_an_unlisted_market_fails_the_start_with_a_typed_error(tmp_path, autojump_clock):
    with pytest.RaisesGroup(OrderRejected, flatten_subgroups=True):
        async with running(tmp_path, market="DOGE"):
            pass


async def test_a_key_the_venue_does_not_know_is_an_auth_error_on_send(tmp_path, autojump_clock):
    from hedged.venues.base import AuthError

    async with running(tmp_path) as h:
        h.sim.exchange.accounts[ACCOUNT].api_keys.pop(5)
        with pytest.raises(AuthError):
            await h.client.place_taker(Side.BUY, Decimal("0.100"), h.client.top_of_book.value.ask, h.client.new_client_id())
        assert h.sim.open_orders(ACCOUNT) == [] and h.sim.position(ACCOUNT) == 0


async def test_a_hedge_and_a_flatten_sent_together_never_race_for_a_nonce(tmp_path, autojump_clock):
    import trio

    async with running(tmp_path) as h:
        top = h.client.top_of_book.value
        buy = h.client.rules.round_price(top.ask * Decimal("1.01"), up=True)
        sell = h.client.rules.round_price(top.bid * Decimal("0.99"), up=False)
        cids = [h.client.new_client_id() for _ in range(6)]
        async with trio.open_nursery() as n:
            for i, cid in enumerate(cids):
                side, px = (Side.BUY, buy) if i % 2 == 0 else (Side.SELL, sell)
                n.start_soon(h.client.place_taker, side, Decimal("0.100"), px, cid)
        for cid in cids:
            await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        assert h.client.statistics().counters["nonce_invalidations"] == 0
        assert h.sim.position(ACCOUNT) == 0


def test_network_presets_fill_urls_and_chain_id(tmp_path):
    from lighter_harness import _KEYS

    from hedged.venues.lighter import LighterSettings

    s = LighterSettings.for_network("testnet", market="SOL", account_index=1, api_key_index=4,
                                    api_private_key=_KEYS.private_key, state_dir=tmp_path)  # fmt: skip
    assert s.chain_id == 300 and s.ws_url.endswith("/stream") and "testnet" in s.rest_url
