"""Race-free 'wait for any of these to change' for the Trio layer: `Watch`.

One waiter on the watched values composed (`trio_util.compose_values`, set up once for the watcher's
life): the predicate runs inside the values' setters and the setter reschedules the task directly. A
`wait_any` of one child per value started and cancelled those children on every wake-up; with a maker
fill waking the maker and the guard in the pass its hedge is decided in, that was ~0.4 ms of the Trio
thread per fill ahead of the hedge (docs/benchmarks.md, "The direct path, traced per task step"). The
guard now waits with no child task; the maker, which also waits for the cycle's `stopping` event (a
`trio.Event`, which cannot be composed), with two (it had four).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from trio_util import AsyncValue, compose_values, wait_any


class Watch:
    """`with Watch(book=..., version=...) as w:` then `seen = w.value` when deciding, and
    `await w.changed(seen)` to wait. Comparing with `seen` (not waiting for the next transition) means
    a change between the decision and the wait is never missed; a value counts as changed when it is
    neither the same object nor equal to the one seen."""

    def __init__(self, **values: AsyncValue[Any]) -> None:
        self._composing = compose_values(**values)
        self._composed: AsyncValue[Any] | None = None

    def __enter__(self) -> Watch:
        self._composed = self._composing.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._composed = None
        self._composing.__exit__(*exc)

    @property
    def value(self) -> Any:
        assert self._composed is not None, "use Watch as a context manager"
        return self._composed.value

    async def changed(self, seen: Any, *, stopping: trio.Event | None = None,
                      defer: Callable[[], Awaitable[None]] | None = None) -> None:
        """Return once a watched value differs from `seen` (a `value` read earlier), or `stopping` is set.
        `defer` is awaited after the change, before returning (`HedgeFirst.defer`: a hedge being written
        goes first)."""
        assert self._composed is not None, "use Watch as a context manager"

        def differs(now: Any) -> bool:
            return any(a is not b and a != b for a, b in zip(now, seen))

        if stopping is None:
            await self._composed.wait_value(differs)
        elif not stopping.is_set():
            await wait_any(partial(self._composed.wait_value, differs), stopping.wait)
        else:
            await trio.lowlevel.checkpoint()
        if defer is not None:
            await defer()
