"""The Extended client hands the ledger what its account stream decoded: every event, in order, without a
scheduler pass while the channel has room, and shielded while it waits for room (the order tracker has
counted them as seen, so a teardown must not drop one)."""

from __future__ import annotations

import trio
import trio.testing

from tests.strategy.sims import sim_world


async def test_events_reach_the_channel_without_a_pass_and_a_full_channel_is_waited_out_even_when_cancelled(
        autojump_clock, tmp_path):
    async with sim_world(tmp_path, live_market=False, lighter_flow_rate=0.0) as w:
        ext = w.ext
        saved = ext._events
        send, recv = trio.open_memory_channel(2)
        ext._events = send
        try:
            version = ext._order_version.value
            with trio.testing.assert_no_checkpoints():
                await ext._emit(["a", "b"])
            assert ext._order_version.value == version + 1
            got: list[str] = []

            async def consumer() -> None:
                await trio.sleep(1)
                for _ in range(3):
                    got.append(await recv.receive())

            async with trio.open_nursery() as n:
                n.start_soon(consumer)
                with trio.CancelScope() as scope:
                    scope.cancel()  # a teardown already under way
                    await ext._emit(["c"])  # the channel is full until the consumer wakes at 1 s
            assert got == ["a", "b", "c"] and trio.current_time() >= 1
        finally:
            ext._events = saved
