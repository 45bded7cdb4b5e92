"""The hedge executor's venue calls: one task each, so a slow call (a resting hedge's cancel, a
lookup) never holds back the next hedge. A call only performs what the machine asked for and
reports the answer back (`_answer`); it decides nothing. Mixed into `HedgeExecutor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

import trio
from loguru import logger

from hedged.strategy import attempt as A
from hedged.strategy.ports import is_settled, wait_order
from hedged.strategy.pricing import NoPrice, hedge_price
from hedged.venues.base import (AmbiguousOutcome, AuthError, NonceError, OrderRejected, RateLimited, Side, TimeInForce,
                                TransportError, VenueError, hedge_path)

ESTABLISH_S = 2.0  # how long the stream gets to report a final state before REST is asked
CALL_S = 5.0  # bound on one venue call made during cleanup


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


@dataclass(slots=True)
class _Live:
    cid: str
    side: Side
    offset: Decimal
    sent_at: float
    seen: tuple = ()
    written: bool = False  # its sendTx reached the wire (or may have): it may be on the venue
    call_over: trio.Event = field(default_factory=trio.Event)  # the placing call returned or raised
    call_scope: trio.CancelScope = field(default_factory=trio.CancelScope)  # the placing call's own


class HedgeCalls:
    """Needs from the executor: ledger, hedge, cfg, on_latency, _machine, _live, _answers, _answered, _written."""

    async def _place(self, key: int, live: _Live, qty: Decimal, price: Decimal,
                     announce: Callable[[], None] = lambda: None) -> None:
        """`announce` (the hedge_sent line) runs once the sendTx is written, or once the call returned."""
        m, cid, side, sent_at = self._machine, live.cid, live.side, live.sent_at
        pending, unannounced = [True], [True]

        def release() -> None:  # once: the call no longer holds the others back (HedgeFirst)
            if pending:
                pending.clear()
                self._written()

        def written() -> None:  # by the adapter, however often it writes (a resend after a nonce refetch)
            live.written = True
            release()
            if unannounced:
                unannounced.clear()
                announce()

        try:
            with live.call_scope:
                await self.hedge.place_taker(side, qty, price, cid, TimeInForce(self.cfg.time_in_force),
                                             written=written)
            if live.call_scope.cancelled_caught:
                return  # stopped by cancel-on-exit (`_cancel_one_on_exit` settles it in the ledger)
        except VenueError as exc:
            if not isinstance(exc, TransportError):
                live.written = True  # the venue answered, or may have got it
            kind = error_kind(exc)
            logger.warning("hedge_send_failed client_id={} kind={} error={}", cid, kind, exc)
            retry_after = (exc.retry_after_s or 0.0) if isinstance(exc, RateLimited) else 0.0
            self._answer(partial(m.send_failed, key, kind, trio.current_time(), str(exc), retry_after))
            return
        finally:
            release()
            live.call_over.set()
        written()  # accepted: certainly sent, whether or not the adapter said when
        self.on_latency("sent_to_ack", trio.current_time() - sent_at)
        self._answer(partial(m.placed, key, trio.current_time()))

    # Each call gets the order's `_Live` when it is spawned: by the time it runs, the order may
    # have settled and left `_live` (its answer is then a late echo the machine ignores).

    async def _modify(self, a: A.Modify, live: _Live) -> None:
        m = self._machine
        rec = self.ledger.order(self.hedge.venue, live.cid)
        ok = False
        if rec is not None and rec.order_id is not None:
            try:
                price = self._price(live.side, live.offset, a.level)
                logger.info("hedge_modify client_id={} price={} level={} remaining={}",
                            live.cid, price, a.level, a.remaining)
                # qty is the new *remaining* size (Lighter's ModifyOrder BaseAmount, as its simulator
                # implements it): passing the original size would re-add what already filled.
                with trio.fail_after(CALL_S):
                    await self.hedge.modify(rec.order_id, price=price, qty=a.remaining)
                ok = True
            except (VenueError, NoPrice, trio.TooSlowError) as exc:
                logger.warning("hedge_modify_failed client_id={} error={}", live.cid, exc)
        self._answer(partial(m.modified, a.key, ok, trio.current_time()))

    async def _cancel(self, key: int, live: _Live) -> None:
        m = self._machine
        rec = self.ledger.order(self.hedge.venue, live.cid)
        try:
            with trio.fail_after(CALL_S):
                await self.hedge.cancel(client_id=live.cid, order_id=rec.order_id if rec else None)
        except (VenueError, trio.TooSlowError) as exc:
            # "not found" / "already filled" land here too; the truth comes from establishing.
            logger.info("hedge_cancel_answer client_id={} error={}", live.cid, exc)
        self._answer(partial(m.cancel_answered, key, trio.current_time()))

    async def _lookup(self, key: int, live: _Live) -> None:
        """REST: the venue's word only, never the deadline's. A settled answer goes to the ledger
        (and reaches the machine as an observation); anything else is reported as is."""
        m, cid = self._machine, live.cid
        try:
            with trio.fail_after(CALL_S), hedge_path():  # the hedge cannot be known without it
                status = await self.hedge.order_status(cid)
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("hedge_status_failed client_id={} error={}", cid, exc)
            self._answer(partial(m.looked_up, key, A.LookupResult.ERROR, trio.current_time()))
            return
        if status is None:
            logger.warning("hedge_unknown_at_venue client_id={}", cid)
            self._answer(partial(m.looked_up, key, A.LookupResult.UNKNOWN, trio.current_time()))
            return
        self.ledger.apply(status)
        rec = self.ledger.order(self.hedge.venue, cid)
        if rec is None or not is_settled(rec):
            self._answer(partial(m.looked_up, key, A.LookupResult.LIVE, trio.current_time()))
        else:
            self._answered.value += 1  # the observation carries it

    def _answer(self, feed: partial) -> None:
        """Queue a call's answer for the loop. An answer for a machine that was replaced (the
        failure path ran meanwhile) is dropped: its orders were cancelled with everything else."""
        if feed.func.__self__ is self._machine:
            self._answers.append(feed)
        self._answered.value += 1

    async def _cancel_on_exit(self) -> None:
        """Hedges may be live (even mid-send): leave none resting. Run when the executor is cancelled
        and before a give-up's failure path (which must read positions no hedge of ours can still move)."""
        live = list(self._live.values())
        if not live:
            return
        with trio.CancelScope(shield=True), trio.move_on_after(CALL_S):
            async with trio.open_nursery() as n:
                for item in live:
                    n.start_soon(self._cancel_one_on_exit, item)

    async def _cancel_one_on_exit(self, live: _Live) -> None:
        venue, cid = self.hedge.venue, live.cid
        rec = self.ledger.order(venue, cid)
        if rec is None or is_settled(rec):
            return
        if not live.written:
            # Its call may still be waiting (for the session, the budget, the nonce lock); on a give-up the
            # other calls still run. Cancel it, so it cannot write its sendTx after the failure path's
            # cancel-all, and see whether it did before it ended.
            live.call_scope.cancel()
            await live.call_over.wait()
            if not live.written:
                # Its sendTx never reached the wire, and its call is over: it cannot be on the venue. (A
                # cancel would wait for a venue that may be refusing us, and hold the stop: DST seed 3191.)
                logger.info("hedge_never_sent client_id={}", cid)
                self.ledger.fail_order(venue, cid, "stopped before its sendTx was written")
                return
        logger.warning("hedge_cancel_on_exit client_id={}", cid)
        self.ledger.note_cancel_requested(venue, cid)
        for _ in range(2):
            try:
                await self.hedge.cancel(client_id=cid, order_id=rec.order_id)
                # Sent is not done (Lighter applies a cancel after its delay): wait for the venue's word.
                with trio.move_on_after(ESTABLISH_S):
                    await wait_order(self.ledger, venue, cid, is_settled)
                return
            except Exception as exc:  # noqa: BLE001 (cleanup: a closing client must not hide the stop)
                # Sent but not on the book yet (a send cut short by the stop): wait for the stream
                # to see it, then cancel by its id.
                logger.warning("hedge_cancel_on_exit_failed client_id={} error={}", cid, exc)
                with trio.move_on_after(ESTABLISH_S):
                    rec = await wait_order(self.ledger, venue, cid, lambda r: r.order_id is not None or is_settled(r))
                if rec is None or is_settled(rec):
                    return
        return

    def _price(self, side: Side, offset: Decimal, level: int) -> Decimal:
        top = self.hedge.top_of_book.value
        if top is None:
            raise NoPrice(f"{self.hedge.venue} has no book yet")
        return hedge_price(side, top, offset, level, self.cfg.reprice_step_bps, self.hedge.rules)
