"""Rebuild a fresh `LedgerCore` from journal rows (pure: plain tuples in, state out).

Two ways in, one result:

* `restore` (a journal without a checkpoint, i.e. written before pruning existed): every order;
  positions are recomputed from the orders' counted quantities plus adjustments rather than by
  summing fill rows, so the result depends only on each order's latest state.
* `restore_bounded` (the journal's checkpoint is current): only the orders memory keeps (live ones
  and the last `keep_last` settled ones, with their fills and links); positions come from the
  checkpoint, so start-up costs the same whatever the journal's length.

Either way replaying the same rows twice, or a journal holding a row twice, gives the same state.
"""

from __future__ import annotations

from decimal import Decimal

from hedged.ledger.core import LedgerCore
from hedged.ledger.orders import Leg, OrderRecord
from hedged.venues.base import OrderStatus, PositionSnapshot, Side, Venue

# Column order of an order row as the journal selects it (journal.ORDER_COLUMNS).
ORDER_FIELDS = 18


def record_of(row: tuple) -> OrderRecord:
    (key, venue, market, oid, cid, side, status, qty, cum, trade_qty, counted, baseline, avg, is_hedge,
     cancel_requested, merged_into, closed, ts_ms) = row
    return OrderRecord(key, Leg(Venue(venue), market), Side(side), oid, cid, OrderStatus(status), Decimal(qty),
                       Decimal(cum), Decimal(trade_qty), Decimal(counted), Decimal(baseline),
                       None if avg is None else Decimal(avg), bool(is_hedge), bool(cancel_requested), merged_into,
                       bool(closed), ts_ms)


def restore(core: LedgerCore, orders: list[tuple], fills: list[tuple], links: list[tuple],
            adjustments: list[tuple], residual: tuple | None, snapshots: list[tuple]) -> None:
    _check_fresh(core)
    _load_orders(core, orders)
    core.restore_positions_from_orders()
    _load_fills_and_links(core, fills, links)
    _load_rest(core, adjustments, residual, snapshots)


def restore_bounded(core: LedgerCore, orders: list[tuple], fills: list[tuple], links: list[tuple],
                    adjustments: list[tuple], residual: tuple | None, snapshots: list[tuple],
                    positions: dict[tuple[str, str], str], next_order: int) -> None:
    """`orders`: the kept ones (every live one included); `positions`: the checkpoint per (venue, market)."""
    _check_fresh(core)
    _load_orders(core, orders)
    _load_fills_and_links(core, fills, links)
    _load_rest(core, adjustments, residual, snapshots)
    core.restore_checkpoint({Leg(Venue(venue), market): Decimal(size) for (venue, market), size in positions.items()},
                            next_order)


def _check_fresh(core: LedgerCore) -> None:
    if core.orders or core.adjustments:
        raise ValueError("replay needs a fresh LedgerCore")


def _load_orders(core: LedgerCore, orders: list[tuple]) -> None:
    # Survivors first, so an id a merged record shares lands on its survivor.
    recs = [record_of(row) for row in orders]
    for rec in sorted(recs, key=lambda r: r.merged_into is not None):
        core.restore_order(rec)


def _load_fills_and_links(core: LedgerCore, fills: list[tuple], links: list[tuple]) -> None:
    maker = core.roles.maker
    for fill_key, order_key, venue, market, side, counted_delta, trade_id in fills:
        owner = _survivor(core, order_key)
        if trade_id is not None and owner is not None:
            core.restore_trade(Venue(venue), trade_id, owner)
        delta = Decimal(counted_delta)
        if delta and Leg(Venue(venue), market) == maker:
            core.coverage.add_fill(fill_key, delta * Side(side).sign, owner.key if owner is not None else None)
    for hedge_key, fill_key, qty in links:
        core.coverage.restore_link(hedge_key, fill_key, Decimal(qty))


def _load_rest(core: LedgerCore, adjustments: list[tuple], residual: tuple | None, snapshots: list[tuple]) -> None:
    for adj_id, venue, market, delta, reason in adjustments:
        core.restore_adjustment(adj_id, Leg(Venue(venue), market), Decimal(delta), reason)
    if residual is not None:
        core.residual = Decimal(residual[0])
    for venue, market, size, ts_ms in snapshots:
        leg = Leg(Venue(venue), market)
        core.venue_snapshots[leg] = PositionSnapshot(leg.venue, market, Decimal(size), ts_ms)


def _survivor(core: LedgerCore, key: str) -> OrderRecord | None:
    rec = core.orders.get(key)
    seen = 0
    while rec is not None and rec.merged_into is not None and seen < 64:
        rec = core.orders.get(rec.merged_into)
        seen += 1
    return rec
