"""Reconciliation: make the ledger agree with the venues, which are the truth.

`plan_reconciliation` is pure: it reads the core and the venues' answers and returns
what to change. `apply_reconciliation` performs the plan through the core, so every
change is journaled like any other (adjustments carry their reason).

Order of work inside a plan: open orders first (known ones catch up on fills through
the normal exactly-once path, unknown ones are adopted with their fills as a baseline,
ledger orders the venue no longer lists are decided by their own status: applied if the
venue answers, closed only if it does not know them), then each leg's position is set
to the venue's figure by an adjustment. Doing orders first means a fill the stream
missed is counted once, as a fill, and never again as an adjustment. How a snapshot is
fenced against the live stream is the reconciler's part (hedged/strategy/reconciler.py,
docs/ledger.md "Snapshot rule").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
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
    catch_up: tuple[OrderUpdate, ...]  # known orders (listed, or their own status): ordinary updates
    adopt: tuple[OrderUpdate, ...]  # unknown open orders: taken over with a fill baseline
    close: tuple[str, ...]  # ledger order keys the venue does not know any more (asked one by one)
    adjustments: tuple[Adjustment, ...]
    exposure: dict[Leg, Decimal]  # the venues' position per leg
    net_exposure: Decimal  # sum over the maker and hedge legs, per the venues
    held: tuple[Leg, ...] = ()  # legs whose position was not adjusted: fence moved or a status unanswered
    unanswered: tuple[str, ...] = ()  # unlisted live orders whose status query failed: left as they are

    @property
    def clean(self) -> bool:
        return not (self.adopt or self.close or self.adjustments)


def plan_reconciliation(core: LedgerCore, positions: Iterable[PositionSnapshot], open_orders: Iterable[OrderUpdate],
                        *, kind: ReconcileKind, statuses: Mapping[str, OrderUpdate | None] | None = None,
                        adjust: Iterable[Leg] | None = None, legs: Iterable[Leg] | None = None,
                        asked_pending: Iterable[str] = ()) -> ReconcilePlan:
    """Decide how to bring `core` in line with the venues.

    `positions`/`open_orders` are the venues' full answers for `legs` (default: the maker
    and hedge legs). A leg without a snapshot is flat. A live ledger order the venue does not
    list is decided by its own status, `statuses[order key]` (the venue's answer to a targeted
    query; None: the venue does not know the order): a terminal or live answer is applied as
    an ordinary update, "unknown" closes it. An order without an answer (not asked, or the
    query failed) is left as it is and its leg is not adjusted: a failed query is never flat.
    PENDING orders (sent, not yet acknowledged) are asked like the others and their answer applied,
    but "unknown" does not close them in a PERIODIC pass: the venue may simply not have them yet. That holds
    for `asked_pending` too, the keys of orders that were PENDING when their query went out and were
    acknowledged before the plan (an answer from before the venue accepted them proves nothing). Only legs
    in `adjust` (default: all) get a position adjustment: the caller leaves out legs whose stream moved
    during the snapshot.
    """
    legs = tuple(legs) if legs is not None else (core.roles.maker, core.roles.hedge)
    allowed = set(legs) if adjust is None else set(adjust)
    statuses = statuses or {}
    truth = {leg: ZERO for leg in legs}
    for s in positions:
        leg = Leg(s.venue, s.market)
        if leg in truth:
            truth[leg] = s.size
    predicted = {leg: core.positions.get(leg, ZERO) for leg in legs}
    catch_up: list[OrderUpdate] = []
    adopt: list[OrderUpdate] = []
    listed: set[str] = set()

    def catch(rec, u: OrderUpdate) -> None:
        catch_up.append(u)
        new = max(rec.cum, rec.trade_qty, u.filled_qty)
        if new > rec.counted and u.side is rec.side:
            predicted[rec.leg] += (new - rec.counted) * rec.side.sign

    for u in open_orders:
        leg = Leg(u.venue, u.market)
        if leg not in truth:
            continue
        rec = core.find(u.venue, order_id=u.order_id, client_id=u.client_id)
        if rec is None:
            adopt.append(u)
            continue
        listed.add(rec.key)
        catch(rec, u)
    close: list[str] = []
    unanswered: list[str] = []
    held = {leg for leg in legs if leg not in allowed}
    asked_pending = set(asked_pending)
    for rec in core.orders.values():
        if rec.leg not in truth or rec.merged_into is not None or rec.status.is_terminal or rec.key in listed:
            continue
        pending_periodic = kind is ReconcileKind.PERIODIC and (rec.status is OrderStatus.PENDING
                                                               or rec.key in asked_pending)
        if rec.key not in statuses:
            # Without a client id nobody can ask for its status: left as it is, and not allowed to
            # hold its leg for ever (its fills, if any, are in the venue position). A PENDING order is
            # asked too: its acknowledgement may be what a silent stream withheld, and its fills with it.
            if rec.client_id is not None:
                unanswered.append(rec.key)
                held.add(rec.leg)
            continue
        answer = statuses[rec.key]
        if answer is not None:
            catch(rec, answer)
        elif not pending_periodic:
            close.append(rec.key)
    adjustments = tuple(
        Adjustment(leg, truth[leg] - predicted[leg], _REASON[kind])
        for leg in legs if leg not in held and truth[leg] != predicted[leg]
    )
    net = sum((truth[leg] for leg in (core.roles.maker, core.roles.hedge) if leg in truth), ZERO)
    return ReconcilePlan(kind, tuple(catch_up), tuple(adopt), tuple(close), adjustments, truth, net,
                         tuple(leg for leg in legs if leg in held), tuple(unanswered))


def apply_reconciliation(core: LedgerCore, plan: ReconcilePlan, *, ts_ms: int = 0) -> None:
    for u in plan.catch_up:
        core.apply_update(u)
    for u in plan.adopt:
        core.adopt(u)
    for key in plan.close:
        core.close_missing(core.orders[key], reason=f"{plan.kind}: venue does not know it")
    for leg in plan.exposure:
        if leg in plan.held:
            continue
        # Re-derive from the live position: equal to the plan unless catch-up met an anomaly.
        delta = plan.exposure[leg] - core.positions.get(leg, ZERO)
        if delta:
            reason = next((a.reason for a in plan.adjustments if a.leg == leg), _REASON[plan.kind])
            core.adjust_position(leg, delta, reason, ts_ms=ts_ms)
    # Held legs are the reconciler's to retry (with a pause), not a reason to wake it at once.
    core.reconcile_requested = False
    core.record_cycle("reconcile", str(plan.kind), detail=f"adjustments={len(plan.adjustments)} "
                      f"adopted={len(plan.adopt)} closed={len(plan.close)}", ts_ms=ts_ms)
