"""Ledger throughput: order updates applied per second, in memory and journaled.

Workload: many maker orders on the maker leg, each going OPEN -> a few cumulative
partial fills -> FILLED or CANCELLED with its fill, plus one duplicate of every
update (the venues restate); every update carries both ids. Targets on the 2-core
reference machine: >= 100,000/s in memory, >= 20,000/s journaled.

Half of the updates are duplicates, which the ledger absorbs without a journal row;
"commit per update" therefore commits once per update that changed something.

Run: .venv/bin/python bench/ledger.py [--updates N] [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import trio
from loguru import logger

from hedged.ledger import Journal, Leg, Ledger, LedgerCore, Roles
from hedged.venues.base import OrderStatus, OrderUpdate, Side, Venue

ROLES = Roles(Leg(Venue.EXTENDED, "SOL-USD"), Leg(Venue.LIGHTER, "SOL"))


def workload(n: int, rng: random.Random) -> list[OrderUpdate]:
    out: list[OrderUpdate] = []
    oid = 0
    while len(out) < n:
        oid += 1
        side = rng.choice((Side.BUY, Side.SELL))
        qty = Decimal(rng.randint(5, 50)) / 10
        cum = Decimal(0)
        ups = [OrderUpdate(Venue.EXTENDED, "SOL-USD", str(oid), f"c{oid}", side, OrderStatus.OPEN, qty, cum)]
        for _ in range(rng.randint(1, 3)):
            cum = min(qty, cum + Decimal(rng.randint(1, 10)) / 10)
            ups.append(OrderUpdate(Venue.EXTENDED, "SOL-USD", str(oid), f"c{oid}", side,
                                   OrderStatus.PARTIALLY_FILLED, qty, cum, avg_price=Decimal("142.37")))
        end = OrderStatus.FILLED if cum == qty else OrderStatus.CANCELLED
        ups.append(OrderUpdate(Venue.EXTENDED, "SOL-USD", str(oid), f"c{oid}", side, end, qty, cum))
        for u in ups:
            out.append(u)
            out.append(u)  # duplicate delivery
    return out[:n]


def in_memory(updates: list[OrderUpdate]) -> float:
    core = LedgerCore(ROLES)
    t0 = time.perf_counter()
    for u in updates:
        core.apply_update(u)
        core.outbox.clear()  # the rows are built (that cost is real) but nobody writes them
    return len(updates) / (time.perf_counter() - t0)


def journaled(updates: list[OrderUpdate], batch: int, synchronous: str) -> float:
    with tempfile.TemporaryDirectory() as d, Journal.open(Path(d) / "ledger.db", synchronous=synchronous) as j:
        core = LedgerCore(ROLES)
        t0 = time.perf_counter()
        for i, u in enumerate(updates, 1):
            core.apply_update(u)
            if i % batch == 0:
                j.write(core.take_rows())
        j.write(core.take_rows())
        return len(updates) / (time.perf_counter() - t0)


def through_channel(updates: list[OrderUpdate]) -> float:
    """The daemon's path: adapter -> memory channel -> Ledger.run (publish, then background journal)."""

    async def go() -> float:
        with tempfile.TemporaryDirectory() as d:
            ledger = Ledger.open(ROLES, Path(d) / "ledger.db")
            send, receive = trio.open_memory_channel(4096)
            t0 = time.perf_counter()
            async with trio.open_nursery() as nursery:
                await nursery.start(ledger.run, receive)
                async with send:
                    for u in updates:
                        await send.send(u)
            rate = len(updates) / (time.perf_counter() - t0)
            ledger.close()
            return rate

    return trio.run(go)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (the machine is shared)")
    args = ap.parse_args()
    logger.remove()  # unknown-order info lines would measure the logger, not the ledger
    updates = workload(args.updates, random.Random(7))
    small = updates[: max(1000, args.updates // 10)]

    def best(fn, *a):
        return max(fn(*a) for _ in range(args.repeat))

    figures = [
        ("in memory", best(in_memory, updates), 100_000),
        ("journaled, batched 512, synchronous=NORMAL", best(journaled, updates, 512, "NORMAL"), 20_000),
        ("journaled, batched 512, synchronous=FULL", best(journaled, updates, 512, "FULL"), 20_000),
        ("journaled, commit per update, synchronous=NORMAL", best(journaled, small, 1, "NORMAL"), 20_000),
        ("journaled, commit per update, synchronous=FULL", best(journaled, small[:2000], 1, "FULL"), None),
        ("async Ledger.run via channel, journaled (NORMAL)", best(through_channel, updates), None),
    ]
    for name, rate, target in figures:
        verdict = "" if target is None else ("  (target %d/s: %s)" % (target, "met" if rate >= target else "MISSED"))
        print(f"{name:<52} {rate:>12,.0f} updates/s{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
