"""HedgeExecutor: drive the ledger's open hedge delta to zero on the hedge venue, now.

It does not wait for the cycle to ask. One episode at a time: plan from the ledger, send a
taker limit order, watch it under a deadline (modify in place after `reprice_after_s`),
cancel and establish the truth when the deadline fires, re-read the ledger, back off and
retry tighter, and after `max_attempts` run the failure path. The attempt logic itself is
the pure `HedgeAttempts` machine; this module only waits, sends and receives.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial

import trio
from loguru import logger
from trio_util import AsyncValue, wait_any

from hedged.errors import Halted
from hedged.ledger.hedging import HedgePlan, plan_hedge
from hedged.strategy import attempt as A
from hedged.strategy.failsafe import flatten_and_verify
from hedged.strategy.ports import Alert, LedgerPort, is_settled, wait_order
from hedged.strategy.pricing import NoPrice, draw_offset_bps, hedge_price
from hedged.venues.base import (AmbiguousOutcome, AuthError, MarketRules, NonceError, OrderRejected, RateLimited, Side,
                                TimeInForce, TransportError, VenueClient, VenueError)

_ESTABLISH_S = 2.0  # how long the stream gets to report a final state before REST is asked
_CALL_S = 5.0  # bound on one venue call made during cleanup


def error_kind(exc: VenueError) -> A.ErrorKind:
    if isinstance(exc, AmbiguousOutcome):
        return A.ErrorKind.AMBIGUOUS
    if isinstance(exc, AuthError):
        return A.ErrorKind.AUTH
    if isinstance(exc, RateLimited):
        return A.ErrorKind.RATE_LIMITED
    if isinstance(exc, NonceError):
        return A.ErrorKind.NONCE
    if isinstance(exc, TransportError):
        return A.ErrorKind.TRANSPORT
    if isinstance(exc, OrderRejected):
        return A.ErrorKind.REJECTED
    return A.ErrorKind.SIGNING  # any other typed adapter error: signing, encoding, unexpected reply


@dataclass(frozen=True, slots=True)
class ExecutorStats:
    episodes: int
    orders: int
    filled_orders: int
    failures: int
    last_latency_s: float | None  # first send to settled, of the last successful episode


class HedgeExecutor:
    def __init__(
        self,
        *,
        ledger: LedgerPort,
        maker: VenueClient,
        hedge: VenueClient,
        cfg,  # hedged.config.HedgeConfig
        tolerance: Callable[[], Decimal],
        rng: random.Random,
        alert: Alert,
        new_client_id: Callable[[object], str],
        on_latency: Callable[[str, float], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.ledger = ledger
        # Phases: fill_to_sent, sent_to_ack, sent_to_filled, maker_fill_to_hedge_filled (seconds).
        self.on_latency = on_latency or (lambda phase, seconds: None)
        # Why an attempt failed: an ErrorKind value, "deadline", "modify_failed" or "exhausted".
        self.on_failure = on_failure or (lambda reason: None)
        self._episode_started: float | None = None
        self.maker = maker
        self.hedge = hedge
        self.cfg = cfg
        self.tolerance = tolerance
        self.rng = rng
        self.alert = alert
        self.new_client_id = new_client_id
        self.busy: AsyncValue[bool] = AsyncValue(False)  # True while an episode runs
        self._episodes = self._orders = self._filled = self._failures = 0
        self._latency: float | None = None
        self._live: str | None = None
        self._stuck: Decimal | None = None  # a delta the failure path left open within tolerance
        self._retry_after = 0.0
        self.hedge_orders: list[str] = []  # client ids of every hedge sent, in order (for reports)

    def statistics(self) -> ExecutorStats:
        return ExecutorStats(self._episodes, self._orders, self._filled, self._failures, self._latency)

    def fills_since(self, index: int) -> tuple[Decimal, Decimal, Decimal]:
        """(quantity, priced quantity, notional) filled by the hedges sent from `hedge_orders[index]`
        on, per the ledger. A venue may report an order's average price after its fills (or, for an
        order settled by its trades, not yet): such fills count in the quantity, not in the average."""
        qty = priced = notional = Decimal(0)
        for cid in self.hedge_orders[index:]:
            rec = self.ledger.order(self.hedge.venue, cid)
            if rec is not None and rec.counted > 0:
                qty += rec.counted
                if rec.avg_price is not None:
                    priced += rec.counted
                    notional += rec.counted * rec.avg_price
        return qty, priced, notional

    def rules(self) -> MarketRules:
        """The hedge venue's rules with its minimum order value folded into min_size at the
        current price, so a hedge the venue would refuse is carried as residual instead."""
        rules = self.hedge.rules
        top = self.hedge.top_of_book.value
        price = top.mid if top is not None else None
        if price is None or rules.min_notional <= 0:
            return rules
        return replace(rules, min_size=rules.min_size_at(price))

    def plan(self) -> HedgePlan:
        return plan_hedge(self.ledger.open_hedge_delta.value, self.rules())

    async def run(self, *, stopping: trio.Event | None = None, makers_stopped: trio.Event | None = None,
                  graceful_s: float = 20.0, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Hedge forever. With `stopping`: once it is set (and `makers_stopped`, if given), finish
        what is open within `graceful_s`, else cancel and flatten, and return."""
        task_status.started()
        self._halted: Halted | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._loop, nursery.cancel_scope)
            if stopping is not None:
                await stopping.wait()
                with trio.move_on_after(graceful_s) as grace:
                    if makers_stopped is not None:
                        await makers_stopped.wait()
                    await self.wait_flat()
                if grace.cancelled_caught:
                    logger.warning("hedge_graceful_deadline open_delta={}", self.ledger.open_hedge_delta.value)
                nursery.cancel_scope.cancel()
        if self._halted is not None:
            raise self._halted  # bare, not in a group: the daemon maps it to exit code 3
        if stopping is not None and grace.cancelled_caught:
            await self._failure("graceful stop deadline passed with a hedge open", halt=False,
                                event="graceful_stop_flatten")

    async def wait_flat(self) -> None:
        """Until no episode runs and nothing hedgeable is open.

        The final check runs with no checkpoint after it (AsyncValue.wait_value yields even when
        its predicate already holds), so an episode starting meanwhile cannot slip past.
        """
        await trio.lowlevel.checkpoint()
        while True:
            if self.busy.value:
                await self.busy.wait_value(False)
            elif self.plan().needed and self.ledger.open_hedge_delta.value != self._stuck:
                await wait_any(partial(self.busy.wait_value, True),
                               partial(self.ledger.open_hedge_delta.wait_value, lambda d: d == self._stuck))
            else:
                return

    async def _loop(self, scope: trio.CancelScope) -> None:
        try:
            while True:
                await self.ledger.open_hedge_delta.wait_value(lambda d: plan_hedge(d, self.rules()).needed)
                failures = self._failures
                await self._episode()
                if self._failures > failures:
                    # The failure path ended within tolerance but left this delta open (e.g. the venue
                    # refuses a size our rules allow). Retrying it at once would loop; the next change
                    # of exposure (a new fill, a reconciliation) starts a fresh episode.
                    stuck = self._stuck = self.ledger.open_hedge_delta.value
                    logger.warning("hedge_left_open open_delta={} until=exposure_changes", stuck)
                    try:
                        await self.ledger.open_hedge_delta.wait_value(lambda d: d != stuck)
                    finally:
                        self._stuck = None
        except Halted as exc:
            self._halted = exc
            scope.cancel()

    # ---- one episode ----------------------------------------------------------------------

    async def _episode(self) -> None:
        self._episodes += 1
        machine = A.HedgeAttempts(max_attempts=self.cfg.max_attempts, backoff_initial_s=self.cfg.backoff_initial_s,
                                  backoff_max_s=self.cfg.backoff_max_s)
        started = self._episode_started = trio.current_time()
        self.busy.value = True
        self._retry_after = 0.0
        try:
            action = machine.begin()
            while True:
                if isinstance(action, A.Send):
                    action = await self._attempt(machine, action)
                elif isinstance(action, A.Reread):
                    action = machine.after_settled(self.plan().needed)
                    if isinstance(action, A.Done):
                        self._latency = trio.current_time() - started
                        self.on_latency("maker_fill_to_hedge_filled", self._latency)
                elif isinstance(action, A.Backoff):
                    await trio.sleep(max(action.seconds, self._retry_after))
                    self._retry_after = 0.0
                    action = machine.backoff_elapsed()
                elif isinstance(action, A.Done):
                    return
                elif isinstance(action, A.GiveUp):
                    self.on_failure("exhausted")
                    await self._failure(action.reason, halt=True)
                    return
                else:
                    raise RuntimeError(f"unexpected action {action!r}")
        finally:
            self.busy.value = False

    async def _attempt(self, m: A.HedgeAttempts, send: A.Send) -> A.Action:
        plan = self.plan()
        if not plan.needed:
            # Something settled during the backoff (a late fill): nothing left to hedge.
            return m.nothing_to_send()
        side = plan.side
        assert side is not None
        offset = draw_offset_bps(self.cfg, side, self.rng)
        try:
            price = self._price(side, offset, send.level)
        except NoPrice as exc:
            logger.warning("hedge_no_price attempt={} error={}", send.attempt, exc)
            return m.error(A.ErrorKind.REJECTED, "no opposite price on the hedge book")
        cid = self.new_client_id(self.hedge.venue)
        tif = TimeInForce(self.cfg.time_in_force)
        self.ledger.register_hedge(cid, side, plan.qty, residual=plan.residual)
        self.hedge_orders.append(cid)
        self._orders += 1
        logger.info("hedge_sent venue={} side={} qty={} price={} attempt={} level={} client_id={} residual={}",
                    self.hedge.venue, side, plan.qty, price, send.attempt, send.level, cid, plan.residual)
        sent_at = trio.current_time()
        if self._episode_started is not None:
            # The episode starts when the open delta appears, i.e. at the maker fill.
            self.on_latency("fill_to_sent", sent_at - self._episode_started)
            self._episode_started = None
        try:
            ack = await self.hedge.place_taker(side, plan.qty, price, cid, tif)
            self.on_latency("sent_to_ack", trio.current_time() - sent_at)
        except VenueError as exc:
            kind = error_kind(exc)
            logger.warning("hedge_send_failed attempt={} kind={} error={}", send.attempt, kind, exc)
            self.on_failure(str(kind))
            if isinstance(exc, RateLimited) and exc.retry_after_s:
                self._retry_after = exc.retry_after_s
            if kind is not A.ErrorKind.AMBIGUOUS:
                self.ledger.fail_order(self.hedge.venue, cid, f"send failed: {kind}")
                return m.error(kind, str(exc))
            m.error(kind, str(exc))
            return await self._establish(m, cid, side)
        m.placed()
        self._live = cid
        try:
            action = await self._watch(m, cid, side, offset, ack.order_id)
            rec = self.ledger.order(self.hedge.venue, cid)
            if rec is not None and rec.counted > 0:
                self.on_latency("sent_to_filled", trio.current_time() - sent_at)
            return action
        except trio.Cancelled:
            await self._cancel_on_exit(cid)
            raise
        finally:
            self._live = None

    async def _cancel_on_exit(self, cid: str) -> None:
        """We are being cancelled with our order possibly live: do not leave it resting."""
        with trio.CancelScope(shield=True), trio.move_on_after(_CALL_S):
            rec = self.ledger.order(self.hedge.venue, cid)
            if rec is not None and is_settled(rec):
                return
            logger.warning("hedge_cancel_on_exit client_id={}", cid)
            self.ledger.note_cancel_requested(self.hedge.venue, cid)
            try:
                await self.hedge.cancel(client_id=cid, order_id=rec.order_id if rec else None)
            except VenueError as exc:
                logger.warning("hedge_cancel_on_exit_failed client_id={} error={}", cid, exc)

    def _price(self, side: Side, offset: Decimal, level: int) -> Decimal:
        top = self.hedge.top_of_book.value
        if top is None:
            raise NoPrice(f"{self.hedge.venue} has no book yet")
        return hedge_price(side, top, offset, level, self.cfg.reprice_step_bps, self.hedge.rules)

    async def _watch(self, m: A.HedgeAttempts, cid: str, side: Side, offset: Decimal, order_id: str | None) -> A.Action:
        venue = self.hedge.venue
        deadline = trio.current_time() + self.cfg.timeout_s
        # An IOC never rests, so there is nothing to modify.
        reprice = self.cfg.reprice_after_s if self.cfg.time_in_force == "gtt" else 0.0
        while True:
            now = trio.current_time()
            next_modify = now + reprice if 0 < reprice and now + reprice < deadline else deadline
            with trio.move_on_at(next_modify):
                rec = await wait_order(self.ledger, venue, cid, is_settled)
                return self._settled(m, rec)
            if trio.current_time() >= deadline:
                break
            rec = self.ledger.order(venue, cid)
            action = m.reprice_due()
            if not isinstance(action, A.Modify):
                break
            oid = order_id or (rec.order_id if rec is not None else None)
            if oid is None or rec is None:
                continue  # not acknowledged yet: nothing to modify, keep waiting for the deadline
            try:
                price = self._price(side, offset, action.level)
                logger.info("hedge_modify client_id={} price={} level={}", cid, price, action.level)
                # qty is the new *remaining* size (Lighter's ModifyOrder BaseAmount, as its simulator
                # implements it): passing the original size would re-add what already filled.
                await self.hedge.modify(oid, price=price, qty=rec.qty - rec.counted)
            except (VenueError, NoPrice) as exc:
                logger.warning("hedge_modify_failed client_id={} error={}", cid, exc)
                m.modify_failed()
                self.on_failure("modify_failed")
                return await self._cancel_and_establish(m, cid, side)
        logger.info("hedge_deadline client_id={} timeout_s={}", cid, self.cfg.timeout_s)
        m.deadline()
        self.on_failure("deadline")
        return await self._cancel_and_establish(m, cid, side)

    async def _cancel_and_establish(self, m: A.HedgeAttempts, cid: str, side: Side) -> A.Action:
        venue = self.hedge.venue
        rec = self.ledger.order(venue, cid)
        if rec is not None and is_settled(rec):
            return self._settled(m, rec)  # a fill raced the deadline and won
        self.ledger.note_cancel_requested(venue, cid)
        try:
            with trio.fail_after(_CALL_S):
                await self.hedge.cancel(client_id=cid, order_id=rec.order_id if rec else None)
        except (VenueError, trio.TooSlowError) as exc:
            # "not found" / "already filled" land here too; the truth comes from establishing.
            logger.info("hedge_cancel_answer client_id={} error={}", cid, exc)
        m.cancel_sent()
        return await self._establish(m, cid, side)

    async def _establish(self, m: A.HedgeAttempts, cid: str, side: Side) -> A.Action:
        """Stream first, REST second; the venue's word only, never the deadline's."""
        venue = self.hedge.venue
        for round_ in range(3):
            with trio.move_on_after(_ESTABLISH_S):
                rec = await wait_order(self.ledger, venue, cid, is_settled)
                return self._settled(m, rec, how="stream")
            try:
                with trio.fail_after(_CALL_S):
                    status = await self.hedge.order_status(cid)
            except (VenueError, trio.TooSlowError) as exc:
                logger.warning("hedge_status_failed client_id={} round={} error={}", cid, round_, exc)
                continue
            if status is None:
                logger.warning("hedge_unknown_at_venue client_id={}", cid)
                self.ledger.fail_order(venue, cid, "unknown at venue")
                return m.established(0, 1, known=False)
            self.ledger.apply(status)
            rec = self.ledger.order(venue, cid)
            if rec is not None and is_settled(rec):
                return self._settled(m, rec, how="rest")
            try:  # still live: the cancel did not land yet; ask again
                with trio.fail_after(_CALL_S):
                    await self.hedge.cancel(client_id=cid, order_id=status.order_id)
            except (VenueError, trio.TooSlowError) as exc:
                logger.info("hedge_cancel_answer client_id={} error={}", cid, exc)
        m.phase = A.Phase.FAILED
        return A.GiveUp(f"hedge {cid} could not be confirmed cancelled or filled")

    def _settled(self, m: A.HedgeAttempts, rec, how: str = "stream") -> A.Action:
        logger.debug("hedge_settled client_id={} status={} filled={} qty={} avg_price={} via={}",
                    rec.client_id, rec.status, rec.counted, rec.qty, rec.avg_price, how)
        if rec.counted >= rec.qty:
            self._filled += 1
        if m.phase is A.Phase.ESTABLISHING:
            return m.established(rec.counted, rec.qty, known=True)
        return m.order_update(rec.counted, rec.qty, terminal=True)

    async def _failure(self, reason: str, *, halt: bool, event: str = "hedge_failed") -> None:
        self._failures += 1
        logger.error("{} reason={}", event, reason)
        await self.alert(event, "critical", reason=reason, open_delta=str(self.ledger.open_hedge_delta.value))
        worst = self.cfg.reprice_step_bps * self.cfg.max_attempts + max(self.cfg.buy_offset_bps_max,
                                                                         self.cfg.sell_offset_bps_max)
        result = await flatten_and_verify(reason=reason, ledger=self.ledger, maker=self.maker, hedge=self.hedge,
                                          tol=self.tolerance(), alert=self.alert, new_client_id=self.new_client_id,
                                          aggress_bps=worst)
        if not result.recovered and halt:
            raise Halted(f"hedge failed and exposure is not within tolerance: {reason}",
                         net_after=result.net_after, tolerance=self.tolerance())
