"""Every fault knob of the Lighter simulator; after each, the adapter agrees with the venue's truth."""

import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import trio

from hedged.venues.base import AmbiguousOutcome, OrderStatus, RateLimited, Side, TimeInForce, TransportError
from hedged.venues.lighter import wire
from hedged.sim.lighter.server import LighterSimSettings
from hedged.sim.common.faults import Fault, FaultKind, FaultPlan

sys.path.insert(0, str(Path(__file__).parent))
from lighter_harness import ACCOUNT, KEY, running  # noqa: E402

ORDERS = f"account_orders/2/{ACCOUNT}"


def through(h, side=Side.BUY) -> Decimal:
    top = h.client.top_of_book.value
    if side is Side.BUY:
        return h.client.rules.round_price(top.ask * Decimal("1.01"), up=True)
    return h.client.rules.round_price(top.bid * Decimal("0.99"), up=False)


def away(h) -> Decimal:
    return h.client.rules.round_price(h.client.top_of_book.value.bid * Decimal("0.9"), up=False)


async def hedge(h, qty="0.100", side=Side.BUY) -> str:
    cid = h.client.new_client_id()
    await h.client.place_taker(side, Decimal(qty), through(h, side), cid)
    return cid


async def test_nonce_skipped_at_the_venue_is_refetched_and_the_order_resigned(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        h.sim.skip_nonce(ACCOUNT, KEY, by=3)
        cid = await hedge(h)
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        stats = h.client.statistics()
        assert stats.counters["nonce_invalidations"] == 1 and stats.counters["nonce_fetches"] == 2
        assert h.sim.position(ACCOUNT) == Decimal("0.100")


@pytest.mark.parametrize("target", ["WS jsonapi/sendtx", "POST /sendTx"])
async def test_invalid_nonce_reply_on_either_path_is_retried_once_with_a_fresh_nonce(tmp_path, autojump_clock, target):
    plan = FaultPlan(seed=1)
    plan.add(Fault(FaultKind.REJECT, target=target, code=21104))
    async with running(tmp_path, faults=plan, tx_over_ws=target.startswith("WS")) as h:
        cid = await hedge(h)
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        assert h.client.statistics().counters["nonce_fetches"] == 2
        assert plan.history


async def test_sendtx_5xx_is_ambiguous_and_the_lookup_shows_nothing_was_placed(tmp_path, autojump_clock):
    plan = FaultPlan(seed=1)
    plan.add(Fault(FaultKind.HTTP_ERROR, target="POST /sendTx", status=503))
    async with running(tmp_path, faults=plan, tx_over_ws=False) as h:
        cid = h.client.new_client_id()
        with pytest.raises(AmbiguousOutcome):
            await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h), cid)
        assert await h.client.order_status(cid) is None
        assert h.sim.order_by_client_id(ACCOUNT, int(cid)) is None
        cid2 = await hedge(h)  # the nonce was refetched, the next send goes through
        await h.wait_order(cid2, lambda u: u.status is OrderStatus.FILLED)


async def test_sendtx_429_is_rate_limited_and_reuses_the_nonce(tmp_path, autojump_clock):
    plan = FaultPlan(seed=1)
    plan.add(Fault(FaultKind.RATE_LIMIT, target="POST /sendTx"))
    async with running(tmp_path, faults=plan, tx_over_ws=False) as h:
        with pytest.raises(RateLimited):
            await hedge(h)
        cid = await hedge(h)
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        assert h.client.statistics().counters["nonce_fetches"] == 1


@pytest.mark.parametrize("target", ["WS jsonapi/sendtx", "POST /sendTx"])
async def test_lost_ack_is_ambiguous_and_the_order_is_found_by_client_id(tmp_path, autojump_clock, target):
    plan = FaultPlan(seed=1)
    plan.add(Fault(FaultKind.LOST_ACK, target=target))
    async with running(tmp_path, faults=plan, tx_over_ws=target.startswith("WS")) as h:
        cid = h.client.new_client_id()
        with pytest.raises(AmbiguousOutcome):
            await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h), cid)
        done = await h.wait_order(cid, lambda u: u.status.is_terminal)
        looked_up = await h.client.order_status(cid)
        assert done.status is looked_up.status is OrderStatus.FILLED
        assert h.sim.position(ACCOUNT) == Decimal("0.100")
        cid2 = await hedge(h)
        await h.wait_order(cid2, lambda u: u.status is OrderStatus.FILLED)
        assert h.sim.position(ACCOUNT) == Decimal("0.200")


async def test_read_timeout_on_a_query_is_a_transport_error(tmp_path, autojump_clock):
    plan = FaultPlan(seed=1)
    plan.add(Fault(FaultKind.TIMEOUT, target="GET /accountActiveOrders"))
    async with running(tmp_path, faults=plan, http_timeout_s=2.0) as h:
        # The first matching request is the startup re-sync, which times out and reconnects; then queries work.
        with pytest.raises(TransportError):
            plan.add(Fault(FaultKind.TIMEOUT, target="GET /accountActiveOrders"))
            await h.client.open_orders()
        assert await h.client.open_orders() == []


async def test_socket_dropped_mid_fill_is_resynced_to_the_fill(tmp_path, autojump_clock):
    plan = FaultPlan(seed=1)
    async with running(tmp_path, faults=plan) as h:
        cid = h.client.new_client_id()
        plan.add(Fault(FaultKind.CLOSE_BEFORE, target=ORDERS, on="update/account_orders"))
        await h.client.place_taker(Side.BUY, Decimal("0.300"), through(h), cid)
        done = await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        assert done.filled_qty == Decimal("0.300") == h.sim.position(ACCOUNT)
        assert h.client.statistics().streams["ws"].reconnects >= 1
        assert h.client.health().fresh(max_age_s=5)


async def test_duplicated_account_frames_change_nothing_but_repeat_the_same_cumulative_fill(tmp_path, autojump_clock):
    plan = FaultPlan(seed=1)
    plan.add(Fault(FaultKind.DUPLICATE, target=ORDERS, count=0))
    async with running(tmp_path, faults=plan) as h:
        cid = await hedge(h, "0.400")
        finals = []
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED and (finals.append(u) or len(finals) == 2))
        assert {u.filled_qty for u in finals} == {Decimal("0.400")} == {h.sim.position(ACCOUNT)}


async def test_reordered_account_frames_still_reach_the_venue_truth(tmp_path, autojump_clock):
    plan = FaultPlan(seed=1)
    plan.add(Fault(FaultKind.REORDER, target=ORDERS, on="update/account_orders", count=0))
    async with running(tmp_path, faults=plan) as h:
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.500"), away(h), cid, TimeInForce.GTT)
        opened = await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        h.sim.force_fill(int(opened.order_id), Decimal("0.200"))
        h.sim.force_fill(int(opened.order_id), Decimal("0.300"))
        await h.client.cancel(order_id=opened.order_id)
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        await trio.sleep(1)
        mine = h.updates(cid)
        assert mine[-1].status is OrderStatus.FILLED and mine[-1].filled_qty == Decimal("0.500")
        fills = [u.filled_qty for u in mine]
        assert fills == sorted(fills)  # cumulative fills never go backwards in what we emit
        assert h.sim.position(ACCOUNT) == Decimal("0.500")


async def test_a_late_frame_after_the_terminal_one_does_not_reopen_the_order(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        cid = await hedge(h, "0.300")
        done = await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        late = msgspec.convert({"orders": {"2": [{"order_index": int(done.order_id), "client_order_index": int(cid),
                                "is_ask": False, "initial_base_amount": "0.300", "filled_base_amount": "0.100",
                                "filled_quote_amount": "15", "status": "open"}]}}, wire.OrdersUpdate)  # fmt: skip
        await h.client.account.on_orders(late)
        h.drain()
        assert h.seen[-1] == done and h.client.statistics().counters["stale_updates"] == 1
        assert (await h.client.order_status(cid)).status is OrderStatus.FILLED


@pytest.mark.parametrize("kind", [FaultKind.SEQ_GAP, FaultKind.REORDER, FaultKind.DROP])
async def test_book_continuity_break_resubscribes_and_the_book_recovers(tmp_path, autojump_clock, kind):
    plan = FaultPlan(seed=1)
    async with running(tmp_path, faults=plan) as h:
        plan.add(Fault(kind, target="order_book/2", on="update/order_book", skip=3))
        with trio.fail_after(30):
            while h.client.statistics().streams["order_book"].gaps == 0:
                await h.client.top_of_book.wait_transition()
            await h.client.top_of_book.wait_value(lambda t: t is not None)
        h.sim.freeze_feed()  # stop publishing, let everything in flight arrive, then compare
        await trio.sleep(1)
        top = h.client.top_of_book.value
        assert (top.bid, top.ask) == (max(h.sim.feed.bids), min(h.sim.feed.asks))


async def test_duplicated_book_frames_are_ignored_without_a_gap(tmp_path, autojump_clock):
    plan = FaultPlan(seed=1)
    plan.add(Fault(FaultKind.DUPLICATE, target="order_book/2", on="update/order_book", count=5))
    async with running(tmp_path, faults=plan) as h:
        await trio.sleep(2)
        assert h.client.statistics().streams["order_book"].gaps == 0 and h.client.statistics().streams["order_book"].duplicates >= 5


async def test_shutdown_frame_reconnects_and_sends_wait_for_the_resync(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        price, cid = through(h), h.client.new_client_id()
        async with trio.open_nursery() as n:
            n.start_soon(h.sim.shutdown_connections, 0)
            await h.client.synced.wait_value(False)
            # Waits until the new session is subscribed and re-synced, then sends.
            await h.client.place_taker(Side.BUY, Decimal("0.100"), price, cid)
        assert h.client.synced.value and h.client.statistics().streams["ws"].reconnects == 1
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)


async def test_frozen_feed_is_detected_and_the_connection_replaced(tmp_path, autojump_clock):
    plan = FaultPlan(seed=1)
    async with running(tmp_path, faults=plan, ws_idle_timeout_s=5.0) as h:
        plan.add(Fault(FaultKind.FREEZE, target="order_book/2"))
        await trio.sleep(12)
        assert h.client.statistics().streams["ws"].reconnects == 1
        assert h.client.health().fresh(max_age_s=1)


async def test_sequencer_rejection_after_an_ok_ack_is_a_cancel_and_trading_continues(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        h.sim.reject_next_orders(1, "canceled-margin-not-allowed")
        cid = await hedge(h)
        done = await h.wait_order(cid, lambda u: u.status.is_terminal)
        assert done.status is OrderStatus.CANCELLED and done.reason == "canceled-margin-not-allowed"
        cid2 = await hedge(h)
        await h.wait_order(cid2, lambda u: u.status is OrderStatus.FILLED)


async def test_a_sequencer_rejection_on_a_hedge_key_refetches_that_keys_nonce(tmp_path, autojump_clock):
    # Two hedges at once go out on keys 5 and 6; the sequencer refuses both after the OK ack, which may
    # leave each key's nonce unconsumed: each key is refetched before its next tx (not only the primary).
    async with running(tmp_path, hedge_keys=(6,)) as h:
        h.sim.reject_next_orders(2, "canceled-margin-not-allowed")
        fetches = h.client.statistics().counters["nonce_fetches"]
        async with trio.open_nursery() as n:
            cids = [h.client.new_client_id() for _ in range(2)]
            for cid in cids:
                n.start_soon(h.client.place_taker, Side.BUY, Decimal("0.100"), through(h, Side.BUY), cid)
        for cid in cids:
            assert (await h.wait_order(cid, lambda u: u.status.is_terminal)).status is OrderStatus.CANCELLED
        async with trio.open_nursery() as n:  # the next tx on each key
            for _ in range(2):
                n.start_soon(hedge, h)
        assert h.client.statistics().counters["nonce_fetches"] == fetches + 2


async def test_token_refresh_resubscribes_private_channels_before_expiry(tmp_path, autojump_clock):
    sim = LighterSimSettings(seed=1, cut_expired_subscriptions=True, book_interval_s=2.0)  # fewer ticks over 25 min
    async with running(tmp_path, sim_settings=sim, token_lifetime_s=600, token_refresh_margin_s=120) as h:
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.500"), away(h), cid, TimeInForce.GTT)
        opened = await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        await trio.sleep(1500)  # two and a half token lifetimes
        assert h.client.tokens.mints >= 3
        h.sim.force_fill(int(opened.order_id), Decimal("0.200"))
        part = await h.wait_order(cid, lambda u: u.filled_qty == Decimal("0.200"))
        assert part.status is OrderStatus.PARTIALLY_FILLED
        assert await h.client.open_orders()  # private REST with the current token
        assert h.client.statistics().streams["ws"].reconnects == 0


async def test_standard_tier_limiter_waits_instead_of_hitting_429(tmp_path, autojump_clock):
    sim = LighterSimSettings(seed=1, rest_per_minute=60, book_interval_s=1.0)
    async with running(tmp_path, sim_settings=sim, tier="standard", ws_idle_timeout_s=1e6) as h:
        t0 = trio.current_time()
        for _ in range(70):
            await h.client.open_orders()
        assert h.client.statistics().counters["rest_limit_waits"] >= 1
        assert trio.current_time() - t0 >= 59


class GarblingConnection:
    """Wraps the sim's socket and slips junk in front of every 10th frame."""

    def __init__(self, inner):
        self._inner = inner
        self._n = 0
        self._junk = [b'{"type":"update/order_book","order_book":{', b'{"type":"update/account_orders","orders":7}',
                      b"\xff\x00", b'{"type":"update/order_book","order_book":{"nonce":1,"bids":[{"price":"x","size":"1"}]}}',
                      b'{"type":"brand_new_channel"}']  # fmt: skip

    async def get_message(self):
        self._n += 1
        if self._n % 10 == 0 and self._n > 10:
            return self._junk[self._n // 10 % len(self._junk)]
        return await self._inner.get_message()

    def __getattr__(self, name):
        return getattr(self._inner, name)


async def test_malformed_frames_on_the_live_socket_are_counted_and_never_stop_the_stream(tmp_path, autojump_clock):
    async with running(tmp_path, wrap_ws=GarblingConnection) as h:
        await trio.sleep(10)
        cid = await hedge(h)
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        stats = h.client.statistics()
        assert stats.streams["ws"].malformed >= 3 and stats.counters["ws_unknown"] >= 1 and stats.streams["ws"].reconnects == 0
        assert h.client.top_of_book.value is not None and h.sim.position(ACCOUNT) == Decimal("0.100")


class DeafConnection:
    """The peer never answers protocol pings (a half-dead TCP path)."""

    def __init__(self, inner):
        self._inner = inner

    async def ping(self, payload=None):
        await trio.sleep_forever()

    def __getattr__(self, name):
        return getattr(self._inner, name)


async def test_missing_pong_replaces_the_connection(tmp_path, autojump_clock):
    async with running(tmp_path, wrap_ws=DeafConnection, ws_ping_interval_s=5.0, ws_pong_timeout_s=2.0) as h:
        await trio.sleep(7.5)
        assert h.client.statistics().streams["ws"].reconnects == 1
        await h.client.synced.wait_value(True)


async def test_application_pings_keep_an_idle_watchdog_from_closing_the_socket(tmp_path, autojump_clock):
    sim = LighterSimSettings(seed=1, idle_timeout_s=120.0, book_interval_s=2.0)
    async with running(tmp_path, sim_settings=sim, ws_ping_interval_s=20.0) as h:
        await trio.sleep(400)
        assert h.client.statistics().streams["ws"].reconnects == 0


async def test_closing_the_events_receiver_stops_the_client_instead_of_reconnecting(tmp_path, autojump_clock):
    from hedged.venues.lighter.client import EventsClosed

    with pytest.RaisesGroup(EventsClosed, flatten_subgroups=True):
        async with running(tmp_path) as h:
            await h.recv.aclose()
            cid = await hedge(h)
            await trio.sleep(5)
            pytest.fail(f"client kept running after its consumer left ({cid})")
