"""ExtendedClient against the simulator's fault knobs: the adapter reaches the venue's truth afterwards."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio
from adapter_fixtures import Observed, rest_maker, RecordingTransport, assert_reaches_truth, open_sim_client, settled, until
from loguru import logger

from hedged.venues.base import AmbiguousOutcome, AuthError, OrderStatus, RateLimited, Side
from hedged.sim.common.faults import Fault, FaultKind

D = Decimal
FAST = {"request_timeout_s": 2.0, "resolve_timeout_s": 5.0}


def posts(recorder) -> list[float]:
    return [t for t, method, path in recorder.log if method == "POST" and path.endswith("/user/order")]


# ---------------------------------------------------------------- placement replies


async def test_lost_placement_reply_is_resolved_by_lookup_without_placing_again(autojump_clock) -> None:
    recorder = []
    async with open_sim_client(client_kw=FAST, wrap_transport=lambda t: recorder.append(RecordingTransport(t))
                               or recorder[0]) as (client, sim, events):
        sim.faults.add(Fault(FaultKind.LOST_ACK, target="POST /user/order"))
        cid = client.new_client_id()
        ack = await client.place_maker(Side.BUY, D("0.5"), client.top_of_book.value.bid - D("0.05"), cid)
        assert ack.order_id == str(sim.engine.by_external[cid])
        assert len(posts(recorder[0])) == 1 and len(sim.engine.by_external) == 1
        assert client.statistics().counters["placements_resolved_by_lookup"] == 1


async def test_lost_reply_is_resolved_even_when_lookups_lag_and_the_stream_is_silent(autojump_clock) -> None:
    async with open_sim_client(client_kw=FAST, sim_kw={"get_by_id_lag": 3.0}) as (client, sim, events):
        sim.faults.add(Fault(FaultKind.LOST_ACK, target="POST /user/order"),
                       Fault(FaultKind.FREEZE, target="account"))
        cid = client.new_client_id()
        ack = await client.place_maker(Side.BUY, D("0.5"), client.top_of_book.value.bid - D("0.05"), cid)
        assert ack.order_id == str(sim.engine.by_external[cid])
        observed = Observed()
        await until(events, observed, lambda o: cid in o.orders)
        assert observed.orders[cid].status is OrderStatus.OPEN


@pytest.mark.parametrize("fault", [
    Fault(FaultKind.HTTP_ERROR, target="POST /user/order", status=503),
    Fault(FaultKind.TIMEOUT, target="POST /user/order"),
])
async def test_unapplied_placement_with_unknown_outcome_ends_ambiguous_and_is_never_resent(
        autojump_clock, fault: Fault) -> None:
    recorder = []
    async with open_sim_client(client_kw=FAST, wrap_transport=lambda t: recorder.append(RecordingTransport(t))
                               or recorder[0]) as (client, sim, events):
        sim.faults.add(fault)
        cid = client.new_client_id()
        start = trio.current_time()
        with pytest.raises(AmbiguousOutcome):
            await client.place_maker(Side.BUY, D("0.5"), client.top_of_book.value.bid - D("0.05"), cid)
        assert trio.current_time() - start <= FAST["request_timeout_s"] + FAST["resolve_timeout_s"] + 1
        assert len(posts(recorder[0])) == 1 and cid not in sim.engine.by_external
        assert client.statistics().counters["placements_ambiguous"] == 1


async def test_rate_limited_placement_is_typed_and_not_placed(autojump_clock) -> None:
    async with open_sim_client(client_kw=FAST) as (client, sim, events):
        sim.faults.add(Fault(FaultKind.RATE_LIMIT, target="POST /user/order"))
        cid = client.new_client_id()
        with pytest.raises(RateLimited):
            await client.place_maker(Side.BUY, D("0.5"), client.top_of_book.value.bid - D("0.05"), cid)
        assert cid not in sim.engine.by_external
        # The next placement goes through normally.
        await rest_maker(client, sim)


async def test_cancel_retries_through_server_errors(autojump_clock) -> None:
    async with open_sim_client(client_kw=FAST) as (client, sim, events):
        cid = await rest_maker(client, sim)
        sim.faults.add(Fault(FaultKind.HTTP_ERROR, target="DELETE /user/order", status=502, count=2))
        await client.cancel(client_id=cid)
        await sim.wait_idle()
        observed = Observed()
        await until(events, observed, settled(sim, cid))
        assert observed.orders[cid].status is OrderStatus.CANCELLED


# ---------------------------------------------------------------- account stream


async def test_drop_mid_fill_with_fills_while_disconnected_reaches_the_truth(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        a = await rest_maker(client, sim)
        b = await rest_maker(client, sim, Side.SELL)
        sim.faults.add(Fault(FaultKind.CLOSE_AFTER, target="account", on="TRADE"))
        sim.force_fill(a, D("0.3"))
        sim.force_fill(a, D("0.7"))  # these frames die with the connection
        sim.force_fill(b, D("0.2"))
        await client.synced.wait_value(False)
        await client.synced.wait_value(True)
        observed = Observed()
        await until(events, observed, settled(sim, a, b))
        assert_reaches_truth(observed, sim)
        assert observed.orders[a].status is OrderStatus.FILLED
        assert client.statistics().streams["account"].reconnects >= 1


async def test_duplicated_account_frames_never_double_count(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        sim.faults.add(Fault(FaultKind.DUPLICATE, target="account", count=0))
        a = await rest_maker(client, sim)
        sim.force_fill(a, D("0.25"))
        sim.force_fill(a, D("0.25"))
        await client.cancel(client_id=a)
        await sim.wait_idle()
        observed = Observed()  # asserts that no trade id arrives twice
        await until(events, observed, settled(sim, a))
        assert_reaches_truth(observed, sim)
        fills = [e for e in observed.log if getattr(e, "client_id", None) == a and hasattr(e, "filled_qty")]
        assert [f.filled_qty for f in fills] == sorted(f.filled_qty for f in fills)
        assert client.statistics().streams["account"].duplicates > 0


@pytest.mark.parametrize("kind", [FaultKind.REORDER, FaultKind.SEQ_GAP, FaultKind.DROP])
async def test_account_continuity_faults_resync_to_the_truth(autojump_clock, kind: FaultKind) -> None:
    async with open_sim_client() as (client, sim, events):
        a = await rest_maker(client, sim)
        sim.faults.add(Fault(kind, target="account", on="ORDER"))
        sim.force_fill(a, D("0.4"))
        sim.force_fill(a, D("0.1"))
        await client.cancel(client_id=a)
        await sim.wait_idle()
        observed = Observed()
        await until(events, observed, settled(sim, a))
        assert_reaches_truth(observed, sim)
        assert observed.orders[a].status is OrderStatus.CANCELLED and observed.filled[a] == D("0.5")
        assert client.statistics().streams["account"].gaps == 1


async def test_resync_retries_rest_errors_and_rate_limits(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        a = await rest_maker(client, sim)
        sim.faults.add(Fault(FaultKind.SEQ_GAP, target="account"),
                       Fault(FaultKind.HTTP_ERROR, target="GET /user/orders", status=500, count=2),
                       Fault(FaultKind.RATE_LIMIT, target="GET /user/positions"))
        sim.force_fill(a, D("1"))
        await client.synced.wait_value(False)
        await client.synced.wait_value(True)
        observed = Observed()
        await until(events, observed, settled(sim, a))
        assert_reaches_truth(observed, sim)


async def test_orders_are_not_sent_until_the_account_stream_is_resynced(autojump_clock) -> None:
    recorder = []
    async with open_sim_client(wrap_transport=lambda t: recorder.append(RecordingTransport(t))
                               or recorder[0]) as (client, sim, events):
        sim.faults.add(Fault(FaultKind.CLOSE_AFTER, target="account", on="ORDER"),
                       Fault(FaultKind.HTTP_ERROR, target="GET /user/positions", status=503, count=3))
        first = await rest_maker(client, sim)  # its NEW message closes the account stream
        await client.synced.wait_value(False)
        second = client.new_client_id()
        await client.place_maker(Side.BUY, D("0.2"), client.top_of_book.value.bid - D("0.1"), second)
        log = recorder[0].log
        last_position_read = max(t for t, m, p in log if m == "GET" and p.endswith("/user/positions"))
        assert posts(recorder[0])[-1] >= last_position_read
        assert client.synced.value
        await sim.wait_idle()
        observed = Observed()
        await until(events, observed, settled(sim, first, second))


# ---------------------------------------------------------------- book stream


async def wait_top_matches(client, sim) -> None:
    with trio.fail_after(120):
        await client.top_of_book.wait_value(
            lambda t: t is not None and t.bid == sim.book.best_bid and t.ask == sim.book.best_ask)


async def test_book_seq_gap_reconnects_and_the_book_recovers(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        sim.faults.add(Fault(FaultKind.SEQ_GAP, target="orderbooks/*", on="DELTA"))
        for pct in ("0.002", "-0.001", "0.003", "0.001"):
            sim.move_price(D(pct))
            await wait_top_matches(client, sim)
        stats = client.statistics().streams["book"]
        assert stats.gaps == 1 and stats.reconnects == 1


async def test_duplicated_book_frames_are_ignored(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        sim.faults.add(Fault(FaultKind.DUPLICATE, target="orderbooks/*", count=0))
        for pct in ("0.002", "-0.001", "0.003"):
            sim.move_price(D(pct))
            await wait_top_matches(client, sim)
        stats = client.statistics().streams["book"]
        assert stats.duplicates >= 1 and stats.reconnects == 0
        book = client._feed.book  # the whole depth, not just the top, equals the venue's
        assert book.levels(Side.BUY) == list(sim.book.bids) and book.levels(Side.SELL) == list(sim.book.asks)


async def test_frozen_book_feed_is_replaced_after_the_stale_timeout(autojump_clock) -> None:
    async with open_sim_client(client_kw={"book_stale_s": 3.0}) as (client, sim, events):
        sim.faults.add(Fault(FaultKind.FREEZE, target="orderbooks/*"))
        sim.move_price(D("0.01"))
        await wait_top_matches(client, sim)
        assert client.statistics().streams["book"].reconnects == 1


async def test_book_disconnect_clears_top_of_book_until_resubscribed(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        sim.faults.add(Fault(FaultKind.CLOSE_BEFORE, target="orderbooks/*", on="DELTA"))
        sim.move_price(D("0.01"))
        await client.top_of_book.wait_value(lambda t: t is None)
        assert not client.health().streams["book"].connected or not client.health().streams["book"].subscribed
        await wait_top_matches(client, sim)
        assert client.health().fresh(5.0)


# ---------------------------------------------------------------- auth and secrets


async def test_bad_api_key_fails_start_with_auth_error(autojump_clock) -> None:
    with pytest.RaisesGroup(AuthError, flatten_subgroups=True):
        async with open_sim_client(api_key="sim-wrong-key"):
            pass


async def test_secrets_never_reach_the_logs(autojump_clock) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    try:
        async with open_sim_client(client_kw=FAST) as (client, sim, events):
            sim.faults.add(Fault(FaultKind.LOST_ACK, target="POST /user/order"),
                           Fault(FaultKind.SEQ_GAP, target="account"),
                           Fault(FaultKind.HTTP_ERROR, target="GET /user/orders", status=500))
            a = await rest_maker(client, sim)
            sim.force_fill(a, D("0.5"))
            with pytest.raises(AmbiguousOutcome) as info:
                sim.faults.add(Fault(FaultKind.TIMEOUT, target="POST /user/order"))
                await rest_maker(client, sim)
            secrets = (sim.keys.api_key, sim.keys.private_key_hex, sim.keys.private_key_hex[2:])
            assert not any(s in str(info.value) for s in secrets)
            assert not any(s in repr(client) + repr(client.settings) for s in secrets)
    finally:
        logger.remove(sink)
    text = "\n".join(lines)
    assert lines and not any(s in text for s in secrets)


async def test_malformed_frames_on_live_streams_are_counted_and_never_break_them(autojump_clock) -> None:
    from adapter_fixtures import GarbageFirst

    common = [b"", b"\xff\xfe not json", '{"type":"ORDER","data":{"orders":[{"id":"x"}]},"ts":1,"seq":"s"}']
    garbage = {"/account": [*common, '{"type":"ORDER","ts":1}'],
               "/orderbooks/": [*common, '{"type":"SNAPSHOT","data":{"m":"SOL-USD","b":[{"q":"1"}]},"ts":1,"seq":1}']}
    async with open_sim_client(wrap_ws=lambda inner: GarbageFirst(inner, garbage)) as (client, sim, events):
        a = await rest_maker(client, sim)
        sim.force_fill(a, D("0.5"))
        observed = Observed()
        await until(events, observed, settled(sim, a))
        stats = client.statistics()
        assert stats.streams["account"].malformed == 4 and stats.streams["book"].malformed == 4
        assert stats.streams["account"].reconnects == 0 and stats.streams["book"].reconnects == 0
        assert client.health().fresh(5.0)
