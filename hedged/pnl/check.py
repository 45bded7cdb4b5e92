"""Our money against the venues' own figures, after every reconciliation pass (issue 14, point 3).

Each venue's `account_money()` gives its balance, unrealised PnL, mark price, fee and funding
totals. These cover the account's whole life, ours only what the journal holds, so what is
compared is the *change since the run's first check*, per venue:

| check | venue side | our side |
|---|---|---|
| `equity` | balance + unrealised PnL | realised + unrealised (at the venue's mark) - fees + funding |
| `fees` | fees paid | fees paid - rebates |
| `funding` | funding total | funding received - paid |
| `realised` | position realised PnL | realised price PnL (logged and exported, no incident: venues differ in when they reset it) |

`equity` does not depend on how a venue books realised PnL (average cost or FIFO): realised +
unrealised at one mark is the cash flows plus position * mark either way. A difference beyond
`risk.pnl_mismatch_quote` on two checks in a row (one can catch a fill or payment still on its
way) is an incident. Checks are paced (at most one per reconcile interval, the first an interval
after start) and skip a venue that is re-syncing, so they never take REST budget the startup, a
re-sync or a hedge needs (a read per pass starved a Lighter re-sync in DST seed 9). A check is
skipped when the ledger moved for that venue during the call (a
fill arrived: the two pictures are of different instants), and a venue that does not report a
figure (None, or no `account_money` at all) is said once and not compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import trio
from loguru import logger
from trio_util import AsyncValue

from hedged.pnl.tracker import PnlTracker
from hedged.venues.base import AccountMoney, VenueClient, VenueError

ALERTED = ("equity", "fees", "funding")
_CALL_S = 10.0
_FUNDING_MARGIN_MS = 3_600_000  # funding history is re-read from an hour before the newest payment
_TRADES_MARGIN_MS = 600_000  # trades are read from 10 min before the last change of the oldest order missing some
# Funding history is read at the first check, whenever the venue's funding total moved differently
# from ours, and otherwise at most this often: each read costs REST budget that reconciliation and
# the hedges share (Lighter Standard: 60 requests a minute, sendTx included).
_FUNDING_EVERY_S = 600.0


@dataclass(frozen=True, slots=True)
class Difference:
    venue: str
    check: str
    ours: Decimal  # change since the baseline
    theirs: Decimal
    difference: Decimal  # theirs - ours

    @property
    def abs(self) -> Decimal:
        return abs(self.difference)


def ours_and_theirs(money: AccountMoney, tracker: PnlTracker) -> dict[str, tuple[Decimal, Decimal]]:
    """Current (ours, venue's) figure per check, for the figures the venue reports."""
    leg = tracker.book.report("all", {money.venue: money.mark_price}).leg(money.venue)
    out: dict[str, tuple[Decimal, Decimal]] = {}
    if money.balance is not None and leg.unrealised is not None:
        if money.unrealised_pnl is not None:
            out["equity"] = (leg.net, money.balance + money.unrealised_pnl)
        elif leg.position == 0:
            out["equity"] = (leg.net, money.balance)
    if money.fees_paid is not None:
        out["fees"] = (leg.fees, money.fees_paid)
    if money.funding_total is not None:
        out["funding"] = (leg.funding, money.funding_total)
    if money.realised_pnl is not None:
        out["realised"] = (leg.realised, money.realised_pnl)
    return out


def unpriced_since(core: Any, venue: Any) -> int | None:
    """The oldest last-change time of `venue`'s orders in memory that count more filled than their
    trade records add up to (None: every counted fill has its trade record)."""
    stamps = [rec.ts_ms for rec in core.orders.values() if rec.leg.venue is venue and rec.merged_into is None
              and rec.counted - rec.baseline > rec.trade_qty]
    return min(stamps, default=None)


class MoneyCheck:
    def __init__(self, *, ledger: Any, tracker: PnlTracker, clients: Sequence[VenueClient], bound: Decimal,
                 alert: Any = None, metrics: Any = None, call_s: float = _CALL_S, min_gap_s: float = 0.0,
                 funding_every_s: float = _FUNDING_EVERY_S) -> None:
        self.ledger = ledger
        self.tracker = tracker
        self.clients = tuple(clients)
        self.bound = bound
        self.alert = alert
        self.metrics = metrics
        self.call_s = call_s
        # Between two checks: the reconciliation interval. A pass before every cycle must not become
        # a money read before every cycle (the venues' REST budgets are shared with reconciliation).
        self.min_gap_s = min_gap_s
        self.funding_every_s = funding_every_s
        self._funding_read_at: dict[str, float] = {}
        self.checks: AsyncValue[int] = AsyncValue(0)  # completed passes (tests wait on it)
        self.last: dict[tuple[str, str], Difference] = {}
        self._base: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        self._over: set[tuple[str, str]] = set()  # beyond the bound on the last check
        self._said: set[str] = set()
        self._seen_pass = -1

    async def run(self, passes: AsyncValue[int], *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """After every reconciliation pass (`passes` moves), one check; never polls."""
        task_status.started()
        last: float | None = trio.current_time()  # not at start: the startup reads and re-syncs come first
        while True:
            await passes.wait_transition()
            if last is not None and trio.current_time() < last + self.min_gap_s:
                await trio.sleep_until(last + self.min_gap_s)  # pacing, then the pass that is newest by then
                if passes.value == self._seen_pass:
                    continue
            self._seen_pass = passes.value
            last = trio.current_time()
            await self.check()

    async def check(self) -> list[Difference]:
        found: list[Difference] = []
        for client in self.clients:
            found += await self._venue(client)
        self.checks.value += 1
        return found

    async def _venue(self, client: VenueClient) -> list[Difference]:
        venue = str(client.venue)
        synced = getattr(client, "synced", None)
        if synced is not None and not synced.value:
            # Re-syncing: its REST reads come first (Lighter Standard has 60 a minute, sendTx included).
            logger.debug("pnl_check_skipped venue={} reason=not_synced", venue)
            return []
        await self._backfill_trades(client)
        fetch = getattr(client, "account_money", None)
        if fetch is None:
            await self._backfill_funding(client, due=False)
            self._say_once(venue, "pnl_check_unsupported venue={} (the venue client does not report its money)")
            return []
        mark = self.ledger.mark(client.venue)
        try:
            with trio.fail_after(self.call_s):
                money: AccountMoney = await fetch()
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("pnl_check_failed venue={} error={!r}", venue, exc)
            return []
        if money.mark_price is not None:
            self.tracker.venue_marks[client.venue] = money.mark_price
        if self.ledger.mark(client.venue) != mark:
            logger.debug("pnl_check_skipped venue={} reason=ledger_moved", venue)
            return []
        figures = ours_and_theirs(money, self.tracker)
        # A payment we have not seen: the venue's funding total moved differently from ours or, where the
        # venue reports no funding total (Extended: its open position carries none), its equity did.
        clue = "funding" if "funding" in figures else "equity"
        if self._moved_apart(venue, clue, figures):
            await self._backfill_funding(client, due=True)
        elif clue == "equity" or (venue, "funding") not in self._base:
            await self._backfill_funding(client, due=False)  # paced (funding_every_s)
        figures = ours_and_theirs(money, self.tracker)
        if not figures:
            self._say_once(venue, "pnl_check_unsupported venue={} (the venue reports none of the figures)")
        out = []
        for check, (ours, theirs) in figures.items():
            key = (venue, check)
            base = self._base.setdefault(key, (ours, theirs))
            d = Difference(venue, check, ours - base[0], theirs - base[1], (theirs - base[1]) - (ours - base[0]))
            self.last[key] = d
            out.append(d)
            if self.metrics is not None:
                self.metrics.money_difference.labels(venue=venue, check=check).set(float(d.difference))
            logger.log("WARNING" if d.abs > self.bound else "DEBUG",
                       "pnl_check venue={} check={} ours={} venue_figure={} difference={} bound={}", venue, check,
                       d.ours, d.theirs, d.difference, self.bound)
            await self._judge(key, d)
        return out

    def _moved_apart(self, venue: str, check: str, figures: dict[str, tuple[Decimal, Decimal]]) -> bool:
        base = self._base.get((venue, check))
        if check not in figures or base is None:
            return False
        ours, theirs = figures[check]
        return theirs - base[1] != ours - base[0]

    async def _judge(self, key: tuple[str, str], d: Difference) -> None:
        if d.check not in ALERTED or d.abs <= self.bound:
            self._over.discard(key)
            return
        if key not in self._over:
            self._over.add(key)  # once may be a fill or payment on its way; twice in a row is not
            return
        if self.alert is not None:
            await self.alert("pnl_mismatch", "warning", key=f"{d.venue}:{d.check}", venue=d.venue, check=d.check,
                             ours=str(d.ours), venue_figure=str(d.theirs), difference=str(d.difference),
                             bound=str(self.bound))

    async def _backfill_trades(self, client: VenueClient) -> None:
        """Trade records of fills the ledger counted from an order's cumulative quantity alone (a frozen
        account stream: the order's state came by REST, its trades never did). Without them those fills
        have no price or fee, so our PnL would miss them; the venue's trade history has them."""
        since = unpriced_since(self.ledger.core, client.venue)
        history = getattr(client, "trades", None)
        if since is None or history is None:
            return
        got = await self._read_history(client, "trade", history, since - _TRADES_MARGIN_MS, self.ledger.backfill)
        if got is not None:
            logger.info("trades_backfilled venue={} new={} read={} why=fills_without_trade_record", client.venue,
                        *got)

    async def _read_history(self, client: VenueClient, what: str, history: Any, since_ms: int,
                            journal: Any) -> tuple[int, int] | None:
        """One history read from `since_ms`, its rows of our market journaled: (new, read), None if it failed."""
        try:
            with trio.fail_after(self.call_s):
                rows = await history(since_ms=max(0, since_ms))
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("{}_backfill_failed venue={} error={!r}", what, client.venue, exc)
            return None
        market = next(leg.market for leg in self.ledger.legs() if leg.venue is client.venue)
        return journal(r for r in rows if r.market == market), len(rows)

    async def _backfill_funding(self, client: VenueClient, *, due: bool) -> None:
        history = getattr(client, "funding", None)
        read_at = self._funding_read_at.get(str(client.venue))
        if (history is not None and not due and read_at is not None
                and trio.current_time() < read_at + self.funding_every_s):
            return
        if history is None:
            self._say_once(f"{client.venue}:funding",
                           "funding_history_unsupported venue={} (the venue client does not report funding)")
            return
        self._funding_read_at[str(client.venue)] = trio.current_time()
        since = self.tracker.funding_ts.get(client.venue, 0)
        got = await self._read_history(client, "funding", history, since - _FUNDING_MARGIN_MS,
                                       self.ledger.backfill_funding)
        if got is not None and got[0]:
            logger.info("funding_backfilled venue={} new={} read={}", client.venue, *got)

    def _say_once(self, key: str, template: str) -> None:
        if key not in self._said:
            self._said.add(key)
            logger.info(template, key.split(":")[0])


__all__ = ["ALERTED", "Difference", "MoneyCheck", "ours_and_theirs"]
