"""HedgeExecutor: drive the ledger's open hedge delta to zero on the hedge venue, now.

It does not wait for the cycle to ask, and no fill waits for another fill's hedge: every
decision (send, reprice, reduce, cancel, look up, give up) is made by the pure
`HedgeAttempts` machine. This module only waits (ledger changes, call answers, the machine's
next timer), sends (venue calls, each in its own task so one resting hedge never holds back
the next) and receives (feeds what happened back into the machine).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import Protocol

import trio
from loguru import logger
from trio_util import AsyncValue, compose_values, wait_any

from hedged.errors import Halted
from hedged.ledger.hedging import HedgePlan, plan_hedge
from hedged.ledger.orders import OrderRecord
from hedged.strategy import attempt as A
from hedged.strategy.closing import close_legs
from hedged.strategy.failsafe import flatten_and_verify
from hedged.strategy.fillclock import FillClock
from hedged.strategy.hedgefirst import HedgeFirst
from hedged.strategy.hedgecalls import CALL_S, ESTABLISH_S, HedgeCalls, _Live, error_kind  # noqa: F401 (error_kind re-exported)
from hedged.strategy.ports import Alert, LedgerPort
from hedged.strategy.pricing import NoPrice, can_price, draw_offset_bps
from hedged.strategy.recent import Recent
from hedged.strategy.tolerance import within
from hedged.venues.base import MarketRules, TopOfBook, VenueClient


class _Wake(Protocol):
    """What the executor waits on: the three values, composed (`trio_util.compose_values`)."""

    version: int  # the ledger's
    answered: int  # call answers queued
    book: TopOfBook | None  # the hedge venue's


def _seen(rec: OrderRecord) -> tuple:
    """What of a hedge order's record the attempt machine reacts to (a change wakes the executor)."""
    return rec.counted, rec.qty, rec.status, rec.order_id


def _first(exc: BaseException) -> Halted:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    assert isinstance(exc, Halted)
    return exc


@dataclass(frozen=True, slots=True)
class ExecutorStats:
    episodes: int  # busy periods (from the first send to nothing left to hedge)
    orders: int
    filled_orders: int
    failures: int
    last_latency_s: float | None  # first send to settled, of the last busy period that ended flat


class HedgeExecutor(HedgeCalls):
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
        history: int = 1000,
    ) -> None:
        self.ledger = ledger
        # Phases: fill_to_sent (one sample per maker fill, from the frame's arrival), sent_to_ack,
        # sent_to_filled, maker_fill_to_hedge_filled (seconds).
        self.on_latency = on_latency or (lambda phase, seconds: None)
        # Why an attempt failed: an ErrorKind value, "deadline", "no_price", "modify_failed" or "exhausted".
        self.on_failure = on_failure or (lambda reason: None)
        self.maker = maker
        self.hedge = hedge
        self.cfg = cfg
        self.tolerance = tolerance
        self.rng = rng
        self.alert = alert
        self.new_client_id = new_client_id
        self.busy: AsyncValue[bool] = AsyncValue(False)  # True while a hedge is live or a retry pending
        # Back-fill of both venues' trade history (the reconciler's; the strategy graph wires it), run at
        # the end of the failure path.
        self.backfill: Callable[[], Awaitable[int]] | None = None
        self._episodes = self._orders = self._filled = self._failures = 0
        self._latency: float | None = None
        self._busy_since: float | None = None
        self._machine = self._new_machine()
        self._live: dict[int, _Live] = {}
        self._answers: deque[Callable[[], list[A.Action]]] = deque()  # call results, fed in order
        self._answered = AsyncValue(0)
        self._unhedged = FillClock(maker.venue, lambda: self.rules().min_size,
                                   lambda seconds: self.on_latency("fill_to_sent", seconds))
        # Client ids of the hedges sent, in order (for reports): the last `history` of them, indexed as the
        # whole run (len = all ever sent), so memory does not grow with the run.
        self.hedge_orders: Recent[str] = Recent(history)
        # Hedge first (strategy/hedgefirst.py): owed from the ledger counting a maker fill until this loop
        # rests with no hedge of it still being written; the maker, the guard and the journal defer meanwhile.
        self.first = HedgeFirst()
        self._fresh = False  # a maker fill was counted since the loop last rested
        self._writing = 0  # hedges decided whose sendTx is not yet written
        self._rules_at: tuple[MarketRules, object, MarketRules] | None = None  # rules() for (rules, top) seen
        ledger.on_fill = self._on_fill

    def _on_fill(self, event, delta: Decimal) -> None:
        """Ledger hook (inside the ledger's apply): a venue event moved a position."""
        self._unhedged.note(event, delta)
        if self._unhedged:
            self._fresh = True
            self.first.owed.value = True

    def _written(self) -> None:
        """A hedge's sendTx was written (or its call ended without one)."""
        self._writing -= 1
        self.first.owed.value = self._writing > 0 or self._fresh

    def _new_machine(self) -> A.HedgeAttempts:
        c = self.cfg
        reprice = c.reprice_after_s if c.time_in_force == "gtt" else 0.0  # an IOC never rests
        return A.HedgeAttempts(max_attempts=c.max_attempts, backoff_initial_s=c.backoff_initial_s,
                               backoff_max_s=c.backoff_max_s, timeout_s=c.timeout_s, reprice_after_s=reprice,
                               establish_s=ESTABLISH_S)

    def statistics(self) -> ExecutorStats:
        return ExecutorStats(self._episodes, self._orders, self._filled, self._failures, self._latency)

    def fills_since(self, index: int) -> tuple[Decimal, Decimal, Decimal]:
        """(quantity, priced quantity, notional) filled by the hedges sent from `hedge_orders[index]`
        on (those still kept: a cycle sending more than `history` hedges reports its last ones), per the
        ledger. A venue may report an order's average price after its fills (or, for an order settled by
        its trades, not yet): such fills count in the quantity, not in the average."""
        qty = priced = notional = Decimal(0)
        for cid in self.hedge_orders[index:]:
            rec = self.ledger.order(self.hedge.venue, cid)
            if rec is not None and rec.counted > 0:
                qty += rec.counted
                if rec.avg_price is not None:
                    priced += rec.counted
                    notional += rec.counted * rec.avg_price
        return qty, priced, notional

    def oldest_unhedged_age(self) -> float:
        """Seconds since the oldest maker fill no hedge order covers yet arrived (0 if none)."""
        return self._unhedged.oldest_age()

    def rules(self) -> MarketRules:
        """The hedge venue's rules with its minimum order value folded into min_size at the
        current price, so a hedge the venue would refuse is carried as residual instead."""
        rules = self.hedge.rules
        top = self.hedge.top_of_book.value
        seen = self._rules_at
        if seen is not None and seen[0] is rules and seen[1] is top:
            return seen[2]  # asked several times per step (plan, unhedged): the same book, the same answer
        price = top.mid if top is not None else None
        out = rules if price is None or rules.min_notional <= 0 else replace(rules, min_size=rules.min_size_at(price))
        self._rules_at = (rules, top, out)
        return out

    def plan(self) -> HedgePlan:
        return plan_hedge(self.ledger.open_hedge_delta.value, self.rules())

    def unhedged(self) -> bool:
        """The ledger's open delta asks for a hedge (read from the ledger, so a fill the loop has not
        woken up for yet counts), unless it is the delta a failure path left within tolerance."""
        return self.plan().needed and self.ledger.open_hedge_delta.value != self._machine.stuck

    # ---- run and stop ---------------------------------------------------------------------

    async def run(self, *, stopping: trio.Event | None = None, makers_stopped: trio.Event | None = None,
                  graceful_s: float = 20.0, flatten_s: float = 25.0, on_stop: str = "keep",
                  task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Hedge forever. With `stopping`: once it is set (and `makers_stopped`, if given), finish
        what is open within `graceful_s`; then, within `flatten_s`, flatten what a hedge left open
        (on_stop="keep") or close both legs (on_stop="flatten"). Raises `Halted` when that fails."""
        task_status.started()
        self._halted: Halted | None = None
        grace = None
        try:
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
        except BaseException:
            if stopping is not None and stopping.is_set() and self._halted is None:
                await self._left_open_at_stop()  # raises Halted in place of the cancellation
            raise
        if self._halted is not None:
            raise self._halted  # bare, not in a group: the daemon maps it to exit code 3
        if stopping is None:
            return
        # Shielded: this is the stop path's promise, the supervisor's deadline is set above it.
        with trio.CancelScope(shield=True):
            if on_stop == "flatten":
                await self._close_legs(flatten_s)
            elif grace is not None and grace.cancelled_caught:
                await self._failure("graceful stop deadline passed with a hedge open", halt=True,
                                    event="graceful_stop_flatten", budget_s=flatten_s)

    async def _left_open_at_stop(self) -> None:
        """Cancelled during a graceful stop (a second signal, the supervisor's deadline): nothing more
        is traded (the live hedges were cancelled on the way out), but exposure beyond tolerance must
        not end as a clean exit: alert, and `Halted` (exit 3)."""
        net, tol = self.ledger.net_exposure.value, self.tolerance()
        if within(net, tol):
            return
        logger.error("stop_cancelled_with_exposure net={} tolerance={}", net, tol)
        with trio.CancelScope(shield=True), trio.move_on_after(CALL_S):
            await self.alert("stop_cancelled_with_exposure", "critical", net=str(net), tolerance=str(tol))
        raise Halted("stopped at once with exposure open (nothing was flattened)", net_after=net, tolerance=tol)

    async def _close_legs(self, budget_s: float) -> None:
        result = await close_legs(ledger=self.ledger, maker=self.maker, hedge=self.hedge,
                                  new_client_id=self.new_client_id, aggress_bps=self._worst_bps(),
                                  settle_s=budget_s / 6, alert=self.alert)
        if not result.closed:
            raise Halted("stop with on_stop=flatten: the legs could not be closed",
                         net_after=result.net_after, tolerance=self.tolerance())

    async def wait_flat(self) -> None:
        """Until no hedge is live, no retry pending and nothing hedgeable is open.

        The final check runs with no checkpoint after it (AsyncValue.wait_value yields even when
        its predicate already holds), so an episode starting meanwhile cannot slip past.
        """
        await trio.lowlevel.checkpoint()
        while True:
            stuck = self._machine.stuck
            if self.busy.value:
                await self.busy.wait_value(False)
            elif self.plan().needed and self.ledger.open_hedge_delta.value != stuck:
                await wait_any(partial(self.busy.wait_value, True),
                               partial(self.ledger.open_hedge_delta.wait_value,
                                       lambda d: d == self._machine.stuck))
            else:
                return

    # ---- the loop: wait, feed the machine, perform its actions ----------------------------

    async def _loop(self, scope: trio.CancelScope) -> None:
        try:
            async with trio.open_nursery() as calls:
                try:
                    await self._drive(calls)
                finally:
                    calls.cancel_scope.cancel()
                    await self._cancel_on_exit()
        except* Halted as group:
            self._halted = _first(group)
            scope.cancel()

    async def _drive(self, calls: trio.Nursery) -> None:
        with compose_values(version=self.ledger.version, answered=self._answered,
                            book=self.hedge.top_of_book) as wake:
            await self._drive_on(calls, wake)

    async def _drive_on(self, calls: trio.Nursery, wake: AsyncValue[_Wake]) -> None:
        while True:
            answered = self._answered.value
            actions: list[A.Action] = []
            while self._answers:
                actions += self._answers.popleft()()
            m, now = self._machine, trio.current_time()
            actions += self._observe(now)
            if m.unpriced is not None and can_price(m.unpriced, self.hedge.top_of_book.value):
                actions += m.priced(now)
            actions += m.tick(now)
            actions += m.exposure(now, self.plan())
            if actions:
                gave_up = await self._perform(actions, calls)
                if gave_up is not None:
                    await self._give_up(gave_up, calls)
                continue  # what was performed changed the ledger: decide again before waiting
            self._set_busy()  # only at rest: a step between two actions is not "idle"
            if self._unhedged and not self.unhedged():
                # Nothing is owed: what is left is lot residual (or netted, or a delta the failure path
                # left within tolerance), not a fill waiting for its hedge.
                self._unhedged.clear()
            self._fresh = False  # at rest: whatever was counted has been acted on
            self.first.owed.value = self._writing > 0
            delta = self.ledger.open_hedge_delta.value
            unpriced = m.unpriced

            def woken(v: _Wake) -> bool:
                # What the machine can see: an answer, the open delta or a live order's record, and a
                # price for a hedge waiting for one (the predicate pricing uses, false when this loop
                # last looked, so a useless book frame never wakes it).
                return (v.answered != answered or self._changed(delta)
                        or (unpriced is not None and can_price(unpriced, v.book)))

            with trio.move_on_at(m.next_timer()):
                # One waiter on the three values composed: the predicate runs inside their setters and
                # the setter reschedules this task directly (a `wait_any` would spend scheduler passes
                # starting and cancelling its children on the way to every hedge).
                await wake.wait_value(woken)

    def _changed(self, delta: Decimal) -> bool:
        if self.ledger.open_hedge_delta.value != delta:
            return True
        for live in self._live.values():
            rec = self.ledger.order(self.hedge.venue, live.cid) if live.cid else None
            if rec is not None and _seen(rec) != live.seen:
                return True
        return False

    def _observe(self, now: float) -> list[A.Action]:
        out: list[A.Action] = []
        for key, live in list(self._live.items()):
            rec = self.ledger.order(self.hedge.venue, live.cid)
            if rec is None:
                continue
            seen = _seen(rec)
            if seen != live.seen:
                live.seen = seen
                out += self._machine.observed(key, rec.counted, rec.qty, rec.status.is_terminal,
                                              rec.order_id is not None, now)
        return out

    def _set_busy(self) -> None:
        busy = self._machine.busy
        if busy and self._busy_since is None:
            self._busy_since = trio.current_time()
            self._episodes += 1
        elif not busy and self._busy_since is not None:
            if not self.plan().needed:
                self._latency = trio.current_time() - self._busy_since
                self.on_latency("maker_fill_to_hedge_filled", self._latency)
            self._busy_since = None
        self.busy.value = busy

    async def _perform(self, actions: list[A.Action], calls: trio.Nursery) -> str | None:
        gave_up = None
        for a in actions:
            if isinstance(a, A.Send):
                self._send(a, calls)
            elif isinstance(a, A.Modify):
                calls.start_soon(self._modify, a, self._live[a.key])
            elif isinstance(a, A.Cancel):
                live = self._live[a.key]
                self.ledger.note_cancel_requested(self.hedge.venue, live.cid)
                calls.start_soon(self._cancel, a.key, live)
            elif isinstance(a, A.Lookup):
                calls.start_soon(self._lookup, a.key, self._live[a.key])
            elif isinstance(a, A.Forget):
                live = self._live.pop(a.key)
                if live.cid:
                    self.ledger.fail_order(self.hedge.venue, live.cid, a.reason)
            elif isinstance(a, A.Settled):
                self._settled(a)
            elif isinstance(a, A.Failure):
                if a.reason == "deadline":
                    logger.info("hedge_deadline timeout_s={}", self.cfg.timeout_s)
                self.on_failure(a.reason)
            elif isinstance(a, A.GiveUp):
                gave_up = a.reason
        return gave_up

    def _send(self, a: A.Send, calls: trio.Nursery) -> None:
        offset = draw_offset_bps(self.cfg, a.side, self.rng)
        try:
            price = self._price(a.side, offset, a.level)
        except NoPrice as exc:
            logger.warning("hedge_no_price level={} error={} wait_s={}", a.level, exc, self.cfg.timeout_s)
            # Never sent, never registered, no attempt: the machine waits for a price (the loop watches
            # the book for it), within the hedge's timeout.
            self._live[a.key] = _Live("", a.side, offset, trio.current_time())
            self._answer(partial(self._machine.unpriced_send, a.key, trio.current_time()))
            return
        cid = self.new_client_id(self.hedge.venue)
        sent_at = trio.current_time()
        self._live[a.key] = live = _Live(cid, a.side, offset, sent_at)
        # Registered before the call: its quantity is in flight at once, so the next plan is the increment.
        self.ledger.register_hedge(cid, a.side, a.qty, residual=a.residual)
        self.hedge_orders.append(cid)
        self._orders += 1
        self._unhedged.cover(a.qty, sent_at)
        self._writing += 1
        # Logged once the sendTx is written, not before: formatting and writing the line took ~0.15 ms of
        # this step, and the hedge waited behind it.
        announce = partial(logger.info, "hedge_sent venue={} side={} qty={} price={} level={} retry={} client_id={} "
                           "residual={}", self.hedge.venue, a.side, a.qty, price, a.level, a.retry, cid, a.residual)
        calls.start_soon(self._place, a.key, live, a.qty, price, announce)

    def _settled(self, a: A.Settled) -> None:
        live = self._live.pop(a.key, None)
        rec = self.ledger.order(self.hedge.venue, live.cid) if live is not None and live.cid else None
        if rec is None:
            return
        logger.debug("hedge_settled client_id={} status={} filled={} qty={} avg_price={}",
                    rec.client_id, rec.status, rec.counted, rec.qty, rec.avg_price)
        if rec.counted > 0:
            self.on_latency("sent_to_filled", trio.current_time() - live.sent_at)
        if a.complete:
            self._filled += 1

    async def _give_up(self, reason: str, calls: trio.Nursery) -> None:
        # Our own live hedges are cancelled first and their end confirmed: a concurrent order still in
        # Lighter's taker hold is missed by the failure path's cancel-all and by its position read, and
        # would trade once nobody tracks it. Calls still running get answers the machine then ignores.
        await self._cancel_on_exit()
        await self._failure(reason, halt=True)
        self._live.clear()
        self._answers.clear()
        self._unhedged.clear()
        self._machine.recovered(self.ledger.open_hedge_delta.value)
        logger.warning("hedge_left_open open_delta={} until=exposure_changes", self._machine.stuck)

    # ---- cleanup and failure --------------------------------------------------------------

    def _worst_bps(self) -> Decimal:
        return self.cfg.reprice_step_bps * self.cfg.max_attempts + max(self.cfg.buy_offset_bps_max,
                                                                        self.cfg.sell_offset_bps_max)

    async def _failure(self, reason: str, *, halt: bool, event: str = "hedge_failed",
                       budget_s: float = 25.0) -> None:
        self._failures += 1
        logger.error("{} reason={}", event, reason)
        await self.alert(event, "critical", reason=reason, open_delta=str(self.ledger.open_hedge_delta.value))
        result = await flatten_and_verify(reason=reason, ledger=self.ledger, maker=self.maker, hedge=self.hedge,
                                          tol=self.tolerance(), alert=self.alert, new_client_id=self.new_client_id,
                                          aggress_bps=self._worst_bps(), settle_s=budget_s / 5)
        if self.backfill is not None:
            # The failure path acted on the venues' positions; the fills behind them must be in the journal
            # too. A hedge whose outcome it never established (a frozen channel, a stop's grace ending before
            # the lookup) filled unseen, and the journal would keep the maker fill without it (DST seed 3392).
            with trio.CancelScope(shield=True), trio.move_on_after(budget_s / 5):
                await self.backfill()
        if not result.recovered and halt:
            raise Halted(f"hedge failed and exposure is not within tolerance: {reason}",
                         net_after=result.net_after, tolerance=self.tolerance())
