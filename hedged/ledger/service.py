"""The async face of the ledger: AsyncValues to wait on, a channel to feed, a journal writer.

Order of operations for every event (and every hedge registration):

1. the core applies it in memory (synchronously, atomically under Trio);
2. the AsyncValues are set at once, so a task waiting on `open_hedge_delta` is
   scheduled before anything touches the disk;
3. the journal rows wait in the core's outbox; a separate writer task takes whatever
   has accumulated and commits it in one transaction on a worker thread, then looks
   again. A burst of fills therefore costs one commit, and a slow disk delays the
   journal, never a hedge.

A crash between 2 and 3 loses at most the last uncommitted batch from the journal;
the venues still have those fills, and startup reconciliation (or the restated
streams) brings them back through the same exactly-once path.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import trio
from loguru import logger
from trio_util import AsyncValue

from hedged.ledger.core import KEEP_LAST, SETTLE_MS, LedgerCore, LedgerStats, Roles
from hedged.ledger.hedging import HedgePlan
from hedged.ledger.journal import Journal, ReplayInfo
from hedged.ledger.orders import Leg, OrderRecord
from hedged.ledger.reconcile import ReconcileKind, ReconcilePlan, apply_reconciliation, plan_reconciliation
from hedged.venues.base import FundingPayment, MarketRules, OrderUpdate, PositionSnapshot, Side, Trade, Venue, VenueEvent


class Ledger:
    """Owns a `LedgerCore` and (optionally) its `Journal`.

    Mutators (`apply`, `register_hedge`, ...) are plain synchronous methods: they never
    await, so under Trio each one is atomic, and callers see their effect on the
    AsyncValues immediately. `run()` is the one task that feeds events from the
    adapters' channel and writes the journal.
    """

    def __init__(self, core: LedgerCore, journal: Journal | None = None, *, replay: ReplayInfo | None = None) -> None:
        self.on_write: Callable[[float], None] = lambda seconds: None  # journal commit latency hook
        # Called with (event, signed position change) for every event that moved a position
        # (the hedge executor starts each fill's latency clock here).
        self.on_fill: Callable[[VenueEvent, Decimal], None] | None = None
        # Commits go to a worker thread; under the autojump clock (DST) a thread looks idle, so write inline.
        self.write_in_thread = True
        self.defer_writes: Callable[[], Awaitable[None]] | None = None  # set by the strategy graph
        self.core = core
        self.journal = journal
        self.replay = replay
        self.positions: AsyncValue[Mapping[Leg, Decimal]] = AsyncValue(MappingProxyType(dict(core.positions)))
        self.net_exposure: AsyncValue[Decimal] = AsyncValue(core.net_exposure)
        self.in_flight: AsyncValue[Decimal] = AsyncValue(core.hedge_in_flight)
        self.open_hedge_delta: AsyncValue[Decimal] = AsyncValue(core.open_hedge_delta)
        self.residual: AsyncValue[Decimal] = AsyncValue(core.residual)
        self.reconcile_requested: AsyncValue[bool] = AsyncValue(core.reconcile_requested)
        # Bumped on every change: wait on it with a predicate over ledger state (e.g. an order's status).
        self.version: AsyncValue[int] = AsyncValue(0)
        self._legs = {leg.venue: leg for leg in (core.roles.maker, core.roles.hedge)}
        self._backlog: AsyncValue[int] = AsyncValue(0)  # rows in the outbox: wakes the writer
        self._uncommitted: AsyncValue[int] = AsyncValue(0)  # outbox + the batch being written

    @classmethod
    def open(cls, roles: Roles, path: str | Path, *, synchronous: str = "NORMAL", settle_ms: int = SETTLE_MS,
             keep_last: int = KEEP_LAST, wall_clock: Callable[[], float] | None = None) -> Ledger:
        """Open (or create) the journal at `path` and replay it. Raises `JournalError` with the file name.
        `settle_ms`/`keep_last`: which settled orders memory keeps (docs/ledger.md "What memory keeps").
        `wall_clock` stamps rows no venue time came with: the venues' clock (a restart reads the newest
        stamp back as the trade back-fill's watermark, so it must be on the venues' time line)."""
        journal = Journal.open(path, synchronous=synchronous, **({"wall_clock": wall_clock} if wall_clock else {}))
        try:
            core = LedgerCore(roles, settle_ms=settle_ms, keep_last=keep_last)
            info = journal.load(core)
            core.archive = journal.archive()  # from now on settled orders may leave memory
        except BaseException:
            journal.close()
            raise
        return cls(core, journal, replay=info)

    def close(self) -> None:
        self.flush()
        if self.journal is not None:
            self.core.archive = None  # nothing leaves memory, nothing is read back, once the file is closed
            self.journal.close()

    # ---- mutators -----------------------------------------------------------------------

    def apply(self, event: VenueEvent) -> Decimal:
        delta = self.core.apply(event)
        if delta and self.on_fill is not None:
            self.on_fill(event, delta)
        self._publish(bool(delta))
        return delta

    def register_hedge(self, client_id: str, side: Side, qty: Decimal, *, residual: Decimal | None = None,
                       cycle_id: str | None = None, ts_ms: int = 0) -> OrderRecord:
        """Call *before* sending the hedge; its quantity is in flight from this moment."""
        rec = self.core.register_hedge(client_id, side, qty, residual=residual, cycle_id=cycle_id, ts_ms=ts_ms)
        self._publish(False)
        return rec

    def register_plan(self, plan: HedgePlan, client_id: str, *, cycle_id: str | None = None,
                      ts_ms: int = 0) -> OrderRecord | None:
        """Register the hedge a `HedgePlan` asks for (None if it asks for nothing but residual)."""
        if not plan.needed:
            self.core.record_residual(plan.residual, reason="below_size_step", cycle_id=cycle_id, ts_ms=ts_ms)
            self._publish(False)
            return None
        assert plan.side is not None
        return self.register_hedge(client_id, plan.side, plan.qty, residual=plan.residual, cycle_id=cycle_id,
                                   ts_ms=ts_ms)

    def register_order(self, leg: Leg | Venue, client_id: str, side: Side, qty: Decimal, *,
                       ts_ms: int = 0) -> OrderRecord:
        """Record an order we are about to send (a Venue means that venue's role leg)."""
        leg = self._legs[leg] if isinstance(leg, Venue) else leg
        rec = self.core.register_order(leg, client_id, side, qty, ts_ms=ts_ms)
        self._publish(False)
        return rec

    def fail_order(self, venue: Venue, client_id: str, reason: str) -> None:
        self.core.fail_order(venue, client_id, reason)
        self._publish(True)

    def note_cancel_requested(self, venue: Venue, client_id: str | None = None, *, order_id: str | None = None) -> None:
        self.core.note_cancel_requested(venue, order_id=order_id, client_id=client_id)
        self._publish(False)

    def record_cycle(self, cycle_id: str, phase: str, *, detail: str = "", ts_ms: int = 0) -> None:
        self.core.record_cycle(cycle_id, phase, detail=detail, ts_ms=ts_ms)
        self._publish(False)

    def reconcile(self, positions: Iterable[PositionSnapshot], open_orders: Iterable[OrderUpdate], *,
                  kind: ReconcileKind, statuses: Mapping[str, OrderUpdate | None] | None = None,
                  adjust: Iterable[Leg] | None = None, asked_pending: Iterable[str] = (),
                  ts_ms: int = 0) -> ReconcilePlan:
        """Plan and apply in one step (atomic under Trio). See `plan_reconciliation` for
        `statuses` (answers of per-order queries), `adjust` (legs whose fence held) and `asked_pending`."""
        plan = plan_reconciliation(self.core, positions, open_orders, kind=kind, statuses=statuses, adjust=adjust,
                                   asked_pending=asked_pending)
        apply_reconciliation(self.core, plan, ts_ms=ts_ms)
        # Routine when nothing changed (every reconcile_interval_s); worth a line when it corrected something.
        changed = plan.adjustments or plan.adopt or plan.close or plan.held
        logger.log("INFO" if changed else "DEBUG",
                   "ledger_reconciled kind={} adjustments={} adopted={} closed={} held={} net_exposure={}", kind,
                   len(plan.adjustments), len(plan.adopt), len(plan.close), ",".join(map(str, plan.held)) or "-",
                   plan.net_exposure)
        self._publish(True)
        return plan

    def backfill(self, trades: Iterable[Trade]) -> int:
        """Apply fills from a venue's trade history; trade ids the journal holds are skipped
        by the exactly-once path. Returns how many trades were new."""
        n = 0
        for t in trades:
            before = self.core.counters["duplicate_trade"]
            self.apply(t)  # the same path as a streamed trade (and its hooks)
            n += self.core.counters["duplicate_trade"] == before
        return n

    def backfill_funding(self, payments: Iterable[FundingPayment]) -> int:
        """Journal funding payments from a venue's funding history; payment ids already journaled
        are skipped. Returns how many were new."""
        n = sum(self.core.apply_funding(p) for p in payments)
        if n:
            self._publish(False)
        return n

    def mark(self, venue: Venue) -> int:
        """Changes applied so far to `venue`'s orders and fills (the reconciler's fence)."""
        return self.core.marks[venue]

    def legs(self) -> tuple[Leg, Leg]:
        return self.core.roles.maker, self.core.roles.hedge

    def live_orders(self, venue: Venue) -> list[OrderRecord]:
        """Records of `venue` the ledger still considers working (not terminal, not merged): O(live)."""
        return [r for r in self.core.live.values()
                if r.leg.venue is venue and r.merged_into is None and not r.status.is_terminal]

    def counter(self, name: str) -> int:
        """One anomaly/event counter of the core (cheaper than `statistics()` for a metrics pass)."""
        return self.core.counters.get(name, 0)

    # ---- reads ----------------------------------------------------------------------------

    def position(self, venue: Venue) -> Decimal:
        """Position of `venue`'s role leg (maker or hedge)."""
        return self.core.positions[self._legs[venue]]

    def hedge_in_flight(self) -> Decimal:
        """Signed position change live hedge orders will still make (also published as `in_flight`)."""
        return self.core.hedge_in_flight

    def order(self, venue: Venue, client_id: str | None = None, *, order_id: str | None = None) -> OrderRecord | None:
        return self.core.find(venue, order_id=order_id, client_id=client_id)

    def hedge_plan(self, rules: MarketRules) -> HedgePlan:
        """What to send on the hedge venue now: `-open_hedge_delta`, rounded down to `rules`."""
        return self.core.hedge_plan(rules)

    def statistics(self) -> LedgerStats:
        return self.core.statistics()

    @property
    def _journal_path(self) -> Path | None:
        return None if self.journal is None else self.journal.path

    @property
    def journal_backlog(self) -> int:
        """Rows applied in memory but not yet committed to the journal."""
        return self._uncommitted.value

    async def wait_journaled(self) -> None:
        """Wait until everything applied so far is committed (needs `run()` to be running)."""
        await self._uncommitted.wait_value(0)

    async def wait_hedged(self, tolerance: Decimal) -> Decimal:
        """Wait until |open hedge delta| <= tolerance; returns the value seen."""
        return await self.open_hedge_delta.wait_value(lambda v: abs(v) <= tolerance)

    # ---- the owning task ------------------------------------------------------------------

    async def run(self, events: trio.MemoryReceiveChannel[VenueEvent], *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Apply events from the adapters until the channel closes; journal in the background."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                task_status.started()
                async with events:
                    async for event in events:
                        self.apply(event)
                        # Apply whatever else is already queued before yielding to the scheduler.
                        while True:
                            try:
                                event = events.receive_nowait()
                            except (trio.WouldBlock, trio.EndOfChannel):
                                break
                            self.apply(event)
                nursery.cancel_scope.cancel()
        except BaseException:
            # Cancelled or failing: still save what is in memory (local SQLite, short), but never
            # let a second journal error hide the first one.
            with trio.CancelScope(shield=True):
                try:
                    self.flush()
                except Exception as exc:
                    logger.error("journal_flush_failed path={} error={!r}", self._journal_path, exc)
            raise
        self.flush()

    def flush(self) -> int:
        """Write everything pending now (synchronously). Returns the rows written."""
        rows = self.core.take_rows()
        epoch = self.core.last_taken
        self._backlog.value = 0
        try:
            n = self.journal.write(rows) if self.journal is not None and rows else 0
            if self.journal is not None:
                self.core.committed(epoch)
            return n
        except BaseException:
            self.core.outbox[:0] = rows  # not written: keep them for the next attempt
            raise
        finally:
            self._uncommitted.value = len(self.core.outbox)

    async def _writer(self) -> None:
        while True:
            await self._backlog.wait_value(lambda n: n > 0)
            if self.defer_writes is not None:
                await self.defer_writes()  # a hedge being written goes first (strategy/hedgefirst.py)
            # One scheduler pass lets the rest of a burst land in the same transaction.
            await trio.lowlevel.cancel_shielded_checkpoint()
            rows = self.core.take_rows()
            epoch = self.core.last_taken
            self._backlog.value = 0
            try:
                journal = self.journal
                if journal is not None and rows:
                    began = time.perf_counter()
                    if self.write_in_thread:
                        await trio.to_thread.run_sync(journal.write, rows)
                    else:
                        journal.write(rows)
                    self.on_write(time.perf_counter() - began)
                    if self.journal is journal:  # not detached meanwhile (a simulated crash)
                        self.core.committed(epoch)
            except BaseException:
                self.core.outbox[:0] = rows
                raise
            finally:
                self._uncommitted.value = len(self.core.outbox)

    def _publish(self, positions_changed: bool) -> None:
        core = self.core
        if positions_changed:
            self.positions.value = MappingProxyType(dict(core.positions))
            self.net_exposure.value = core.net_exposure
        self.in_flight.value = core.hedge_in_flight
        self.open_hedge_delta.value = core.open_hedge_delta
        self.residual.value = core.residual
        self.reconcile_requested.value = core.reconcile_requested
        self.version.value += 1
        n = len(core.outbox)
        self._uncommitted.value += n - self._backlog.value
        self._backlog.value = n
