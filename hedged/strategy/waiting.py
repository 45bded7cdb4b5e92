"""Race-free 'wait for any of these to change' for the Trio layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from trio_util import AsyncValue, wait_any


async def wait_changed(*watched: tuple[AsyncValue[Any], Any], stopping: trio.Event | None = None,
                       defer: Callable[[], Awaitable[None]] | None = None) -> None:
    """Return once any AsyncValue differs from the value it had when the caller decided (`seen`),
    or `stopping` is set. Comparing with `seen` (not waiting for the next transition) means a
    change that happened between the decision and this call is never missed. `defer` is awaited
    after the change, before returning (`HedgeFirst.defer`: a hedge being written goes first)."""

    def differs(seen: Any, value: Any) -> bool:
        return value is not seen and value != seen

    waiters = [partial(av.wait_value, partial(differs, seen)) for av, seen in watched]
    if stopping is not None:
        waiters.append(stopping.wait)
    await wait_any(*waiters)
    if defer is not None:
        await defer()
