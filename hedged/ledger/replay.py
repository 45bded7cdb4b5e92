"""Rebuild a fresh `LedgerCore` from journal rows (pure: plain tuples in, state out).

Positions are recomputed from the orders' counted quantities plus adjustments rather
than by summing fill rows, so the result depends only on each order's latest state:
replaying the same rows twice, or a journal holding a row twice, gives the same state.
"""

from __future__ import annotations

from decimal import Decimal

from hedged.ledger.core import LedgerCore
from hedged.ledger.orders import Leg, OrderRecord
from hedged.venues.base import ZERO, OrderStatus, PositionSnapshot, Side, Venue


def restore(core: LedgerCore, orders: list[tuple], fills: list[tuple], links: list[tuple],
            adjustments: list[tuple], residual: tuple | None, snapshots: list[tuple]) -> None:
    if core.orders or core.adjustments:
        raise ValueError("replay needs a fresh LedgerCore")
    top = 0
    for (key, venue, market, oid, cid, side, status, qty, cum, trade_qty, counted, baseline, avg, is_hedge,
         cancel_requested, merged_into, closed, ts_ms) in orders:
        leg = Leg(Venue(venue), market)
        leg = core._legs.setdefault(leg, leg)
        rec = OrderRecord(key, leg, Side(side), oid, cid, OrderStatus(status), Decimal(qty), Decimal(cum),
                          Decimal(trade_qty), Decimal(counted), Decimal(baseline),
                          None if avg is None else Decimal(avg), bool(is_hedge), bool(cancel_requested),
                          merged_into, bool(closed), ts_ms)
        core.orders[key] = rec
        core.positions.setdefault(leg, ZERO)
        core._seen_ts(leg.venue, ts_ms)
        top = max(top, int(key[1:]))
    core._next_order = top + 1
    for rec in core.orders.values():
        if rec.merged_into is not None:
            continue
        # Merged records keep their ids, but lookups must land on the surviving record.
        if rec.order_id is not None:
            core._by_oid[(rec.leg.venue, rec.order_id)] = rec
        if rec.client_id is not None:
            core._by_cid[(rec.leg.venue, rec.client_id)] = rec
        core.positions[rec.leg] += rec.contribution
        if rec.is_hedge:
            core.hedge_in_flight += rec.in_flight
    maker = core.roles.maker
    for fill_key, order_key, venue, market, side, counted_delta, trade_id in fills:
        owner = _survivor(core, order_key)
        if trade_id is not None and owner is not None:
            core._trades[(Venue(venue), trade_id)] = owner.key
            owner.trade_ids.add(trade_id)
        delta = Decimal(counted_delta)
        if delta and Leg(Venue(venue), market) == maker:
            core.coverage.add_fill(fill_key, delta * Side(side).sign)
    for hedge_key, fill_key, qty in links:
        core.coverage.restore_link(hedge_key, fill_key, Decimal(qty))
    top = 0
    for adj_id, venue, market, delta, reason in adjustments:
        leg = Leg(Venue(venue), market)
        core.adjustments[adj_id] = (leg, Decimal(delta), reason)
        core.positions[leg] = core.positions.get(leg, ZERO) + Decimal(delta)
        top = max(top, int(adj_id[1:]))
    core._next_adj = top + 1
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
