"""Reconciliation with both venues, orphan orders, and the sweep of out-of-tolerance exposure.

Used at startup (before reporting ready), before each cycle, and periodically.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import trio
from loguru import logger

from hedged.ledger import ReconcileKind
from hedged.strategy.failsafe import flatten_and_verify
from hedged.strategy.ports import Alert
from hedged.strategy.tolerance import within
from hedged.venues.base import VenueClient, VenueError

_CALL_S = 10.0


@dataclass(frozen=True, slots=True)
class SweepResult:
    maker_position: Decimal
    hedge_position: Decimal
    net: Decimal
    flattened: bool
    recovered: bool


class Sweeper:
    def __init__(self, *, ledger, maker: VenueClient, hedge: VenueClient, risk, tolerance: Callable[[], Decimal],
                 alert: Alert, new_client_id: Callable[[object], str], aggress_bps: Decimal,
                 hedge_idle: Callable[[], Awaitable[None]] | None = None, settle_s: float = 30.0,
                 hedge_busy=None) -> None:
        self.ledger = ledger  # hedged.ledger.Ledger (needs reconcile())
        self.maker = maker
        self.hedge = hedge
        self.risk = risk  # RiskConfig
        self.tolerance = tolerance
        self.alert = alert
        self.new_client_id = new_client_id
        self.aggress_bps = aggress_bps
        # The executor hedges whatever the reconciliation reveals; the sweep flattens only what it
        # cannot (e.g. less than the hedge venue's minimum), so the two never trade the same exposure.
        self.hedge_idle = hedge_idle
        self.settle_s = settle_s
        self.hedge_busy = hedge_busy  # executor.busy (AsyncValue[bool]), for `run_periodic`

    async def reconcile(self, kind: ReconcileKind) -> Decimal:
        """Bring the ledger in line with both venues (the venues are the truth); returns the net exposure."""
        with trio.fail_after(_CALL_S):
            positions = [*await self.maker.positions(), *await self.hedge.positions()]
            orders = [*await self.maker.open_orders(), *await self.hedge.open_orders()]
        plan = self.ledger.reconcile(positions, orders, kind=kind)
        if not plan.clean:
            logger.warning("reconcile_adjusted kind={} adjustments={} adopted={} closed={}", kind,
                           len(plan.adjustments), len(plan.adopt), len(plan.close))
        return plan.net_exposure

    async def reconcile_periodic(self) -> Decimal:
        return await self.reconcile(ReconcileKind.PERIODIC)

    async def run_periodic(self, interval_s: float, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile every `interval_s`, at quiet moments only (no hedge episode running), because a
        venue snapshot taken while fills are still on the stream would be mistaken for drift."""
        task_status.started()
        while True:
            await trio.sleep(interval_s)
            if self.hedge_busy is not None:
                await self.hedge_busy.wait_value(False)
            try:
                await self.reconcile(ReconcileKind.PERIODIC)
            except (VenueError, trio.TooSlowError) as exc:
                logger.warning("periodic_reconcile_failed error={!r}", exc)

    async def startup(self, kind: ReconcileKind) -> Decimal:
        """Before reporting ready: orphans are cancelled (or adopted, by config), then reconcile."""
        orphans = [*await self.maker.open_orders(), *await self.hedge.open_orders()]
        if orphans and self.risk.orphan_orders == "cancel":
            logger.warning("orphan_orders_cancelled count={}", len(orphans))
            for client in (self.maker, self.hedge):
                with trio.fail_after(_CALL_S):
                    await client.cancel_all()
            await self.alert("orphan_orders", "warning", count=len(orphans), action="cancelled")
        elif orphans:
            logger.warning("orphan_orders_adopted count={}", len(orphans))
        net = await self.reconcile(kind)
        logger.info("startup_reconciled kind={} net_exposure={} maker={} hedge={}", kind, net,
                    self.ledger.position(self.maker.venue), self.ledger.position(self.hedge.venue))
        return net

    async def sweep(self, reason: str) -> SweepResult:
        """Reconcile; if the net exposure is beyond tolerance, warn, flatten it and re-check."""
        try:
            net = await self.reconcile(ReconcileKind.PERIODIC)
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("sweep_reconcile_failed reason={} error={!r}", reason, exc)
            net = self.ledger.net_exposure.value
        m = self.ledger.position(self.maker.venue)
        h = self.ledger.position(self.hedge.venue)
        tol = self.tolerance()
        if within(net, tol):
            return SweepResult(m, h, net, False, True)
        logger.warning("sweep_exposure reason={} net={} tolerance={} maker={} hedge={}", reason, net, tol, m, h)
        await self.alert("sweep_exposure", "warning", reason=reason, net=str(net), tolerance=str(tol),
                         maker=str(m), hedge=str(h))
        if self.hedge_idle is not None:
            with trio.move_on_after(self.settle_s):
                await self.hedge_idle()
            net = self.ledger.net_exposure.value
            if within(net, tol):
                logger.info("sweep_hedged reason={} net={}", reason, net)
                return SweepResult(self.ledger.position(self.maker.venue), self.ledger.position(self.hedge.venue),
                                   net, False, True)
        result = await flatten_and_verify(reason=f"sweep: {reason}", ledger=self.ledger, maker=self.maker,
                                          hedge=self.hedge, tol=tol, alert=self.alert,
                                          new_client_id=self.new_client_id, aggress_bps=self.aggress_bps)
        try:
            net = await self.reconcile(ReconcileKind.PERIODIC)
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("sweep_reconcile_failed reason={} error={!r}", reason, exc)
        return SweepResult(self.ledger.position(self.maker.venue), self.ledger.position(self.hedge.venue),
                           net, True, result.recovered)
