"""The one judgement both adapters pass on an order update against what they already hold (docs/design.md).

`judge(new, last)` says what `new` is, `remembered(new, last, verdict)` what to hold from now on:

| verdict | when | both adapters |
|---|---|---|
| `NEWS` | first sight, or more filled, or a later lifecycle stage | forward it; hold it, but a finished order stays finished, at its stamp (a late report of more fill is news, never a reopening) |
| `REGRESSED` | a lower cumulative fill stamped after the one held | forward it (the ledger raises `cumulative_regressed`); hold the highest fill with the new stamp, so a repeat is `STALE` |
| `STALE` | a lower fill stamped at or before the one held, or a finished order reported unfinished | never forwarded as such (fills never go backwards) |
| `DUPLICATE` | the same fill at the same or an earlier stage | nothing new: the ledger absorbs it (a pure duplicate writes nothing) |

Extended drops `STALE` and `DUPLICATE`. Lighter answers a `STALE` frame with the update it holds and passes a
`DUPLICATE` through (its REST snapshots must list every open order); either way the ledger learns nothing new.
"""

from __future__ import annotations

import enum
from dataclasses import replace

from hedged.venues.base import OrderStatus, OrderUpdate


class Verdict(enum.Enum):
    NEWS = "news"
    REGRESSED = "regressed"
    STALE = "stale"
    DUPLICATE = "duplicate"


def judge(new: OrderUpdate, last: OrderUpdate | None) -> Verdict:
    if last is None or last.status is OrderStatus.PENDING:
        return Verdict.NEWS
    if new.filled_qty < last.filled_qty:
        return Verdict.REGRESSED if new.ts_ms > last.ts_ms else Verdict.STALE
    if new.filled_qty > last.filled_qty:
        return Verdict.NEWS
    if last.status.is_terminal and not new.status.is_terminal:
        return Verdict.STALE
    return Verdict.NEWS if new.status.rank > last.status.rank else Verdict.DUPLICATE


def remembered(new: OrderUpdate, last: OrderUpdate | None, verdict: Verdict) -> OrderUpdate:
    """What to hold after `new` was judged `verdict` (only NEWS, REGRESSED and Lighter's DUPLICATE are held)."""
    if last is None or last.status is OrderStatus.PENDING:
        return new
    status = new.status if new.status.rank >= last.status.rank else last.status
    if verdict is Verdict.REGRESSED:
        return replace(new, status=status, filled_qty=last.filled_qty, avg_price=last.avg_price)
    if last.status.is_terminal and not new.status.is_terminal:
        # Late news of more fill: the order stays finished, and the finish's stamp stays what later reports are
        # judged against (a repeat of the finish that lagged in fill is then stale, not a regression).
        return replace(new, status=last.status, ts_ms=max(new.ts_ms, last.ts_ms))
    return new
