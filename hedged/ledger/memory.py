"""What of the ledger stays in memory: live orders and recently settled ones (pure, no I/O).

A settled order (terminal or merged) leaves memory once all of these hold: it is not among the
last `keep_last` settled; its last change is committed to the journal (journal epochs, below); and
it settled more than `settle_ms` of venue time before the newest venue time seen on its venue
(an order without a venue time is bounded by the count alone). The journal keeps everything, so
an event that names a pruned order reads it back (`Archive.find_order`, with all its trade ids)
before the exactly-once rule runs: a replayed fill is a duplicate, a real late fill counts once.
docs/ledger.md "What memory keeps".
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Protocol

from loguru import logger

from hedged.ledger import records as R
from hedged.ledger.hedging import Coverage
from hedged.ledger.orders import Leg, OrderRecord
from hedged.venues.base import ZERO, Venue

SETTLE_MS = 10 * 60 * 1000
KEEP_LAST = 1000


class Archive(Protocol):
    """Settled orders that left memory, read back from the journal (journal.JournalArchive)."""

    def find_order(self, venue: Venue, order_id: str | None, client_id: str | None) -> OrderRecord | None:
        """The record (its merge survivor) with all its trade ids, or None."""


class MemoryBound:
    """The part of `LedgerCore` that bounds its memory; it shares the core's state."""

    # The core's state this part reads and writes, set by `LedgerCore.__init__` (declared here so that
    # this module needs nothing of core.py, which builds on it).
    orders: dict[str, OrderRecord]
    positions: dict[Leg, Decimal]
    outbox: list[R.Row]
    coverage: Coverage
    venue_ts: dict[Venue, int]
    adjustments: dict[str, tuple[Leg, Decimal, str]]
    hedge_in_flight: Decimal
    _next_order: int
    _next_adj: int
    _funding: set[tuple[Venue, str]]
    _by_oid: dict[tuple[Venue, str], OrderRecord]
    _by_cid: dict[tuple[Venue, str], OrderRecord]
    _trades: dict[tuple[Venue, str], str]
    _legs: dict[Leg, Leg]

    def _init_memory(self, settle_ms: int, keep_last: int) -> None:
        self.settle_ms = settle_ms
        self.keep_last = keep_last
        self.archive: Archive | None = None  # set by the owner of a journal; None: nothing is ever pruned
        # Live records (not terminal, not merged) and settled ones in the order they last changed:
        # statistics and live-order reads are O(live), pruning pops settled ones from the front.
        self.live: dict[str, OrderRecord] = {}
        self._settled: OrderedDict[str, OrderRecord] = OrderedDict()
        # Journal epochs: every record change is stamped with `_epoch`; `take_rows` ends an epoch and
        # `committed(epoch)` says its rows are on disk. Only a record whose last change is durable
        # may leave memory.
        self._epoch = 0
        self.last_taken = -1
        self._durable = -1
        # Signed contribution of the records pruned from memory, per leg (positions stay running totals;
        # this keeps positions == archived + sum of the records in memory + adjustments checkable).
        self.archived: dict[Leg, Decimal] = {}
        self._journaled_positions: dict[Leg, Decimal] = {}
        self.pruned = 0
        self.recalled = 0
        # (venue, "o"|"c", id) of pruned records known by that one id only: rare (orders first seen by one
        # id), kept so that a later event with both ids merges with them as it would in memory.
        self._half_known: set[tuple[Venue, str, str]] = set()
        self._half_trades: dict[tuple[Venue, str], str] = {}  # their trade ids -> order key

    def take_rows(self) -> list[R.Row]:
        """Everything to journal since the last take, ending with the positions if they moved; ends
        the current epoch (`last_taken`), which the owner reports to `committed` once written."""
        if self.positions != self._journaled_positions:
            self._journaled_positions = dict(self.positions)
            self.outbox.extend((R.POSITION, leg.venue, leg.market, size) for leg, size in self.positions.items())
        rows, self.outbox = self.outbox, []
        self.last_taken = self._epoch
        self._epoch += 1
        return rows

    def committed(self, epoch: int) -> int:
        """The rows taken in `epoch` (and before) are on disk: prune what may leave memory."""
        if epoch > self._durable:
            self._durable = epoch
        return self.prune()

    def prune(self) -> int:
        """Move settled records out of memory: beyond the last `keep_last`, durable, and settled more
        than `settle_ms` before the newest venue time seen on their venue. Returns how many left."""
        if self.archive is None:
            return 0
        settled, n = self._settled, 0
        while len(settled) > self.keep_last:
            rec = next(iter(settled.values()))
            # Records are in the order of their last change, so the first that may not leave ends the pass.
            if rec.epoch > self._durable or (rec.ts_ms and rec.ts_ms > self.venue_ts.get(rec.leg.venue, 0) - self.settle_ms):
                break
            settled.popitem(last=False)
            self._forget(rec)
            n += 1
        return n

    def _row(self, rec: OrderRecord) -> None:
        """Journal the record's state; every change of a record goes through here."""
        rec.epoch = self._epoch
        self.outbox.append(R.row_order(rec))
        self._track(rec)

    def _track(self, rec: OrderRecord) -> None:
        key = rec.key
        if rec.merged_into is None and not rec.status.is_terminal:
            if key not in self.live:
                self.live[key] = rec
                self._settled.pop(key, None)
        else:
            self.live.pop(key, None)
            settled = self._settled
            if key in settled:
                settled.move_to_end(key)
            else:
                settled[key] = rec

    def _forget(self, rec: OrderRecord) -> None:
        venue = rec.leg.venue
        del self.orders[rec.key]
        for idx, val in ((self._by_oid, rec.order_id), (self._by_cid, rec.client_id)):
            if val is not None and idx.get((venue, val)) is rec:
                del idx[(venue, val)]
        for tid in rec.trade_ids:
            if self._trades.get((venue, tid)) == rec.key:
                del self._trades[(venue, tid)]
        if rec.merged_into is None:
            self.archived[rec.leg] = self.archived.get(rec.leg, ZERO) + rec.contribution
            # Known by one id only, with fills: the same order may be in memory as a second record under
            # its other id (merged by the first event with both ids). Keep what finds it and its trade ids
            # (trade ids dedupe across records). Rare: adapters attach both ids to nearly every event.
            half = None
            if rec.order_id is None and rec.client_id is not None:
                half = (venue, "c", rec.client_id)
            elif rec.client_id is None and rec.order_id is not None:
                half = (venue, "o", rec.order_id)
            if half is not None and rec.counted > 0:
                self._half_known.add(half)
                for tid in rec.trade_ids:
                    self._half_trades[(venue, tid)] = rec.key
        self.coverage.forget(rec.key)
        self.pruned += 1

    def _recall_for(self, venue: Venue, oid: str | None, cid: str | None, a: OrderRecord | None,
                    b: OrderRecord | None) -> bool:
        """An event's ids did not all resolve in memory (a: by venue id, b: by client id): read back a
        pruned record they name. Neither resolved: ask by each. One resolved: ask by the other only
        if a record pruned while known by that one id alone holds it (it would be merged with the one
        in memory), so the ordinary first event of a new order never touches the disk."""
        if self.archive is None:
            return False
        if a is None and b is None:  # each id on its own: they may name two records (to be merged)
            got = oid is not None and self._recall(venue, oid, None)
            if cid is not None and (venue, cid) not in self._by_cid:
                got = self._recall(venue, None, cid) or got
            return got
        if a is None and oid is not None and (venue, "o", oid) in self._half_known:
            return self._recall(venue, oid, None)
        if b is None and cid is not None and (venue, "c", cid) in self._half_known:
            return self._recall(venue, None, cid)
        return False

    def _recall(self, venue: Venue, oid: str | None, cid: str | None) -> bool:
        """Read a pruned record back from the journal (an event named it); True if one came back."""
        if self.archive is None or (oid is None and cid is None):
            return False
        rec = self.archive.find_order(venue, oid, cid)
        if rec is None or rec.key in self.orders:
            return False
        self.restore_record(rec)
        self._half_known.discard((venue, "o", rec.order_id))
        self._half_known.discard((venue, "c", rec.client_id))
        for tid in rec.trade_ids:
            self._half_trades.pop((venue, tid), None)
        self.archived[rec.leg] = self.archived.get(rec.leg, ZERO) - rec.contribution
        self.recalled += 1
        logger.info("ledger_order_recalled key={} venue={} order_id={} client_id={} status={}", rec.key, venue,
                    rec.order_id, rec.client_id, rec.status)
        return True

    def restore_record(self, rec: OrderRecord) -> None:
        """Put a record read from the journal into memory (replay, recall); positions are not touched.
        An id already held by a record in memory stays with that one (it is the newer)."""
        rec.leg = leg = self._legs.setdefault(rec.leg, rec.leg)
        rec.epoch = -1
        self.orders[rec.key] = rec
        self.positions.setdefault(leg, ZERO)
        venue = leg.venue
        if rec.merged_into is None:
            if rec.order_id is not None:
                self._by_oid.setdefault((venue, rec.order_id), rec)
            if rec.client_id is not None:
                self._by_cid.setdefault((venue, rec.client_id), rec)
            for tid in rec.trade_ids:
                self._trades.setdefault((venue, tid), rec.key)
        self._track(rec)

    def _seen_ts(self, venue: Venue, ts_ms: int) -> None:
        """The newest venue timestamp of an order or fill: the back-fill watermark and what `settle_ms` counts from."""
        if ts_ms > self.venue_ts.get(venue, 0):
            self.venue_ts[venue] = ts_ms

    # ---- restoring from the journal (hedged.ledger.replay): each call puts back what one kind of row held

    def restore_order(self, rec: OrderRecord) -> None:
        """An order row: the record in memory, its timestamp seen, a live hedge's open quantity in flight."""
        self.restore_record(rec)
        self._seen_ts(rec.leg.venue, rec.ts_ms)
        if rec.is_hedge and rec.merged_into is None:
            self.hedge_in_flight += rec.in_flight
        self._next_order = max(self._next_order, int(rec.key[1:]) + 1)

    def restore_trade(self, venue: Venue, trade_id: str, owner: OrderRecord) -> None:
        """A fill row's trade id, on the record that survived any merge (the dedupe key of that trade)."""
        self._trades[(venue, trade_id)] = owner.key
        owner.trade_ids.add(trade_id)

    def restore_adjustment(self, adj_id: str, leg: Leg, delta: Decimal, reason: str) -> None:
        self.adjustments[adj_id] = (leg, delta, reason)
        self.positions[leg] = self.positions.get(leg, ZERO) + delta
        self._next_adj = max(self._next_adj, int(adj_id[1:]) + 1)

    def restore_funding(self, venue: Venue, payment_id: str) -> None:
        """A funding row's dedupe key."""
        self._funding.add((venue, payment_id))

    def positions_journaled(self) -> None:
        """The journal's checkpoint now holds the positions as they are."""
        self._journaled_positions = dict(self.positions)

    def restore_positions_from_orders(self) -> None:
        """A journal without a checkpoint: positions are the surviving records' counted quantities (the
        adjustments add theirs as they are restored)."""
        for rec in list(self.orders.values()):
            if rec.merged_into is None:
                self.positions[rec.leg] += rec.contribution

    def restore_checkpoint(self, positions: dict[Leg, Decimal], next_order: int) -> None:
        """A current checkpoint, after the kept orders and the adjustments: positions are the checkpoint's,
        and what memory does not hold of them is the archived part (so positions == archived + records +
        adjustments stays checkable)."""
        self._next_order = max(self._next_order, next_order)
        held: dict[Leg, Decimal] = {}
        for rec in self.orders.values():
            if rec.merged_into is None:
                held[rec.leg] = held.get(rec.leg, ZERO) + rec.contribution
        for leg, delta, _ in self.adjustments.values():
            held[leg] = held.get(leg, ZERO) + delta
        for leg, size in positions.items():
            leg = self._legs.setdefault(leg, leg)
            self.positions[leg] = size
        for leg, size in self.positions.items():
            rest = size - held.get(leg, ZERO)
            if rest:
                self.archived[leg] = rest
        self.positions_journaled()
