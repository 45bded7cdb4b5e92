"""The daemon's PnL: a `PnlBook` loaded from the journal at start and fed every new trade and
funding payment by the ledger (`LedgerCore.on_money`), so the cycle line, the summary, `hedged
status` and the metrics read one set of numbers.

Memory stays flat over a long run: the book keeps positions, the all-time bucket, today's bucket
and the open cycle's; a finished cycle's bucket is dropped once its line is logged.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Hashable
from decimal import Decimal
from typing import Any

from hedged.ledger.orders import Roles
from hedged.pnl.core import PnlBook, PnlReport
from hedged.pnl.history import day_of, fold
from hedged.venues.base import FundingPayment, Trade, Venue

ALL = "all"


class PnlTracker:
    def __init__(self, roles: Roles, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.roles = roles
        self._legs = {roles.maker.venue: roles.maker.market, roles.hedge.venue: roles.hedge.market}
        self.book = PnlBook((roles.maker.venue, roles.hedge.venue))
        self._wall_clock = wall_clock
        self._today = day_of(int(wall_clock() * 1000))
        # Mark prices per venue: AccountMoney.mark_price when the venue reported one (the money check
        # sets it), else the book's mid (the engine refreshes it before each export and status).
        self.venue_marks: dict[Venue, Decimal | None] = {}
        self.mids: dict[Venue, Decimal | None] = {}
        self.unpriced: dict[Venue, Decimal] = {}
        self.funding_ts: dict[Venue, int] = {}  # newest payment per venue: where the funding back-fill reads from

    # ---- feeding ----------------------------------------------------------------------------

    def load(self, conn: sqlite3.Connection) -> None:
        """Fold the journal's history; call before the ledger applies its first event."""
        folded = fold(conn, self.roles, self.book, self._history_buckets)
        self.unpriced = folded.unpriced
        self.funding_ts = dict(folded.funding_ts)

    def _history_buckets(self, kind: str, ts_ms: int, cycle_seq: int | None) -> tuple[Hashable, ...]:
        return (ALL, ("day", day_of(ts_ms))) if ts_ms and day_of(ts_ms) == self._today else (ALL,)

    def on_money(self, event: Trade | FundingPayment, cycle_seq: int | None) -> None:
        """`LedgerCore.on_money`: one new trade or payment (never a duplicate)."""
        if self._legs.get(event.venue) != event.market:
            return
        buckets = [ALL, ("day", self._day(event.ts_ms))]
        if cycle_seq is not None:
            buckets.append(("cycle", cycle_seq))
        if type(event) is Trade:
            self.book.fill(event.venue, event.side, event.qty, event.price, event.fee, event.liquidity, buckets)
        else:
            self.book.funding(event.venue, event.amount, buckets)
            self.funding_ts[event.venue] = max(self.funding_ts.get(event.venue, 0), event.ts_ms)

    def _day(self, ts_ms: int) -> str:
        now = day_of(int(self._wall_clock() * 1000))
        if now != self._today:  # midnight UTC passed: yesterday's bucket is history now
            self.book.drop(("day", self._today))
            self._today = now
        return day_of(ts_ms) if ts_ms else now

    # ---- reading ----------------------------------------------------------------------------

    @property
    def marks(self) -> dict[Venue, Decimal | None]:
        out = dict(self.mids)
        out.update({v: m for v, m in self.venue_marks.items() if m is not None})
        return out

    def total(self) -> PnlReport:
        return self.book.report(ALL, self.marks)

    def today(self) -> PnlReport:
        self._day(0)
        return self.book.report(("day", self._today), unrealised=False)

    def cycle(self, cycle_seq: int | None, *, drop: bool = True) -> PnlReport:
        """The realised money of one cycle (a cycle ends flat, so that is all of it)."""
        report = self.book.report(("cycle", cycle_seq), unrealised=False)
        if drop:
            self.book.drop(("cycle", cycle_seq))
        return report

    def status(self) -> dict[str, Any]:
        """The `pnl` part of the status document (and the end-of-run summary)."""
        total, today = self.total(), self.today()
        return {"today": today.components(), "all_time": {**total.components(), "marked": total.marked},
                "marks": {str(v): m for v, m in self.marks.items()},
                "unpriced_qty": {str(v): q for v, q in self.unpriced.items() if q}}


def attach(ledger: Any, *, wall_clock: Callable[[], float] = time.time) -> PnlTracker:
    """A tracker loaded from `ledger`'s journal and hooked to its core. Call right after the ledger
    is opened (before its first event), so no trade is both in the history and fed again."""
    tracker = PnlTracker(ledger.core.roles, wall_clock=wall_clock)
    if ledger.journal is not None:
        tracker.load(ledger.journal.reader())
    ledger.core.on_money = tracker.on_money
    return tracker


def summary_text(report: PnlReport) -> str:
    """`net=.. price=.. fees=.. funding=..` for the log lines."""
    return (f"net={report.net} price={report.total('price')} fees={report.fees} funding={report.funding}")
