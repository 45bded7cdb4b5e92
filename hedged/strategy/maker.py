"""The maker leg worker: rest one post-only order at the best price and chase it until the
maker position reaches a target. Decisions come from the pure `chaser.decide`; this module
only places, cancels and waits. It never adds maker exposure while a hedge is in flight or
the net exposure is outside tolerance.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import trio
from loguru import logger
from trio_util import AsyncValue

from hedged.strategy import chaser as C
from hedged.strategy.ports import LedgerPort, is_settled, wait_order
from hedged.strategy.tolerance import within
from hedged.strategy.waiting import Watch
from hedged.venues.base import OrderRejected, Side, VenueClient, VenueError

_CALL_S = 5.0
_ERROR_PAUSE_S = 1.0  # after an unexpected placement error: a pause, not a retry storm


@dataclass
class WorkResult:
    reached: bool
    filled: Decimal  # maker quantity filled during this work
    notional: Decimal  # sum of qty x price of those fills (for the average)
    why: str  # reached | stopped | timeout | max_position


class MakerWorker:
    def __init__(self, *, ledger: LedgerPort, maker: VenueClient, hedge_busy: AsyncValue[bool], cfg,
                 tolerance: Callable[[], Decimal], new_client_id: Callable[[object], str],
                 unhedged: Callable[[], bool] | None = None, max_position: Decimal | None = None,
                 defer: Callable[[], Awaitable[None]] | None = None) -> None:
        # `unhedged()`: the ledger's open hedge delta asks for a hedge (a fill no hedge covers yet,
        # even one the executor has not woken up for); `max_position` caps the maker leg.
        self.unhedged = unhedged or (lambda: False)
        self.defer = defer  # awaited after each wake-up, before deciding (HedgeFirst.defer)
        self.max_position = max_position
        self.ledger = ledger
        self.maker = maker
        self.hedge_busy = hedge_busy
        self.cfg = cfg  # CycleConfig
        self.tolerance = tolerance
        self.new_client_id = new_client_id
        self.own_cid: str | None = None
        self._own: C.Resting | None = None
        self._last_cancel: float | None = None
        self._counted_seen = Decimal(0)

    def blocked(self) -> str | None:
        """Why no maker exposure may be added now, or None."""
        if self.unhedged():
            return "fill_unhedged"
        if self.hedge_busy.value or self.ledger.hedge_in_flight() != 0:
            return "hedge_in_flight"
        if not within(self.ledger.net_exposure.value, self.tolerance()):
            return "exposure_outside_tolerance"
        return None

    async def work(self, side: Side, target: Decimal, *, stopping: trio.Event | None = None) -> WorkResult:
        """Move the maker position to `target` by resting `side` orders. Always leaves no order behind."""
        venue = self.maker.venue
        filled = Decimal(0)
        notional = Decimal(0)
        why = "timeout"
        try:
            with trio.move_on_after(self.cfg.maker_timeout_s), Watch(
                    book=self.maker.top_of_book, version=self.ledger.version, busy=self.hedge_busy) as watch:
                while True:
                    if stopping is not None and stopping.is_set():
                        why = "stopped"
                        break
                    f, n = self._account_own()
                    filled += f
                    notional += n
                    wanted = (target - self.ledger.position(venue)) * side.sign
                    if self.maker.rules.round_size_down(wanted) < self.maker.rules.min_size:
                        why = "reached"
                        break
                    wanted = self._capped(side, wanted)
                    if self.maker.rules.round_size_down(wanted) < self.maker.rules.min_size:
                        logger.warning("maker_max_position side={} position={} max_position={}: not growing the leg",
                                       side, self.ledger.position(venue), self.max_position)
                        why = "max_position"
                        break
                    seen = watch.value
                    reason = self.blocked()
                    if reason is not None:
                        if self._own is not None and reason == "exposure_outside_tolerance":
                            await self._cancel_own()
                            continue
                        # A fill is unhedged or its hedge is open: nothing placed, nothing re-priced.
                        await watch.changed(seen, stopping=stopping, defer=self.defer)
                        continue
                    now = trio.current_time()
                    top = self.maker.top_of_book.value
                    d = C.decide(side=side, wanted=wanted, bid=top.bid if top else None, ask=top.ask if top else None,
                                 own=self._own, now=now, last_cancel_at=self._last_cancel,
                                 min_rest_s=self.cfg.chase_min_rest_s, cancel_throttle_s=self.cfg.cancel_throttle_s,
                                 rules=self.maker.rules)
                    if isinstance(d, C.Place) and reason is None:
                        await self._place(side, d.qty, d.price)
                    elif isinstance(d, C.CancelReplace):
                        logger.debug("maker_chase client_id={} from={} to={}", self.own_cid, self._own.price, d.price)
                        await self._cancel_own()
                    elif isinstance(d, C.WaitUntil):
                        with trio.move_on_at(d.at):
                            await watch.changed(seen, stopping=stopping, defer=self.defer)
                    else:  # Keep, NoBook, or a Place we may not make now
                        await watch.changed(seen, stopping=stopping, defer=self.defer)
        finally:
            with trio.CancelScope(shield=True):
                if self._own is not None:
                    await self._cancel_own()
                f, n = self._account_own()
                filled += f
                notional += n
        logger.debug("maker_work_done side={} target={} position={} filled={} why={}", side, target,
                     self.ledger.position(venue), filled, why)
        return WorkResult(why == "reached", filled, notional, why)

    # ---- internals ------------------------------------------------------------------------

    def _capped(self, side: Side, wanted: Decimal) -> Decimal:
        """`wanted`, but never growing the leg past `max_position` (shrinking it is always fine)."""
        if self.max_position is None:
            return wanted
        room = self.max_position - self.ledger.position(self.maker.venue) * side.sign
        return min(wanted, max(Decimal(0), room))

    def _account_own(self) -> tuple[Decimal, Decimal]:
        """Fold the fills of our resting order into the running totals; forget it once it is over."""
        if self.own_cid is None:
            return Decimal(0), Decimal(0)
        rec = self.ledger.order(self.maker.venue, self.own_cid)
        if rec is None:
            return Decimal(0), Decimal(0)
        new = rec.counted - self._counted_seen
        self._counted_seen = rec.counted
        price = rec.avg_price if rec.avg_price is not None else (self._own.price if self._own else Decimal(0))
        if self._own is not None:
            self._own = C.Resting(self._own.side, self._own.price, max(Decimal(0), rec.qty - rec.counted),
                                  self._own.placed_at)
        if rec.status.is_terminal:
            self._own = None
            self.own_cid = None
        return new, new * price

    async def _place(self, side: Side, qty: Decimal, price: Decimal) -> None:
        cid = self.new_client_id(self.maker.venue)
        self.ledger.register_order(self.maker.venue, cid, side, qty)
        self.own_cid, self._counted_seen = cid, Decimal(0)
        self._own = C.Resting(side, price, qty, trio.current_time())
        logger.debug("maker_placed side={} qty={} price={} client_id={}", side, qty, price, cid)
        try:
            with trio.fail_after(_CALL_S):
                await self.maker.place_maker(side, qty, price, cid)
        except OrderRejected as exc:
            logger.info("maker_rejected client_id={} error={}", cid, exc)
            self.ledger.fail_order(self.maker.venue, cid, str(exc))
            # No reject storm: try again once the book moved, or after the cancel throttle at the latest.
            with trio.move_on_after(self.cfg.cancel_throttle_s):
                await self.maker.top_of_book.wait_transition()
        except (VenueError, trio.TooSlowError) as exc:
            # It may be live: keep tracking it; the chase or the final cancel settles it.
            logger.warning("maker_place_failed client_id={} error={!r}", cid, exc)
            await trio.sleep(_ERROR_PAUSE_S)

    async def _cancel_own(self) -> None:
        cid = self.own_cid
        if cid is None:
            self._own = None
            return
        venue = self.maker.venue
        self._last_cancel = trio.current_time()
        self.ledger.note_cancel_requested(venue, cid)
        try:
            with trio.fail_after(_CALL_S):
                await self.maker.cancel(client_id=cid)
        except (VenueError, trio.TooSlowError) as exc:
            logger.info("maker_cancel_answer client_id={} error={!r}", cid, exc)
        with trio.move_on_after(_CALL_S):
            await wait_order(self.ledger, venue, cid, is_settled)
            return
        # The stream did not confirm: ask the venue directly and account for what it says.
        try:
            with trio.fail_after(_CALL_S):
                status = await self.maker.order_status(cid)
        except (VenueError, trio.TooSlowError) as exc:
            logger.error("maker_cancel_unconfirmed client_id={} error={!r}", cid, exc)
            return
        if status is None:
            self.ledger.fail_order(venue, cid, "unknown at venue after cancel")
        else:
            self.ledger.apply(status)
