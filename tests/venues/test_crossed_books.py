"""A DELTA that crosses the book (bid >= ask) on either venue: the feed goes stale, the book is re-synced from a
fresh snapshot, and no crossed price is ever published to `top_of_book` (nobody quotes or prices against it)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import trio

from hedged.sim.common.faults import Fault, FaultKind, FaultPlan

sys.path.insert(0, str(Path(__file__).parent / "extended"))
sys.path.insert(0, str(Path(__file__).parent / "lighter"))
from adapter_fixtures import open_sim_client  # noqa: E402
from lighter_harness import running  # noqa: E402


async def record_tops(top_of_book, seen: list) -> None:
    async for value, _ in top_of_book.transitions():
        seen.append(value)


def crossed(top) -> bool:
    return top is not None and top.bid is not None and top.ask is not None and top.bid >= top.ask


async def test_a_crossing_delta_on_extended_makes_the_book_stale_and_resyncs_it(autojump_clock) -> None:
    async with open_sim_client(live_market=True) as (client, sim, events):
        seen: list = []
        async with trio.open_nursery() as watch:
            watch.start_soon(record_tops, client.top_of_book, seen)
            await trio.sleep(1)
            assert client.top_of_book.value is not None and not client.health().not_live(60)
            # The fresh SNAPSHOT of the next connection is held back a while, so the stale window can be seen.
            sim.faults.add(Fault(FaultKind.DELAY, target="orderbooks/SOL-USD", on="SNAPSHOT", delay=5.0))
            async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://extended.sim") as control:
                assert (await control.post("/_sim/book/cross")).status_code == 200  # the same as sim.cross_book()
            with trio.fail_after(5):
                await client.top_of_book.wait_value(lambda t: t is None)
            await trio.sleep(1)
            assert client.top_of_book.value is None
            assert client.health().not_live(60) == ["book"]
            with trio.fail_after(30):
                await client.top_of_book.wait_value(lambda t: t is not None)
            assert not client.health().not_live(60)
            stats = client.statistics().streams["book"]
            assert stats.crossed == 1 and stats.reconnects == 1
            await trio.sleep(1)
            watch.cancel_scope.cancel()
        assert seen and not any(crossed(t) for t in seen)
        top = client.top_of_book.value
        assert (top.bid, top.ask) == (sim.book.best_bid, sim.book.best_ask)


async def test_a_crossing_update_on_lighter_makes_the_book_stale_and_resubscribes(tmp_path, autojump_clock) -> None:
    plan = FaultPlan(seed=1)
    async with running(tmp_path, faults=plan) as h:
        seen: list = []
        async with trio.open_nursery() as watch:
            watch.start_soon(record_tops, h.client.top_of_book, seen)
            await trio.sleep(1)
            assert h.client.top_of_book.value is not None and not h.client.health().not_live(60)
            plan.add(Fault(FaultKind.DELAY, target="order_book/2", on="subscribed/order_book", delay=5.0))
            h.sim.cross_book()
            with trio.fail_after(5):
                await h.client.top_of_book.wait_value(lambda t: t is None)
            await trio.sleep(1)
            assert h.client.top_of_book.value is None
            assert h.client.health().not_live(60) == ["order_book"]
            with trio.fail_after(30):
                await h.client.top_of_book.wait_value(lambda t: t is not None)
            assert not h.client.health().not_live(60)
            assert h.client.statistics().streams["order_book"].crossed == 1 and h.client.statistics().streams["ws"].reconnects == 0
            await trio.sleep(1)
            watch.cancel_scope.cancel()
        assert seen and not any(crossed(t) for t in seen)
        h.sim.freeze_feed()
        await trio.sleep(1)
        top = h.client.top_of_book.value
        assert (top.bid, top.ask) == (max(h.sim.feed.bids), min(h.sim.feed.asks))
