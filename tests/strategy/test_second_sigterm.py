"""Issue 12 review, graceful stop: a second SIGTERM (stop at once) while a hedge is still open. The
operator asked to go now, so nothing is flattened; but the exit code must still say what is left:
0 only when exposure is within tolerance (whole daemon, in-process harness, real sockets, signals)."""

from __future__ import annotations

import os
import signal

import trio

from hedged import daemon
from hedged.errors import EXIT_HALTED
from hedged.nursery import Notifier

from .test_stop_through_the_daemon import _fill_with_a_hedge_that_never_fills, _positions, stop_config


async def test_a_second_sigterm_during_the_hedge_grace_with_a_naked_maker_fill_exits_3_not_0(tmp_path):
    ready = trio.Event()
    runtime: list[daemon.Runtime] = []
    codes: list[int] = []

    class ReadyNotifier(Notifier):
        async def ready(self) -> None:
            ready.set()

    async def run() -> None:
        codes.append(await daemon.main(stop_config(tmp_path), notifier=ReadyNotifier(environ={}),
                                       on_runtime=runtime.append))

    with trio.fail_after(60):
        async with trio.open_nursery() as n:
            n.start_soon(run)
            await ready.wait()
            rt = runtime[0]
            await _fill_with_a_hedge_that_never_fills(rt)
            os.kill(os.getpid(), signal.SIGTERM)
            await rt.supervisor.stopping.wait()
            await rt.engine.cycle.stopped.wait()  # the executor is now spending its hedge grace
            os.kill(os.getpid(), signal.SIGTERM)  # ... and the operator insists
    sim = rt.engine.sim
    assert sim.lighter.open_orders(sim.lighter_account) == []  # the hedge was cancelled, not left resting
    ext, lig = _positions(rt)
    assert abs(ext + lig) > rt.engine.executor.tolerance()  # nothing was flattened: that is what "at once" means
    assert codes == [EXIT_HALTED]
    assert rt.engine.halted is not None
