"""Hedge executor, maker fill -> hedge sent, in-process on both simulators (issue 12, point 1).

The real adapters, the real Ledger and `HedgeExecutor` on the in-memory simulators, real clock,
Lighter with its standard 300 ms taker hold (so a fill often arrives while an earlier hedge is
still held by the sequencer). Maker fills come in bursts: batches of resting post-only orders on
Extended are filled by the venue (`force_fill`) at exponentially spaced instants (mean 60 ms),
alternating BUY and SELL batches so the position stays bounded and opposite fills exercise the
netting path. `fill_to_sent` is the executor's own sample per fill: from the moment the Extended
account frame carrying the fill was read off the (in-memory) socket to the moment the hedge order
was registered and handed to the Lighter adapter. A fill is *queued* when another hedge order was
live when it arrived, *idle* otherwise. Socket costs of a real deployment are not in these
figures (bench/fill_to_hedge.py measures from outside).

    python bench/executor_fills.py [--fills 1000] [--seed 3]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import trio

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import pct  # noqa: E402

from hedged import logs  # noqa: E402
from hedged.config import HedgeConfig  # noqa: E402
from hedged.strategy.executor import HedgeExecutor  # noqa: E402
from hedged.venues.base import Side  # noqa: E402
from hedged.sim.lighter.server import Latency  # noqa: E402
from tests.strategy.sims import sim_world  # noqa: E402  (the same wiring the simulator tests use)

BATCH = 20


async def run(fills: int, seed: int) -> tuple[list[float], list[float], int]:
    rng = random.Random(seed)
    idle: list[float] = []
    queued: list[float] = []
    arrivals: dict[float, bool] = {}  # received_at -> another hedge was live then

    async def alert(event, severity, **details):
        await trio.lowlevel.checkpoint()

    with tempfile.TemporaryDirectory() as tmp:
        # Lighter signs on a worker thread, as the adapter does in production (the tests keep it on the
        # Trio thread for the autojump clock).
        async with sim_world(Path(tmp), seed=seed, live_market=False, lighter_latency=Latency.standard(),
                             sign_in_thread=True) as w:
            ex: HedgeExecutor

            def on_latency(phase: str, seconds: float) -> None:
                if phase != "fill_to_sent":
                    return
                # The sample is taken at the send, so its arrival is (now - seconds), give or take the
                # microseconds between the two clock reads: the nearest recorded arrival is it.
                at = trio.current_time() - seconds
                key = min(arrivals, key=lambda a: abs(a - at)) if arrivals else None
                busy = arrivals.pop(key) if key is not None and abs(key - at) < 5e-4 else False
                (queued if busy else idle).append(seconds)

            ex = HedgeExecutor(ledger=w.ledger, maker=w.ext, hedge=w.lig, cfg=HedgeConfig(timeout_s=10.0),
                               tolerance=lambda: Decimal("0.05"), rng=random.Random(seed), alert=alert,
                               new_client_id=w.new_client_id, on_latency=on_latency)
            note = w.ledger.on_fill

            def tap(event, delta):
                if event.venue == w.ext.venue and event.received_at is not None:
                    arrivals[event.received_at] = bool(ex._live)
                note(event, delta)

            w.ledger.on_fill = tap
            await w.nursery.start(ex.run)
            sent = 0
            side = Side.BUY
            while sent < fills:
                sizes = [Decimal(rng.randint(1, 4)) / 10 for _ in range(BATCH)]
                cids = [await w.rest_maker(side, q) for q in sizes]
                for cid, q in zip(cids, sizes):
                    await trio.sleep(rng.expovariate(1 / 0.06))
                    w.ext_sim.force_fill(cid, q)
                    sent += 1
                with trio.fail_after(60):
                    await ex.wait_flat()
                side = side.opposite
            net = w.ledger.net_exposure.value
    return idle, queued, sent if abs(net) <= Decimal("0.05") else -sent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fills", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    logs.setup("WARNING", "text")
    idle, queued, sent = trio.run(run, args.fills, args.seed)
    print(f"maker fills: {abs(sent)}  ended flat: {sent > 0}  samples: idle {len(idle)}, queued {len(queued)}")
    for name, s in (("idle", idle), ("queued", queued), ("all", idle + queued)):
        if s:
            print(f"fill->sent {name:6s} p50 {pct(s, 0.5) * 1e3:7.3f} ms  p99 {pct(s, 0.99) * 1e3:7.3f} ms  "
                  f"max {max(s) * 1e3:7.3f} ms  (n={len(s)})")


if __name__ == "__main__":
    main()
