"""`Watch`: one waiter over several AsyncValues (strategy/waiting.py), used by the maker and the guard."""

from __future__ import annotations

import trio
import trio.testing
from trio_util import AsyncValue

from hedged.strategy.waiting import Watch


class _Spawns(trio.abc.Instrument):
    def __init__(self) -> None:
        self.n = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.n += 1


async def test_a_change_wakes_the_watcher_without_starting_a_task_per_value(autojump_clock):
    a, b, c = AsyncValue(0), AsyncValue("x"), AsyncValue(False)
    woke: list[float] = []
    spawns = _Spawns()
    with Watch(a=a, b=b, c=c) as w:
        seen = w.value

        async def watcher() -> None:
            await w.changed(seen)
            woke.append(trio.current_time())

        async with trio.open_nursery() as n:
            trio.lowlevel.add_instrument(spawns)
            n.start_soon(watcher)
            await trio.sleep(1)
            b.value = "x"  # equal: not a change
            await trio.sleep(1)
            assert woke == []
            c.value = True
        trio.lowlevel.remove_instrument(spawns)
    assert woke == [2.0]
    assert spawns.n == 1, spawns.n  # the watcher itself; a wait_any would start one child per value


async def test_a_change_between_the_decision_and_the_wait_is_not_missed():
    a = AsyncValue(1)
    with Watch(a=a) as w:
        seen = w.value
        a.value = 2  # the decision was made on 1
        with trio.fail_after(1):
            await w.changed(seen)


async def test_stopping_ends_the_wait_and_defer_runs_after_the_change(autojump_clock):
    a = AsyncValue(0)
    stopping = trio.Event()
    order: list[str] = []

    async def defer() -> None:
        order.append("deferred")

    with Watch(a=a) as w:
        async with trio.open_nursery() as n:
            async def watcher() -> None:
                await w.changed(w.value, stopping=stopping, defer=defer)
                order.append("returned")

            n.start_soon(watcher)
            await trio.sleep(1)
            stopping.set()
        assert order == ["deferred", "returned"]
        with trio.testing.assert_checkpoints():
            await w.changed(w.value, stopping=stopping)  # already stopping: returns at once, with a checkpoint
