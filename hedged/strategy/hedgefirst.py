"""Hedge first: while a maker fill waits for its hedge to be written, the work that can wait does.

The hedge path (fill frame -> ledger -> executor -> signer thread -> sendTx) shares the Trio thread
with everything else the same fill wakes: the maker's next decision, the guard, the journal writer.
Trio runs every runnable task once per scheduler pass, in random order, and a hedge crosses five or
six passes between its fill frame and its sendTx. Measured on the simulators, that other work put
about 3 ms in front of each hedge, and the journal writer's thread held the GIL the signer needed
(docs/benchmarks.md). So the executor says when a hedge is owed (`owed`: from the ledger counting a
maker fill until the executor rests with no hedge still being written), and those tasks call
`defer()` before they act on what woke them.

A deferral is bounded (`max_defer_s`), so no task can be starved by a hedge that never gets written;
when nothing is owed, `defer()` returns at once, without a scheduler pass.
"""

from __future__ import annotations

import trio
from trio_util import AsyncValue

MAX_DEFER_S = 0.02  # far above a hedge's write time (~3 ms), far below anything a deferred task waits for


class HedgeFirst:
    def __init__(self, max_defer_s: float = MAX_DEFER_S) -> None:
        self.max_defer_s = max_defer_s
        self.owed: AsyncValue[bool] = AsyncValue(False)  # set by the executor only
        self.deferred = 0  # deferrals that waited
        self.overran = 0  # deferrals the bound ended (a hedge took longer than max_defer_s to write)

    async def defer(self) -> None:
        """Return once no hedge is owed, or after `max_defer_s`."""
        if not self.owed.value:
            return
        self.deferred += 1
        with trio.move_on_after(self.max_defer_s) as scope:
            await self.owed.wait_value(False)
        if scope.cancelled_caught:
            self.overran += 1
