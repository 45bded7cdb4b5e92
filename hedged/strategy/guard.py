"""ExposureGuard service: unexplained exposure beyond tolerance for longer than the grace period
-> cancel open orders, flatten the larger leg, alert; continue if recovered, else halt.

"Unexplained" is the ledger's open hedge delta (net exposure minus hedges in flight) while the
executor is not working on it: the executor has its own deadline and failure path.

After flattening, the guard re-reads both venues into the ledger (`reconcile`). A venue error or
timeout there is retried with exponential backoff until `reconcile_budget_s` has passed (on the
Trio clock); only then does it escalate, by the one documented path: alert
`guard_reconcile_failed` (an incident) and `Halted` (exit 3). It never crashes the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import trio
from loguru import logger

from hedged.backoff import Backoff
from hedged.errors import Halted
from hedged.strategy.exposure import GuardCore, Verdict
from hedged.strategy.failsafe import flatten_and_verify
from hedged.strategy.ports import Alert, LedgerPort
from hedged.strategy.waiting import Watch
from hedged.venues.base import VenueClient, VenueError

RECONCILE_BUDGET_S = 60.0  # how long the post-flatten re-read may keep failing before halting
RECONCILE_BACKOFF = Backoff(0.5, 8.0)  # first pause, longest pause (doubling)


class ExposureGuard:
    def __init__(self, *, ledger: LedgerPort, maker: VenueClient, hedge: VenueClient, hedge_busy,
                 tolerance: Callable[[], Decimal], grace_s: float, alert: Alert,
                 new_client_id: Callable[[object], str], aggress_bps: Decimal,
                 reconcile: Callable[[], Awaitable[object]] | None = None,
                 max_position: Decimal | None = None,
                 reconcile_budget_s: float = RECONCILE_BUDGET_S,
                 defer: Callable[[], Awaitable[None]] | None = None) -> None:
        self.defer = defer  # awaited after each wake-up, before deciding (HedgeFirst.defer)
        self.max_position = max_position  # risk.max_position: a leg beyond it is a guard event
        self._over: frozenset = frozenset()  # legs already reported over it
        self.ledger = ledger
        self.maker = maker
        self.hedge = hedge
        self.hedge_busy = hedge_busy  # executor.busy
        self.tolerance = tolerance
        self.core = GuardCore(grace_s)
        self.alert = alert
        self.new_client_id = new_client_id
        self.aggress_bps = aggress_bps
        self.reconcile = reconcile  # e.g. Sweeper.reconcile_periodic: the ledger learns what the venues hold
        self.reconcile_budget_s = reconcile_budget_s
        self.reconcile_retries = 0
        self.actions = 0  # breaches acted on
        self.recoveries = 0  # of which flattening brought exposure back within tolerance

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        delta_av, busy_av = self.ledger.open_hedge_delta, self.hedge_busy
        watched = dict(delta=delta_av, busy=busy_av)
        if self.max_position is not None:
            watched["positions"] = self.ledger.positions
        with Watch(**watched) as watch:
            while True:
                seen = watch.value
                if self.max_position is not None:
                    await self._check_max_position()
                view = self.core.observe(trio.current_time(), delta_av.value, self.tolerance(), busy_av.value)
                if view.verdict is Verdict.ACT:
                    await self._act(delta_av.value)
                    continue
                if view.verdict is Verdict.WATCH:
                    with trio.move_on_at(view.act_at):
                        await watch.changed(seen, defer=self.defer)
                else:
                    await watch.changed(seen, defer=self.defer)

    async def _check_max_position(self) -> None:
        over = frozenset(leg for leg, size in self.ledger.positions.value.items() if abs(size) > self.max_position)
        for leg in over - self._over:  # once per breach, not on every change while it lasts
            size = self.ledger.positions.value[leg]
            logger.error("guard_max_position_breach venue={} position={} max_position={}", leg.venue, size,
                         self.max_position)
            await self.alert("max_position_breach", "critical", venue=str(leg.venue), position=str(size),
                             max_position=str(self.max_position))
        self._over = over

    async def _act(self, unexplained: Decimal) -> None:
        self.actions += 1
        tol = self.tolerance()
        logger.error("guard_breach unexplained={} tolerance={}", unexplained, tol)
        await self.alert("exposure_guard", "critical", unexplained=str(unexplained), tolerance=str(tol))
        result = await flatten_and_verify(reason="exposure guard", ledger=self.ledger, maker=self.maker,
                                          hedge=self.hedge, tol=tol, alert=self.alert,
                                          new_client_id=self.new_client_id, aggress_bps=self.aggress_bps)
        self.core.reset()
        self.recoveries += int(result.recovered)
        if self.reconcile is not None:
            await self._reconcile(self.reconcile)
        if not result.recovered:
            raise Halted("exposure guard: exposure not within tolerance after flattening",
                         net_after=result.net_after, tolerance=tol)

    async def _reconcile(self, reconcile: Callable[[], Awaitable[object]]) -> None:
        """Re-read the venues, retrying venue errors and timeouts within the budget; else halt."""
        deadline = trio.current_time() + self.reconcile_budget_s
        attempt = 0
        while True:
            attempt += 1
            pause = RECONCILE_BACKOFF.delay(attempt - 1)
            try:
                await reconcile()
                return
            except (VenueError, trio.TooSlowError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:200]
            if trio.current_time() + pause > deadline:
                logger.error("guard_reconcile_failed attempts={} budget_s={} error={}", attempt,
                             self.reconcile_budget_s, error)
                await self.alert("guard_reconcile_failed", "critical", attempts=attempt, error=error)
                raise Halted("exposure guard: the venues could not be re-read after flattening",
                             attempts=attempt, error=error)
            self.reconcile_retries += 1
            logger.warning("guard_reconcile_retry attempt={} wait_s={:.1f} error={}", attempt, pause, error)
            await trio.sleep(pause)
