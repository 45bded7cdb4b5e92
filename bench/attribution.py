"""Fill -> hedge attribution from simulator stamps (pure: lists of stamps in, figures out).

Inputs are the rows of `GET /_sim/stamps` (hedged/sim/common/stamps.py), times in CLOCK_MONOTONIC s:

* Extended `fills`: `{t, trade, order, side: BUY|SELL, qty, taker}`, stamped when the TRADE frame was
  written to the account stream; `orders`: `{t, order, status, filled}` when an order ended with a fill.
* Lighter `txs`: `{t, type: 14 create | 15 cancel | 17 modify, side, qty, client, before?}`, stamped when
  the sendTx arrived; `orders`: `{t, client, status, filled, qty}` when an order reached a final status.

The rule (docs/benchmarks.md says the same):

1. Every event is a signed quantity in the position it moves: a maker fill on Extended +q (BUY) / -q
   (SELL); a hedge order on Lighter -q (SELL) / +q (BUY) at its arrival, for its whole quantity; an
   modify for (new remaining - remaining before), up or down; when a Lighter order ends, its unfilled part
   is given back (a cancelled hedge no longer covers anything). Extended taker trades (a flatten) are
   events too, but not samples.
   What an order was counted at (its create and modifies, at their arrival) and did not fill is given
   back when it ends, so a modify the sequencer refused (the order filled before it landed) is undone
   there, not counted forever.
2. Events are matched first in, first out against opposite-signed open quantity, in stamp order. A maker
   fill is *hedged* at the stamp of the event that covers the last of its quantity; its fill -> hedge
   time is that stamp minus the fill's stamp. Quantity already covered when the fill arrives (a hedge
   sent ahead, or an opposite fill that nets it) counts as time 0 for that part.
3. A fill is "hedge already resting" (queued) when, at its stamp, a Lighter hedge order is live (arrived,
   not ended) or an earlier fill is still uncovered; otherwise "executor idle". A fill is neither when,
   just after its stamp, what is open (after netting, all of one side: what an order would have to
   hedge) is less than Lighter's minimum order (`small_qty`): no order can hedge that, so the fill waits
   for more of its side or for a netting fill; it is its own population ("below the minimum"). So a
   0.09 fill that nets a 0.05 residual of the other side down to 0.04 open is below the minimum, and a
   0.03 fill that tops a 0.05 residual of its side up to 0.08 is hedgeable. A hedgeable fill whose open
   remainder later falls below the minimum before it is covered (a 0.06 fill 2 ms after a 0.25 one,
   whose hedge, decided before the 0.06 was seen, covers the 0.25 and leaves 0.06) counts in its
   population for the time until that happened: from then on no order could cover it. A stall before
   it still shows (a hedge sent 1 s late that leaves 0.05 counts 1 s). "All fills" keeps every fill's
   whole wait. Every hedged fill is in exactly one of the three; a fill never hedged is counted in
   `unhedged_fills` (and in none of them).
4. Time-weighted unhedged quantity: the integral of |open quantity| over the run divided by its length.

The replaced design (orig): it hedged an order's whole filled quantity once it saw the order end
FILLED (or cancelled part-filled), by polling every 0.5 s. Each maker fill of that order is hedged at
the first poll at or after the order's end stamp; the poll grid has one phase drawn from a seeded rng.
Its own send path is counted as zero, which favours orig (the ratio is a lower bound).
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
ORIG_POLL_S = 0.5


@dataclass
class _Open:
    t: float
    qty: Decimal  # signed, remaining
    sample: int | None  # index into the fill samples, None for a hedge / give-back


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # one per maker fill that got hedged, seconds
    idle: list[float] = field(default_factory=list)  # hedgeable fills (at least the minimum order) only
    resting: list[float] = field(default_factory=list)
    small: list[float] = field(default_factory=list)  # fills below the minimum order, idle or not
    unhedged_fills: int = 0  # maker fills still (partly) uncovered at the end
    time_weighted_unhedged: Decimal = ZERO
    max_unhedged: Decimal = ZERO
    duration_s: float = 0.0
    fills: int = 0
    # One per maker fill, in stamp order: (stamp, signed qty, fill -> hedge or None, what covered its last part:
    # "hedge" (an order or an upward modify), "fill" (an opposite maker fill netted it), "giveback", "taker", "ahead").
    # (stamp, signed qty, fill -> hedge or None, what covered its last part, below the minimum order)
    traces: list[tuple[float, Decimal, float | None, str | None, bool]] = field(default_factory=list)


def _events(ext: dict[str, Any], lig: dict[str, Any]) -> list[tuple[float, int, Decimal, str]]:
    """(t, order in a tie, signed qty, kind) with kind in fill | taker | hedge | giveback."""
    out: list[tuple[float, int, Decimal, str]] = []
    for f in ext.get("fills", []):
        q = Decimal(f["qty"]) * (1 if f["side"] == "BUY" else -1)
        out.append((f["t"], 0, q, "taker" if f.get("taker") else "fill"))
    sign = {"buy": 1, "sell": -1}
    counted: dict[Any, Decimal] = {}  # per order: the size its create and modifies were counted at, so far
    for tx in sorted(lig.get("txs", []), key=lambda tx: tx["t"]):
        if tx["type"] == 14:
            out.append((tx["t"], 1, Decimal(tx["qty"]) * sign[tx["side"]], "hedge"))
            counted[tx["client"]] = Decimal(tx["qty"])
        elif tx["type"] == 17 and tx.get("before") is not None and tx.get("side"):
            grow = Decimal(tx["qty"]) - Decimal(tx["before"])
            if grow:
                out.append((tx["t"], 1, grow * sign[tx["side"]], "hedge" if grow > 0 else "giveback"))
                if tx["client"] in counted:
                    counted[tx["client"]] += grow
    for o in lig.get("orders", []):
        if not o.get("side"):
            continue
        # What was counted for the order and did not fill goes back at its end. Counted, not its final size:
        # a modify the sequencer refused (the order had filled meanwhile) was counted at its arrival all the same.
        left = counted.get(o["client"], Decimal(o["qty"])) - Decimal(o["filled"])
        if left:
            out.append((o["t"], 2, -left * sign[o["side"]], "giveback" if left > 0 else "hedge"))
    out.sort(key=lambda e: (e[0], e[1]))
    return out


def _live_hedges(lig: dict[str, Any]) -> list[tuple[float, float]]:
    """[arrival, end) of each Lighter create, by client order index."""
    ends = {o["client"]: o["t"] for o in lig.get("orders", [])}
    return [(tx["t"], ends.get(tx["client"], math.inf)) for tx in lig.get("txs", []) if tx["type"] == 14]


def attribute(ext: dict[str, Any], lig: dict[str, Any], *, start: float | None = None,
              end: float | None = None, small_qty: Decimal = ZERO) -> Result:
    events = _events(ext, lig)
    res = Result()
    if not events:
        return res
    t0 = events[0][0] if start is None else start
    t1 = events[-1][0] if end is None else end
    windows = sorted(_live_hedges(lig))
    open_q: deque[_Open] = deque()
    samples: list[float | None] = []
    covered_by: list[str | None] = []
    stamps: list[tuple[float, Decimal]] = []
    resting_flag: list[bool] = []
    small_flag: list[bool] = []  # below the minimum at its own stamp
    cut: list[float | None] = []  # hedgeable at its stamp: how long until what was open fell below the minimum
    area, last_t, exposure = ZERO, t0, ZERO
    for t, _, qty, kind in events:
        area += abs(exposure) * Decimal(repr(max(0.0, t - last_t)))
        last_t = t
        sample = None
        if kind == "fill":
            sample = len(samples)
            busy = any(a <= t < b for a, b in windows) or any(o.sample is not None for o in open_q)
            samples.append(None)
            covered_by.append(None)
            stamps.append((t, qty))
            resting_flag.append(busy)
        left = qty
        while left and open_q and (open_q[0].qty > 0) != (left > 0):
            head = open_q[0]
            take = min(abs(left), abs(head.qty))
            head.qty += take if head.qty < 0 else -take
            left += -take if left > 0 else take
            if head.qty == 0:
                open_q.popleft()
                if head.sample is not None:
                    samples[head.sample] = t - head.t
                    covered_by[head.sample] = kind
        if sample is not None and left == 0:
            samples[sample] = 0.0
            covered_by[sample] = "ahead"
        if left:
            open_q.append(_Open(t, left, sample))
        # After netting, what is open is all of one side: what an order would have to cover. Below the
        # minimum, no order can: a fill still (partly) open then waits for more of its side or a netting.
        below = bool(open_q) and abs(sum(o.qty for o in open_q)) < small_qty
        if sample is not None:
            small_flag.append(below and left != 0)
            cut.append(None)
        if below:
            for o in open_q:
                if o.sample is not None and not small_flag[o.sample] and cut[o.sample] is None:
                    cut[o.sample] = t - o.t
        exposure += qty
        res.max_unhedged = max(res.max_unhedged, abs(exposure))
    area += abs(exposure) * Decimal(repr(max(0.0, t1 - last_t)))
    res.duration_s = max(0.0, t1 - t0)
    res.time_weighted_unhedged = area / Decimal(repr(res.duration_s)) if res.duration_s else ZERO
    res.fills = len(samples)
    res.traces = [(t, q, lat, by, small or c is not None)
                  for (t, q), lat, by, small, c in zip(stamps, samples, covered_by, small_flag, cut)]
    for lat, busy, small, c in zip(samples, resting_flag, small_flag, cut):
        if lat is None:
            res.unhedged_fills += 1
            continue
        res.latencies.append(lat)
        if small:
            res.small.append(lat)
        else:  # a hedgeable fill's sample ends when no order could cover what was left of it any more
            (res.resting if busy else res.idle).append(lat if c is None else min(lat, c))
    return res


def orig_replay(ext: dict[str, Any], *, seed: int = 1, poll_s: float = ORIG_POLL_S,
                phase: float | None = None) -> list[float]:
    """The replaced design's fill -> hedge times for the same maker fills (see the module text).
    Polls happen at `phase + k * poll_s` on the stamps' clock; `phase` is drawn from `seed` unless given."""
    ended = {o["order"]: o["t"] for o in ext.get("orders", [])}
    if phase is None:
        phase = random.Random(seed).uniform(0.0, poll_s)
    out = []
    for f in ext.get("fills", []):
        if f.get("taker") or f["order"] not in ended:
            continue  # an order still open at the end never reached orig's trigger in this run
        t_end = ended[f["order"]]
        poll = phase + math.ceil((t_end - phase) / poll_s) * poll_s
        out.append(poll - f["t"])
    return out


def pct(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (the same as bench/stats.py); NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50": pct(samples, 0.5), "p90": pct(samples, 0.9), "p99": pct(samples, 0.99),
            "max": max(samples) if samples else math.nan}
