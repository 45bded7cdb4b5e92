"""Builders and invariant checks shared by the ledger tests."""

from __future__ import annotations

from decimal import Decimal

from hedged.ledger import Leg, LedgerCore, Roles
from hedged.venues.base import (ZERO, Liquidity, MarketRules, OrderStatus, OrderUpdate, PositionSnapshot, Side,
                                Trade, Venue)

MAKER = Leg(Venue.EXTENDED, "SOL-USD")
HEDGE = Leg(Venue.LIGHTER, "SOL")
ROLES = Roles(MAKER, HEDGE)
HEDGE_RULES = MarketRules(Venue.LIGHTER, "SOL", tick=Decimal("0.001"), size_step=Decimal("0.1"),
                          min_size=Decimal("0.1"))
D = Decimal


def upd(leg: Leg, oid: str | None, cid: str | None, side: Side, status: OrderStatus, qty: str, cum: str,
        **kw) -> OrderUpdate:
    return OrderUpdate(leg.venue, leg.market, oid, cid, side, status, D(qty), D(cum), **kw)


def trade(leg: Leg, tid: str, oid: str | None, side: Side, qty: str, cid: str | None = None,
          price: str = "142.37") -> Trade:
    return Trade(leg.venue, leg.market, tid, oid, cid, side, D(qty), D(price), ZERO, Liquidity.MAKER)


def snap(leg: Leg, size: str) -> PositionSnapshot:
    return PositionSnapshot(leg.venue, leg.market, D(size))


def check_invariants(core: LedgerCore) -> None:
    """Incrementally kept figures equal the same figures recomputed from the records."""
    positions: dict[Leg, Decimal] = {}
    inflight = ZERO
    for rec in core.orders.values():
        if rec.merged_into is not None:
            continue
        positions[rec.leg] = positions.get(rec.leg, ZERO) + rec.contribution
        assert rec.counted == max(rec.cum, rec.trade_qty), rec
        if rec.is_hedge:
            inflight += rec.in_flight
    for leg, delta, _ in core.adjustments.values():
        positions[leg] = positions.get(leg, ZERO) + delta
    for leg, part in core.archived.items():  # orders pruned from memory (issue 12 point 12)
        positions[leg] = positions.get(leg, ZERO) + part
    for leg, size in core.positions.items():
        assert size == positions.get(leg, ZERO), (leg, size, positions)
    assert core.hedge_in_flight == inflight
    assert core.open_hedge_delta == core.net_exposure + core.hedge_in_flight
    # The live index (statistics, live_orders, O(live)) names exactly the records a scan would.
    assert set(core.live) == {k for k, r in core.orders.items() if r.merged_into is None and not r.status.is_terminal}
    assert core.statistics().live_orders == len(core.live)


def state_of(core: LedgerCore) -> tuple:
    """What must survive a journal round trip."""
    orders = {k: (o.leg, o.side, o.order_id, o.client_id, o.status, o.qty, o.cum, o.trade_qty, o.counted,
                  o.baseline, o.is_hedge, o.merged_into, o.closed_by_reconcile, frozenset(o.trade_ids))
              for k, o in core.orders.items()}
    positions = {leg: v for leg, v in core.positions.items() if v}
    links = {h: {f: q for f, q in m.items() if q} for h, m in core.coverage.links.items()}
    links = {h: m for h, m in links.items() if m}
    return (orders, positions, core.hedge_in_flight, core.residual, links, sorted(core.coverage.uncovered()),
            dict(core.adjustments))
