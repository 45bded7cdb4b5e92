"""The pure ledger: venue events in, positions and journal rows out. No I/O, no Trio.

Exactly-once rule: an order contributes `counted = max(highest cumulative filled qty
seen, sum of its distinct trades)` to its leg's position. Every observation can only
raise `counted`, so duplicates, replays, reordering and restated snapshots never count
a fill twice, and whichever of the two sources (order updates, trades) arrives first
is hedged first. A cumulative figure that goes down is an anomaly: counted, logged,
and it asks for a reconciliation; it never subtracts.

Memory holds live orders and recently settled ones only (`prune`, docs/ledger.md "What memory
keeps"); older orders live in the journal, and an event naming one is answered from it
(`archive`) before the exactly-once rule runs, so pruning never counts a fill twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from loguru import logger

from hedged.ledger import records as R
from hedged.ledger.hedging import Coverage, HedgePlan, plan_hedge
from hedged.ledger.memory import KEEP_LAST, SETTLE_MS, Archive, MemoryBound
from hedged.ledger.orders import Leg, OrderRecord, Roles, absorb, describes_another_order, next_status
from hedged.venues.base import (ZERO, FundingPayment, MarketRules, OrderStatus, OrderUpdate, PositionSnapshot, Side,
                                Trade, Venue, VenueEvent)

# Roles lives in orders.py, next to Leg; the memory bounds and Archive in memory.py
__all__ = ["KEEP_LAST", "SETTLE_MS", "Archive", "LedgerCore", "LedgerStats", "Roles"]

# Events worth a counter but not a warning: they are normal venue behaviour.
_BENIGN = frozenset({"stale_update", "duplicate_trade", "duplicate_funding", "late_fill", "fill_while_cancel_pending", "unknown_order",
                     "orders_merged", "fill_after_reconcile_close"})
# Read as "the venue id of a finished order came back on another order" (a venue restarted and
# reused its ids): never merged into the old record; a new record is opened for it.
_REUSED = "order_id_reused"


@dataclass(frozen=True, slots=True)
class LedgerStats:
    orders: int
    live_orders: int
    counters: dict[str, int]
    reconcile_requested: bool
    pruned: int = 0  # records moved out of memory (still in the journal)
    recalled: int = 0  # of them, read back because an event named them


class LedgerCore(MemoryBound):
    """All ledger state. One owner mutates it; every mutator is synchronous and atomic.

    Journal rows for every change are appended to `outbox`; the owner drains it with
    `take_rows()` *after* publishing the new exposure, so a write never delays a hedge.
    """

    def __init__(self, roles: Roles, *, settle_ms: int = SETTLE_MS, keep_last: int = KEEP_LAST) -> None:
        self.roles = roles
        self.orders: dict[str, OrderRecord] = {}
        self._by_oid: dict[tuple[Venue, str], OrderRecord] = {}
        self._by_cid: dict[tuple[Venue, str], OrderRecord] = {}
        self._trades: dict[tuple[Venue, str], str] = {}  # (venue, trade id) -> order key
        self.positions: dict[Leg, Decimal] = {roles.maker: ZERO, roles.hedge: ZERO}
        self.adjustments: dict[str, tuple[Leg, Decimal, str]] = {}
        self.venue_snapshots: dict[Leg, PositionSnapshot] = {}
        self.hedge_in_flight = ZERO
        self.residual = ZERO
        self.coverage = Coverage()
        self.counters: Counter[str] = Counter()
        self.reconcile_requested = False
        self.outbox: list[R.Row] = []
        self._next_order = 1
        self._legs: dict[Leg, Leg] = {roles.maker: roles.maker, roles.hedge: roles.hedge}
        self._next_adj = 1
        # Per venue: bumped by every event that changes what the ledger knows about that venue's
        # orders or fills. The reconciler's fence: a snapshot taken while it moved is not applied.
        self.marks: Counter[Venue] = Counter()
        # Per venue: the newest venue timestamp seen on an order or fill (the back-fill watermark).
        self.venue_ts: dict[Venue, int] = {}
        self._init_memory(settle_ms, keep_last)
        # Money (issue 14). Funding payments journaled so far, by (venue, payment id): the dedupe key.
        self._funding: set[tuple[Venue, str]] = set()
        # Cycles started over the journal's whole life; `cycle_seq` is the open one (None between
        # cycles), stamped on every fill row so PnL can be cut per cycle across restarts.
        self.cycles_started = 0
        self.cycle_seq: int | None = None
        # Called with (trade, cycle_seq) for every new trade of ours and (payment, cycle_seq) for every
        # new funding payment: the PnL book's feed. Never for a duplicate.
        self.on_money: Callable[[Trade | FundingPayment, int | None], None] | None = None

    # ---- derived values -------------------------------------------------------------------

    @property
    def net_exposure(self) -> Decimal:
        """Maker leg position + hedge leg position (same base asset, long > 0)."""
        return self.positions[self.roles.maker] + self.positions[self.roles.hedge]

    @property
    def open_hedge_delta(self) -> Decimal:
        """Net exposure not yet covered by a hedge in flight: what still needs a hedge.

        `hedge_in_flight` is the signed position change live hedge orders will make if they
        fill (a resting SELL of 0.4 is -0.4), so a fully hedged book reads 0 here even while
        the hedge is still working.
        """
        return self.net_exposure + self.hedge_in_flight

    def hedge_plan(self, rules: MarketRules) -> HedgePlan:
        return plan_hedge(self.open_hedge_delta, rules)

    def find(self, venue: Venue, *, order_id: str | None = None, client_id: str | None = None) -> OrderRecord | None:
        rec = self._by_oid.get((venue, order_id)) if order_id is not None else None
        if rec is None and client_id is not None:
            rec = self._by_cid.get((venue, client_id))
        if rec is None and self._recall(venue, order_id, client_id):
            return self.find(venue, order_id=order_id, client_id=client_id)
        return rec

    def statistics(self) -> LedgerStats:
        """O(1) in the history: live records are kept in their own index."""
        return LedgerStats(len(self.orders), len(self.live), dict(self.counters), self.reconcile_requested,
                           self.pruned, self.recalled)

    # ---- events ---------------------------------------------------------------------------

    def apply(self, event: VenueEvent) -> Decimal:
        """Apply one venue event; returns the signed position change it caused."""
        if type(event) is OrderUpdate:
            return self.apply_update(event)
        if type(event) is Trade:
            return self.apply_trade(event)
        if type(event) is PositionSnapshot:
            self.apply_snapshot(event)
            return ZERO
        if type(event) is FundingPayment:
            self.apply_funding(event)
            return ZERO
        raise TypeError(f"not a venue event: {type(event).__name__}")

    def apply_update(self, u: OrderUpdate) -> Decimal:
        # Fast path: found by venue id and nothing to learn or merge from the client id.
        rec = self._by_oid.get((u.venue, u.order_id)) if u.order_id is not None else None
        if (rec is None or (u.client_id is not None and rec.client_id != u.client_id) or u.side is not rec.side
                or (u.qty != rec.qty and rec.status.is_terminal)):
            rec = self._lookup(u.venue, u.market, u.order_id, u.client_id, u.side, u.qty, u.ts_ms)
            if rec is None:
                return ZERO
        if u.side is not rec.side:
            self._note("side_mismatch", rec, f"observed={u.side}")
            return ZERO
        hedge = rec.is_hedge
        before = rec.in_flight if hedge else ZERO
        was_terminal = rec.status.is_terminal
        status, what = next_status(rec.status, u.status)
        changed = False
        if what is not None:
            self._note(what, rec, f"from={rec.status} to={u.status}")
        if what != "stale_update":
            if u.qty > 0 and u.qty != rec.qty:
                rec.qty = u.qty
                changed = True
            if status is not rec.status:
                rec.status = status
                changed = True
        if u.ts_ms > rec.ts_ms:
            rec.ts_ms = u.ts_ms
        self._seen_ts(u.venue, u.ts_ms)
        cum = u.filled_qty
        if changed or cum != rec.cum:
            self.marks[u.venue] += 1
        delta = ZERO
        if cum > rec.cum:
            self._fill_context(rec, was_terminal)
            rec.cum = cum
            if u.avg_price is not None:
                rec.avg_price = u.avg_price
            oid = rec.order_id if rec.order_id is not None else f"c:{rec.client_id}"
            delta = self._recount(rec, f"{rec.leg.venue}|o|{oid}|{cum}", None, u.avg_price, u.ts_ms)
        else:
            if cum < rec.cum:
                self._note("cumulative_regressed", rec, f"seen={rec.cum} now={cum}")
                self.reconcile_requested = True
            if changed:  # a pure duplicate writes nothing
                self._row(rec)
        if hedge:
            self._after(rec, before)
        return delta

    def apply_trade(self, t: Trade) -> Decimal:
        tkey = (t.venue, t.trade_id)
        if tkey in self._trades or tkey in self._half_trades:
            self.counters["duplicate_trade"] += 1
            return ZERO
        # A trade for an order we never saw: its size is at least this trade.
        rec = self._lookup(t.venue, t.market, t.order_id, t.client_id, t.side, t.qty, t.ts_ms, sized=False)
        if rec is None:
            return ZERO
        if tkey in self._trades:  # the order was read back from the journal with this trade
            self.counters["duplicate_trade"] += 1
            return ZERO
        if t.side is not rec.side:
            self._note("side_mismatch", rec, f"trade={t.trade_id} observed={t.side}")
            return ZERO
        before = rec.in_flight if rec.is_hedge else ZERO
        self.marks[t.venue] += 1
        self._seen_ts(t.venue, t.ts_ms)
        self._fill_context(rec, rec.status.is_terminal)
        self._trades[tkey] = rec.key
        rec.trade_ids.add(t.trade_id)
        rec.trade_qty += t.qty
        delta = self._recount(rec, f"{t.venue}|t|{t.trade_id}", t.trade_id, t.price, t.ts_ms, trade_qty=t.qty,
                              fee=t.fee, liquidity=t.liquidity)
        self._after(rec, before)
        if self.on_money is not None:
            self.on_money(t, self.cycle_seq)
        return delta

    def apply_funding(self, p: FundingPayment) -> bool:
        """Journal one funding payment once (stream and history may both report it). Positions do
        not change: funding is money, not size. Returns True when it was new."""
        key = (p.venue, p.payment_id)
        if key in self._funding:
            self.counters["duplicate_funding"] += 1
            return False
        self._funding.add(key)
        self.counters["funding_payment"] += 1
        self.outbox.append(R.row_funding(p, self.cycle_seq))
        if self.on_money is not None:
            self.on_money(p, self.cycle_seq)
        return True

    def knows_funding(self, venue: Venue, payment_id: str) -> bool:
        return (venue, payment_id) in self._funding

    def apply_snapshot(self, s: PositionSnapshot) -> None:
        # Snapshots race with fills on other streams, so they never move positions here;
        # the reconciler compares them at a quiet moment.
        self.venue_snapshots[Leg(s.venue, s.market)] = s
        self.outbox.append((R.SNAPSHOT, s.venue, s.market, s.size, s.ts_ms))

    # ---- orders we create -----------------------------------------------------------------

    def register_hedge(self, client_id: str, side: Side, qty: Decimal, *, residual: Decimal | None = None,
                       cycle_id: str | None = None, ts_ms: int = 0) -> OrderRecord:
        """Record a hedge order *before* it is sent, so its quantity is in flight at once.

        Links it to the oldest uncovered maker fills of the opposite sign. `residual` is the
        lot residual of the plan it came from (kept for the guard and the journal).
        """
        leg = self.roles.hedge
        if (leg.venue, client_id) in self._by_cid:
            raise ValueError(f"hedge client id {client_id!r} is already registered")
        if qty <= 0:
            raise ValueError(f"hedge qty must be positive, got {qty}")
        rec = self._new(leg, side, None, client_id, qty, OrderStatus.PENDING, ts_ms)
        self.hedge_in_flight += rec.in_flight
        for fill_key, total in self.coverage.allocate(rec.key, qty * side.sign):
            self.outbox.append((R.LINK, rec.key, fill_key, total))
        if residual is not None:
            self.record_residual(residual, reason=f"hedge {client_id}", cycle_id=cycle_id, ts_ms=ts_ms)
        self._row(rec)
        logger.debug("hedge_registered client_id={} side={} qty={} cycle={}", client_id, side, qty, cycle_id)
        return rec

    def register_order(self, leg: Leg, client_id: str, side: Side, qty: Decimal, *, ts_ms: int = 0) -> OrderRecord:
        """Record a non-hedge order (e.g. a maker quote) before it is sent."""
        rec = self._by_cid.get((leg.venue, client_id))
        if rec is not None:
            return rec
        rec = self._new(leg, side, None, client_id, qty, OrderStatus.PENDING, ts_ms)
        self.hedge_in_flight += rec.in_flight if rec.is_hedge else ZERO
        self._row(rec)
        return rec

    def fail_order(self, venue: Venue, client_id: str, reason: str) -> None:
        """The venue certainly refused or never got the order (e.g. OrderRejected): it is not live."""
        rec = self._by_cid.get((venue, client_id))
        if rec is None:
            return
        self.apply_update(OrderUpdate(venue, rec.leg.market, rec.order_id, client_id, rec.side,
                                      OrderStatus.REJECTED, rec.qty, rec.cum, reason=reason, ts_ms=rec.ts_ms))

    def note_cancel_requested(self, venue: Venue, *, order_id: str | None = None, client_id: str | None = None) -> None:
        rec = self.find(venue, order_id=order_id, client_id=client_id)
        if rec is not None and not rec.cancel_requested:
            rec.cancel_requested = True
            self._row(rec)

    def record_residual(self, qty: Decimal, *, reason: str, cycle_id: str | None = None, ts_ms: int = 0) -> None:
        self.residual = qty
        self.outbox.append((R.RESIDUAL, qty, reason, cycle_id, ts_ms))

    def record_cycle(self, cycle_id: str, phase: str, *, detail: str = "", ts_ms: int = 0) -> None:
        # "start" opens the cycle fills are stamped with; its row's detail begins with the journal-wide
        # sequence number (`seq=N`), which is how `hedged pnl --by cycle` finds the cycle again.
        if phase == "start":
            self.cycles_started += 1
            self.cycle_seq = self.cycles_started
            detail = f"seq={self.cycle_seq}" + (f" {detail}" if detail else "")
        elif phase == "done":
            self.cycle_seq = None
        self.outbox.append((R.CYCLE, cycle_id, phase, detail, ts_ms))

    # ---- reconciliation hooks (see reconcile.py for the decisions) -------------------------

    def adjust_position(self, leg: Leg, delta: Decimal, reason: str, *, ts_ms: int = 0) -> str:
        adj_id = f"a{self._next_adj}"
        self._next_adj += 1
        self.positions[leg] = self.positions.get(leg, ZERO) + delta
        self.adjustments[adj_id] = (leg, delta, reason)
        self.counters["position_adjusted"] += 1
        self.outbox.append((R.ADJUSTMENT, adj_id, leg.venue, leg.market, delta, reason, ts_ms))
        logger.warning("ledger_position_adjusted leg={} delta={} reason={}", leg, delta, reason)
        return adj_id

    def adopt(self, u: OrderUpdate) -> OrderRecord:
        """Take over an order the venue has and we do not: its fills so far are already in
        the venue position, so they are a baseline, not new fills."""
        rec = self._new(Leg(u.venue, u.market), u.side, u.order_id, u.client_id, u.qty, u.status, u.ts_ms)
        rec.cum = rec.counted = rec.baseline = u.filled_qty
        rec.avg_price = u.avg_price
        if rec.is_hedge:
            self.hedge_in_flight += rec.in_flight
        self.counters["adopted_order"] += 1
        self._row(rec)
        return rec

    def close_missing(self, rec: OrderRecord, reason: str) -> None:
        """The venue no longer has this order: it is over. Fills we missed show up as a position adjustment."""
        before = rec.in_flight
        rec.status = OrderStatus.CANCELLED
        rec.closed_by_reconcile = True
        self.marks[rec.leg.venue] += 1
        self.counters["closed_by_reconcile"] += 1
        logger.warning("ledger_order_closed key={} order_id={} client_id={} reason={}", rec.key, rec.order_id,
                       rec.client_id, reason)
        self._after(rec, before)
        # Journaled, so a restart neither closes it again nor forgets to guard against its late fills.
        self._row(rec)

    # ---- internals ------------------------------------------------------------------------

    def _new(self, leg: Leg, side: Side, oid: str | None, cid: str | None, qty: Decimal, status: OrderStatus,
             ts_ms: int) -> OrderRecord:
        key = f"o{self._next_order}"
        self._next_order += 1
        leg = self._legs.setdefault(leg, leg)  # one Leg object per leg: dict hits by identity
        rec = OrderRecord(key, leg, side, oid, cid, status, qty, is_hedge=leg == self.roles.hedge, ts_ms=ts_ms,
                          epoch=self._epoch)
        self.orders[key] = rec
        self._track(rec)
        self.positions.setdefault(leg, ZERO)
        if oid is not None:
            self._by_oid[(leg.venue, oid)] = rec
        if cid is not None:
            self._by_cid[(leg.venue, cid)] = rec
        return rec

    def _lookup(self, venue: Venue, market: str, oid: str | None, cid: str | None, side: Side, qty: Decimal,
                ts_ms: int, *, sized: bool = True) -> OrderRecord | None:
        # `sized`: `qty` is the order's size (an update), not one trade's.
        a = self._by_oid.get((venue, oid)) if oid is not None else None
        b = self._by_cid.get((venue, cid)) if cid is not None else None
        if (a is None or b is None) and self._recall_for(venue, oid, cid, a, b):
            a = self._by_oid.get((venue, oid)) if oid is not None else None
            b = self._by_cid.get((venue, cid)) if cid is not None else None
        if a is not None and a is not b and describes_another_order(a, cid, side if sized else None, qty if sized else None):
            self._note(_REUSED, a, f"order_id={oid} client_id={cid} side={side} qty={qty}")
            self.reconcile_requested = True
            del self._by_oid[(venue, oid)]  # the id now names the new order
            a = None
            if b is not None and b.order_id is not None and b.order_id != oid:
                b = None  # our client id on yet another venue id: not ours to merge either
        if a is not None and b is not None and a is not b:
            return self._merge(a, b)
        rec = a or b
        if rec is None:
            if oid is None and cid is None:
                self.counters["event_without_ids"] += 1
                logger.warning("ledger_event_without_ids venue={} market={}", venue, market)
                return None
            self.counters["unknown_order"] += 1
            self.marks[venue] += 1
            logger.info("ledger_unknown_order venue={} order_id={} client_id={}", venue, oid, cid)
            rec = self._new(Leg(venue, market), side, oid, cid, qty, OrderStatus.PENDING, ts_ms)
            if rec.is_hedge:
                self.hedge_in_flight += rec.in_flight
            self._row(rec)
            return rec
        learned = False
        if oid is not None and rec.order_id is None:
            rec.order_id = oid
            self._by_oid[(venue, oid)] = rec
            learned = True
        if cid is not None and rec.client_id is None:
            rec.client_id = cid
            self._by_cid[(venue, cid)] = rec
            learned = True
        if learned:
            self._row(rec)
        return rec

    def _merge(self, a: OrderRecord, b: OrderRecord) -> OrderRecord:
        """Two records turned out to be one order (first seen by venue id, then by client id).

        The merged order counts max(cum, trades) once; anything both halves had counted is
        taken back, which is a correction towards the truth, not a lost fill.
        """
        keep, gone = (a, b) if int(a.key[1:]) < int(b.key[1:]) else (b, a)
        before = keep.in_flight + gone.in_flight
        old = keep.contribution + gone.contribution
        for tid in gone.trade_ids:
            self._trades[(gone.leg.venue, tid)] = keep.key
        absorb(keep, gone)
        for idx, val in ((self._by_oid, keep.order_id), (self._by_cid, keep.client_id)):
            if val is not None:
                idx[(keep.leg.venue, val)] = keep
        self.positions[keep.leg] += keep.contribution - old
        if keep.is_hedge:
            self.hedge_in_flight += keep.in_flight - before
        self._note("orders_merged", keep, f"gone={gone.key}")
        self._row(gone)
        self._row(keep)
        return keep

    def _fill_context(self, rec: OrderRecord, was_terminal: bool) -> None:
        if was_terminal:
            self.counters["late_fill"] += 1
        elif rec.cancel_requested:
            self.counters["fill_while_cancel_pending"] += 1

    def _recount(self, rec: OrderRecord, fill_key: str, trade_id: str | None, price: Decimal | None, ts_ms: int,
                 trade_qty: Decimal = ZERO, *, fee: Decimal | None = None, liquidity: str | None = None) -> Decimal:
        new = rec.cum if rec.cum >= rec.trade_qty else rec.trade_qty
        delta = new - rec.counted
        if delta <= 0 and trade_id is None:
            self._row(rec)
            return ZERO
        if delta > 0 and rec.closed_by_reconcile:
            # The venue position we adjusted to already holds this fill: record it, don't count it again.
            rec.baseline += delta
            self._note("fill_after_reconcile_close", rec, f"qty={delta}")
            self.reconcile_requested = True
        signed = delta * rec.side.sign
        if delta > 0:
            rec.counted = new
            if not rec.closed_by_reconcile:
                self.positions[rec.leg] += signed
            if rec.qty and new > rec.qty:
                self._note("overfill", rec, f"counted={new} qty={rec.qty}")
        qty = trade_qty if trade_id is not None else delta
        self.outbox.append(R.row_fill(fill_key, rec.key, rec.leg.venue, rec.leg.market, rec.side, qty, price,
                                      delta if delta > 0 and not rec.closed_by_reconcile else ZERO,
                                      trade_id, ts_ms, fee=fee, liquidity=liquidity, cycle_seq=self.cycle_seq))
        self._row(rec)
        if delta <= 0 or rec.closed_by_reconcile:
            return ZERO
        if rec.leg is self.roles.maker or rec.leg == self.roles.maker:
            self.coverage.add_fill(fill_key, signed, rec.key)
        return signed

    def _after(self, rec: OrderRecord, inflight_before: Decimal) -> None:
        if not rec.is_hedge:
            return
        after = rec.in_flight
        self.hedge_in_flight += after - inflight_before
        if inflight_before and not after and rec.status.is_terminal:
            # The hedge is over: coverage it did not fill goes back to the maker fills.
            unfilled = rec.qty - (rec.counted - rec.baseline)
            if unfilled > 0:
                for fill_key, total in self.coverage.release(rec.key, unfilled):
                    self.outbox.append((R.LINK, rec.key, fill_key, total))

    def _note(self, what: str, rec: OrderRecord, detail: str) -> None:
        self.counters[what] += 1
        if what not in _BENIGN:
            logger.warning("ledger_anomaly kind={} key={} venue={} order_id={} client_id={} {}", what, rec.key,
                           rec.leg.venue, rec.order_id, rec.client_id, detail)
