"""The sweep of out-of-tolerance exposure before and after each cycle.

Reconciliation itself (passes, the snapshot fence, orphans at startup, back-fill) is the
`Reconciler`'s (reconciler.py); the sweep asks it for a pass and decides what to do with
exposure the executor cannot hedge.
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
from hedged.strategy.reconciler import Reconciler
from hedged.strategy.tolerance import within
from hedged.venues.base import VenueClient, VenueError


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
                 reconciler: Reconciler | None = None) -> None:
        self.ledger = ledger  # hedged.ledger.Ledger (needs reconcile())
        self.maker = maker
        self.hedge = hedge
        self.risk = risk  # RiskConfig
        self.tolerance = tolerance
        self.alert = alert
        self.new_client_id = new_client_id
        self.aggress_bps = aggress_bps
        # The executor owns exposure that reconciliation reveals (at startup too): the sweep waits for
        # it and flattens only what is still open once the executor is idle (e.g. less than the hedge
        # venue's minimum), never while the executor is still working on it: one owner, no double trade.
        self.hedge_idle = hedge_idle
        self.settle_s = settle_s
        # One owner of passes against the venues; the sweep asks it, it never reads snapshots itself.
        self.reconciler = reconciler or Reconciler(ledger=ledger, maker=maker, hedge=hedge, alert=alert,
                                                   orphan_policy=risk.orphan_orders,
                                                   interval_s=risk.reconcile_interval_s)

    async def reconcile(self, kind: ReconcileKind) -> Decimal:
        """One fenced reconciliation pass (the venues are the truth); returns the venues' net exposure."""
        return (await self.reconciler.reconcile(kind)).net_exposure

    async def reconcile_periodic(self) -> Decimal:
        return await self.reconcile(ReconcileKind.PERIODIC)

    async def startup(self, kind: ReconcileKind) -> Decimal:
        """Before reporting ready: orphans cancelled and confirmed gone (or adopted), back-fill, reconcile."""
        return (await self.reconciler.startup(ReconcileKind(kind))).net_exposure

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
            with trio.move_on_after(self.settle_s) as settle:
                await self.hedge_idle()
            net = self.ledger.net_exposure.value
            if within(net, tol):
                logger.info("sweep_hedged reason={} net={}", reason, net)
                return SweepResult(self.ledger.position(self.maker.venue), self.ledger.position(self.hedge.venue),
                                   net, False, True)
            if settle.cancelled_caught:
                # The executor is still on it (resting hedge, backoff): it owns this exposure and has its
                # own deadline and failure path. Flattening now would trade the same exposure twice.
                logger.warning("sweep_left_to_executor reason={} net={} settle_s={}", reason, net, self.settle_s)
                return SweepResult(self.ledger.position(self.maker.venue), self.ledger.position(self.hedge.venue),
                                   net, False, False)
        result = await flatten_and_verify(reason=f"sweep: {reason}", ledger=self.ledger, maker=self.maker,
                                          hedge=self.hedge, tol=tol, alert=self.alert,
                                          new_client_id=self.new_client_id, aggress_bps=self.aggress_bps)
        try:
            net = await self.reconcile(ReconcileKind.PERIODIC)
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("sweep_reconcile_failed reason={} error={!r}", reason, exc)
        return SweepResult(self.ledger.position(self.maker.venue), self.ledger.position(self.hedge.venue),
                           net, True, result.recovered)
