"""Reconciliation: make the ledger agree with the venues, which are the truth.

`plan_reconciliation` is pure: it reads the core and the venues' answers and returns
what to change. `apply_reconciliation` performs the plan through the core, so every
change is journaled like any other (adjustments carry their reason).

Order of work inside a plan: open orders first (known ones catch up on fills through
the normal exactly-once path, unknown ones are adopted with their fills as a baseline,
ledger orders the venue no longer lists are closed), then each leg's position is set
to the venue's figure by an adjustment. Doing orders first means a fill the stream
missed is counted once, as a fill, and never again as an adjustment.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from hedged.ledger.core import LedgerCore
from hedged.ledger.orders import Leg
from hedged.venues.base import ZERO, OrderStatus, OrderUpdate, PositionSnapshot


class ReconcileKind(enum.StrEnum):
    COLD = "cold"  # empty journal: everything the venues hold is a baseline
    WARM = "warm"  # journal replayed: differences are what happened while we were down
    PERIODIC = "periodic"  # while running: differences are drift (missed messages)


_REASON = {
    ReconcileKind.COLD: "cold_start_baseline",
    ReconcileKind.WARM: "warm_restart_drift",
    ReconcileKind.PERIODIC: "drift",
}


@dataclass(frozen=True, slots=True)
class Adjustment:
    leg: Leg
    delta: Decimal  # signed change applied to the ledger position
    reason: str


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    kind: ReconcileKind
    catch_up: tuple[OrderUpdate, ...]  # known orders: applied as ordinary updates
    adopt: tuple[OrderUpdate, ...]  # unknown open orders: taken over with a fill baseline
    close: tuple[str, ...]  # ledger order keys the venue no longer has
    adjustments: tuple[Adjustment, ...]
    exposure: dict[Leg, Decimal]  # the venues' position per leg
    net_exposure: Decimal  # sum over the maker and hedge legs, per the venues

    @property
    def clean(self) -> bool:
        return not (self.adopt or self.close or self.adjustments)


def plan_reconciliation(core: LedgerCore, positions: Iterable[PositionSnapshot], open_orders: Iterable[OrderUpdate],
                        *, kind: ReconcileKind, legs: Iterable[Leg] | None = None) -> ReconcilePlan:
    """Decide how to bring `core` in line with the venues.

    `positions`/`open_orders` are the venues' full answers for `legs` (default: the maker
    and hedge legs). A leg without a snapshot is flat. PENDING orders (sent, not yet
    acknowledged) survive a PERIODIC pass, since the venue may simply not list them yet;
    at a restart nothing is in transit any more, so they are closed.
    """
    legs = tuple(legs) if legs is not None else (core.roles.maker, core.roles.hedge)
    truth = {leg: ZERO for leg in legs}
    for s in positions:
        leg = Leg(s.venue, s.market)
        if leg in truth:
            truth[leg] = s.size
    predicted = {leg: core.positions.get(leg, ZERO) for leg in legs}
    catch_up: list[OrderUpdate] = []
    adopt: list[OrderUpdate] = []
    listed: set[str] = set()
    for u in open_orders:
        leg = Leg(u.venue, u.market)
        if leg not in truth:
            continue
        rec = core.find(u.venue, order_id=u.order_id, client_id=u.client_id)
        if rec is None:
            adopt.append(u)
            continue
        listed.add(rec.key)
        catch_up.append(u)
        new = max(rec.cum, rec.trade_qty, u.filled_qty)
        if new > rec.counted and u.side is rec.side:
            predicted[leg] += (new - rec.counted) * rec.side.sign
    close = tuple(
        rec.key for rec in core.orders.values()
        if rec.leg in truth and rec.merged_into is None and not rec.status.is_terminal and rec.key not in listed
        and not (kind is ReconcileKind.PERIODIC and rec.status is OrderStatus.PENDING)
    )
    adjustments = tuple(
        Adjustment(leg, truth[leg] - predicted[leg], _REASON[kind]) for leg in legs if truth[leg] != predicted[leg]
    )
    net = sum((truth[leg] for leg in (core.roles.maker, core.roles.hedge) if leg in truth), ZERO)
    return ReconcilePlan(kind, tuple(catch_up), tuple(adopt), close, adjustments, truth, net)


def apply_reconciliation(core: LedgerCore, plan: ReconcilePlan, *, ts_ms: int = 0) -> None:
    for u in plan.catch_up:
        core.apply_update(u)
    for u in plan.adopt:
        core.adopt(u)
    for key in plan.close:
        core.close_missing(core.orders[key], reason=f"{plan.kind}: venue no longer lists it")
    for leg in plan.exposure:
        # Re-derive from the live position: equal to the plan unless catch-up met an anomaly.
        delta = plan.exposure[leg] - core.positions.get(leg, ZERO)
        if delta:
            reason = next((a.reason for a in plan.adjustments if a.leg == leg), _REASON[plan.kind])
            core.adjust_position(leg, delta, reason, ts_ms=ts_ms)
    core.reconcile_requested = False
    core.record_cycle("reconcile", str(plan.kind), detail=f"adjustments={len(plan.adjustments)} "
                      f"adopted={len(plan.adopt)} closed={len(plan.close)}", ts_ms=ts_ms)
