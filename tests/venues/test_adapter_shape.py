"""Both adapters have one shape: their streams run on the shared session skeleton (hedged/venues/session.py),
readiness is `synced` (an `AsyncValue[bool]`), and `statistics()` is a `VenueStatistics` keyed by the stream
names the metrics label with. Shown the same way on each venue's simulator: a dropped account socket."""

from __future__ import annotations

import random
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
import trio
from trio_util import AsyncValue

from hedged.metrics import FEED_STREAMS
from hedged.venues.base import VenueClient, VenueStatistics
from hedged.backoff import Backoff, Retries
from hedged.sim.common.faults import Fault, FaultKind

sys.path.insert(0, str(Path(__file__).parent / "extended"))
sys.path.insert(0, str(Path(__file__).parent / "lighter"))
from adapter_fixtures import open_sim_client, rest_maker  # noqa: E402
from lighter_harness import running  # noqa: E402


async def _check_a_dropped_account_socket(client, drop, socket_stream: str, book_stream: str) -> None:
    assert isinstance(client, VenueClient) and not hasattr(client, "ready")
    assert isinstance(client.synced, AsyncValue) and client.synced.value
    before = client.statistics()
    assert isinstance(before, VenueStatistics) and before.venue is client.venue
    # Every stream key is a label the metrics know (a book stream or the socket Lighter's channels share).
    assert {socket_stream, book_stream} <= set(before.streams) <= {*FEED_STREAMS[str(client.venue)], "ws"}
    assert before.streams[socket_stream].reconnects == 0
    async with trio.open_nursery() as n:
        n.start_soon(drop)
        with trio.fail_after(30):
            await client.synced.wait_value(False)
            await client.synced.wait_value(True)  # re-subscribed and re-synced by the skeleton
    assert client.statistics().streams[socket_stream].reconnects == 1
    assert not client.health().not_live(60)


async def test_extended_account_socket_dropped_is_reconnected_and_reported_in_the_common_shape(autojump_clock):
    async with open_sim_client() as (client, sim, events):
        cid = await rest_maker(client, sim)

        async def drop() -> None:
            sim.faults.add(Fault(FaultKind.CLOSE_AFTER, target="account", on="TRADE"))
            sim.force_fill(cid, D("0.3"))

        await _check_a_dropped_account_socket(client, drop, "account", "book")


async def test_lighter_socket_dropped_is_reconnected_and_reported_in_the_common_shape(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        await _check_a_dropped_account_socket(h.client, lambda: h.sim.shutdown_connections(0), "ws", "order_book")


@pytest.mark.parametrize("outcomes, attempts", [
    ("fff", [1, 2, 3]),  # a service that never gets a session up backs off from the second step
    ("frf", [1, 0, 1]),  # a session that became ready starts the schedule again
    ("rrr", [0, 0, 0]),
])
def test_the_session_backoff_keeps_lighters_schedule(outcomes, attempts):
    schedule = Backoff(0.5, 30.0, jitter="equal")
    backoff, expected = Retries(schedule, random.Random(7), failed=1), random.Random(7)
    for outcome, attempt in zip(outcomes, attempts, strict=True):
        if outcome == "r":
            backoff.reset()
        assert backoff.next() == schedule.delay(attempt, expected)



async def test_the_metrics_export_both_venues_statistics_under_the_labels_they_always_had(tmp_path, autojump_clock):
    from types import SimpleNamespace

    from prometheus_client import generate_latest

    from hedged.metrics import Metrics
    from hedged.wiring import MetricsExporter

    def sample(name: str, venue: str, stream: str) -> float | None:
        want = f'{name}{{stream="{stream}",venue="{venue}"}} '
        lines = [ln for ln in generate_latest(m.registry).decode().splitlines() if ln.startswith(want)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else None

    async with open_sim_client() as (ext, sim, events), running(tmp_path) as h:
        m = Metrics(process_collector=False)
        engine = SimpleNamespace(ledger=None, cycle=None, executor=None, halted=False,
                                 venues=SimpleNamespace(extended=ext, lighter=h.client))
        exporter = MetricsExporter(m, engine)
        exporter.export()
        with trio.fail_after(30):
            await h.sim.shutdown_connections(0)
            await h.client.synced.wait_value(False)
            await h.client.synced.wait_value(True)
        exporter.export()
    assert sample("hedged_stream_reconnects_total", "lighter", "ws") == 1  # Lighter's one socket is stream `ws`
    assert sample("hedged_malformed_messages_total", "lighter", "ws") == 0
    assert sample("hedged_stream_seq_gaps_total", "lighter", "order_book") == 0
    for stream in ("account", "book"):
        for name in ("hedged_stream_reconnects_total", "hedged_stream_seq_gaps_total", "hedged_malformed_messages_total"):
            assert sample(name, "extended", stream) == 0
    assert sample("hedged_stream_up", "lighter", "order_book") == 1 and sample("hedged_stream_up", "extended", "book") == 1
