"""The hedge attempt state machine: events in, actions out, no I/O (h11-style).

It is the one place that decides what the hedge leg does. The executor feeds it what it
observed (the ledger's hedge plan, an order's fills, a call's answer, the clock) and performs
the actions it returns; the executor itself only waits, sends and receives.

Several hedge orders may be live at once: exposure that grows while a hedge rests is hedged
at once by a further order for the increment (the ledger counts live hedges as in flight, so
the plan *is* the increment). Exposure that shrinks against live hedges (a maker fill on the
other side) reduces them: a downward modify of a resting order, or its cancel; an order in
the opposite direction is never sent while a hedge is live. A reprice is a cancel and a new order
for what is left, never a modify (a modify restates the size, and what fills in its flight is
added back on top).

Invariants kept here:

* a deadline never counts as a fill: it leads to Cancel, then the order's final state is
  established (stream, else REST `Lookup`);
* every order that ends with a remainder, and every placement error, uses up one attempt,
  except one that was already live when the last failure was counted (concurrent orders failing
  together are one attempt); `max_attempts` in a row without a complete fill -> GiveUp;
* an ambiguous outcome is looked up, never resent blindly, and "the venue does not know the
  order" is asked again within a bound before it is believed (lookups can lag);
* a send the hedge book cannot price (no book yet, a side pulled) is no attempt: the machine
  waits for the executor to report a price (`priced`), within `timeout_s`; no price by then
  -> GiveUp (the failure path: nothing can be hedged, so the exposure is flattened or halts).
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

from hedged.backoff import Backoff
from hedged.ledger.hedging import HedgePlan
from hedged.strategy.actions import Action, Cancel, Failure, Forget, GiveUp, Lookup, Modify, Send, Settled
from hedged.strategy.attempt_order import ZERO, ErrorKind, LookupResult, Order, Phase
from hedged.venues.base import Side


# Retrying these cannot help: the next attempt would fail the same way.
_FATAL = frozenset({ErrorKind.AUTH})


class HedgeAttempts:
    def __init__(self, *, max_attempts: int, backoff_initial_s: float, backoff_max_s: float,
                 timeout_s: float = 5.0, reprice_after_s: float = 0.0, establish_s: float = 2.0,
                 max_lookups: int = 3) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.reprice_after_s = reprice_after_s  # 0: never reprice (IOC)
        self.establish_s = establish_s  # how long the stream gets before REST is asked (again)
        self.max_lookups = max_lookups
        self.orders: dict[int, Order] = {}
        self.failures = 0  # orders / sends in a row that ended without a complete fill
        self.reprices = 0  # reprices since the last complete fill
        self.backoff_until: float | None = None
        self._backoff_open: Decimal | None = None  # |open delta| when the backoff began
        self.failed: str | None = None  # set once GiveUp was returned
        self.stuck: Decimal | None = None  # an open delta the failure path left (within tolerance)
        self.last_error: str | None = None
        self._keys = itertools.count(1)
        self._last_key = 0  # the newest order's key
        self._round_fence = 0  # orders up to this key were live when the last failure was counted
        self.unpriced: Side | None = None  # a send of this side found no price: wait for `priced`
        self._unpriced_until = math.inf  # ... until then (the first unpriced send + timeout_s)
        # The side that deadline is for. It stays armed across `priced` until a hedge of that side goes
        # out (`placed`) or that exposure is gone: a book that shows a price and pulls it again before
        # each send would otherwise restart the wait every time, and leave the fill naked without bound.
        self._unpriced_side: Side | None = None
        self._reprice_cap: tuple[Side, float] | None = None  # (side, deadline) a repriced order left

    @property
    def busy(self) -> bool:
        """An order is live or a retry is pending."""
        return bool(self.orders) or self.backoff_until is not None or self.unpriced is not None

    def next_timer(self) -> float:
        times = [self.backoff_until if self.backoff_until is not None else math.inf, self._unpriced_until]
        for o in self.orders.values():
            times += [o.deadline_at, o.reprice_at if o.reducing is None else o.mod_until, o.lookup_at]
        return min(times)

    # ---- events ---------------------------------------------------------------------------

    def exposure(self, now: float, plan: HedgePlan) -> list[Action]:
        """The ledger's plan for the open hedge delta, after every change: decide what to send."""
        if self.failed is not None:
            return []
        if self.stuck is not None:
            if plan.open_delta == self.stuck:
                return []  # the failure path left it; only a change of exposure starts new work
            self.stuck = None
        if not plan.needed or plan.side is not self._unpriced_side:
            self._end_unpriced()  # nothing left to price, or the other side now: new work
        if not plan.needed:
            self._reprice_cap = None  # the remainder a reprice left is gone (netted, filled): no carry
            return []
        side = plan.side
        assert side is not None
        if self._reprice_cap is not None and self._reprice_cap[0] is not side:
            self._reprice_cap = None  # the exposure turned: what a reprice left is no longer what is sent
        if any(o.side is not side for o in self.orders.values()):
            return self._reduce(side.opposite, plan.qty, now)
        if self.failures >= self.max_attempts:
            self.failed = why = f"{self.failures} attempts left exposure open" + (
                f" (last error {self.last_error})" if self.last_error else "")
            return [Failure("exhausted"), GiveUp(why)]
        if self.unpriced is not None:
            return []  # no price to send at: `priced` (or the wait's timeout) moves on
        if self.backoff_until is not None:
            if self._backoff_open is None:
                self._backoff_open = abs(plan.open_delta)
            if abs(plan.open_delta) <= self._backoff_open:
                return []  # nothing new: the retry waits for its backoff
            # A new fill arrived during the backoff: it must not wait, and the retry goes with it.
            self.backoff_until = self._backoff_open = None
        retry = self.failures > 0
        level = 1 + self.failures + self.reprices
        key = self._last_key = next(self._keys)
        cap = math.inf
        if self._reprice_cap is not None and self._reprice_cap[0] is side:
            cap = self._reprice_cap[1]
        self._reprice_cap = None
        self.orders[key] = Order(key, side, plan.qty, level, deadline_cap=cap)
        return [Send(key, side, plan.qty, level, plan.residual, retry)]

    def unpriced_send(self, key: int, now: float) -> list[Action]:
        """`Send(key)` found no price on the hedge book (none yet, the side pulled): nothing went out
        and it is no attempt. Wait for `priced`, within `timeout_s` of the first such send."""
        o = self.orders.pop(key, None)
        if o is None:
            return []
        if o.deadline_cap < math.inf:
            self._reprice_cap = (o.side, o.deadline_cap)  # the resend after `priced` keeps the chain's deadline
        self.unpriced = o.side
        if self._unpriced_side is not o.side:  # the first send of this exposure that found no price
            self._unpriced_side, self._unpriced_until = o.side, now + self.timeout_s
        return [Forget(key, "no price on the hedge book")]

    def priced(self, now: float) -> list[Action]:
        """The hedge book has a price for the side `unpriced` waits for: the next exposure sends (the
        deadline stays armed until that send goes out)."""
        self.unpriced = None
        return []

    def placed(self, key: int, now: float) -> list[Action]:
        o = self.orders.get(key)
        if o is None or o.phase is not Phase.PLACING:
            return []  # settled before the reply (a fast fill): nothing to arm
        o.phase = Phase.RESTING
        if o.side is self._unpriced_side:
            self._end_unpriced()  # a priced hedge of that side went out: no longer waiting for a price
        o.deadline_at = min(now + self.timeout_s, o.deadline_cap)
        if 0 < self.reprice_after_s < self.timeout_s and now + self.reprice_after_s < o.deadline_at:
            o.reprice_at = now + self.reprice_after_s
        return []

    def send_failed(self, key: int, kind: ErrorKind, now: float, detail: str = "",
                    retry_after_s: float = 0.0) -> list[Action]:
        o = self.orders.get(key)
        self.last_error = f"{kind}: {detail}" if detail else str(kind)
        if o is None:
            return []
        out: list[Action] = [Failure(str(kind))]
        if kind is ErrorKind.AMBIGUOUS:
            o.phase = Phase.ESTABLISHING
            o.lookup_at = now + self.establish_s
            return out
        del self.orders[key]
        out.append(Forget(key, f"send failed: {kind}"))
        if kind in _FATAL:
            self.failed = f"{kind}: {detail}" if detail else str(kind)
            return [*out, GiveUp(self.failed)]
        return out + self._attempt_used(key, now, retry_after_s)

    def observed(self, key: int, counted: Decimal, qty: Decimal, terminal: bool, has_id: bool,
                 now: float) -> list[Action]:
        """The ledger's record of the order (cumulative fill, size, final or not)."""
        o = self.orders.get(key)
        if o is None:
            return []  # a late echo of an order already settled; the ledger has counted it
        filled_now = counted - o.counted
        o.counted = counted
        o.has_id = o.has_id or has_id
        if qty > 0 and qty != o.qty:
            o.qty = qty
        if not terminal and counted < o.qty:
            return self._modify_in_flight(o, filled_now, now)
        del self.orders[key]
        complete = counted >= o.qty
        out: list[Action] = [Settled(key, complete)]
        if complete:
            self.failures = self.reprices = 0
            self.last_error = None
            return out
        if o.withdrawn:
            return out  # cancelled to net a fill on the other side: not a failed attempt
        if o.repriced:
            # Cancelled to reprice: the remainder goes out again at the next level (the plan sends it),
            # within the deadline of the order it replaces, so reprices never outlast one attempt.
            self._reprice_cap = (o.side, o.deadline_at)
            return out
        return out + self._attempt_used(key, now, 0.0)

    def modified(self, key: int, ok: bool, now: float) -> list[Action]:
        o = self.orders.get(key)
        if o is None or ok:
            return []
        # Refused (often: the order just filled or ended): withdraw it; the plan re-sends what is needed.
        o.reducing = None
        if o.phase is not Phase.RESTING:
            return []
        o.phase, o.withdrawn = Phase.CANCELLING, True
        return [Failure("modify_failed"), Cancel(key)]

    def cancel_answered(self, key: int, now: float) -> list[Action]:
        """Cancel answered (ok, "not found", "already filled", timeout): establish the truth."""
        o = self.orders.get(key)
        if o is None or o.phase is not Phase.CANCELLING:
            return []
        o.phase = Phase.ESTABLISHING
        o.lookup_at = now + self.establish_s
        return []

    def looked_up(self, key: int, result: LookupResult, now: float) -> list[Action]:
        """A REST lookup that did not settle the order (a settling one arrives as `observed`)."""
        o = self.orders.get(key)
        if o is None:
            return []
        o.lookups += 1
        if result is LookupResult.UNKNOWN and o.lookups >= self.max_lookups:
            # Asked `max_lookups` times, `establish_s` apart, with the stream silent: it never landed.
            del self.orders[key]
            return [Forget(key, "unknown at venue"), Settled(key, False), *self._attempt_used(key, now, 0.0)]
        if o.lookups >= self.max_lookups:
            self.failed = f"hedge order {key} could not be confirmed cancelled or filled"
            return [GiveUp(self.failed)]
        if result is LookupResult.LIVE:
            o.phase = Phase.CANCELLING
            return [Cancel(key)]  # the cancel did not land yet: ask again
        o.lookup_at = now + self.establish_s  # lookup failed or lagging: the stream gets another chance
        return []

    def tick(self, now: float) -> list[Action]:
        """Timers: backoff over, reprice due, deadline passed, time to ask REST."""
        out: list[Action] = []
        if self.backoff_until is not None and now >= self.backoff_until:
            self.backoff_until = self._backoff_open = None
        if self.unpriced is not None and now >= self._unpriced_until:
            # No price for a whole hedge timeout: no attempt can help (each would wait the same), and
            # waiting longer leaves the fill naked past the hedge budget. The failure path takes over.
            self._end_unpriced()
            self.failed = f"no price on the hedge book for {self.timeout_s:g}s"
            return [*out, Failure("no_price"), GiveUp(self.failed)]
        for o in list(self.orders.values()):
            if o.reducing is not None and now >= o.mod_until:
                o.reducing, o.mod_until = None, math.inf  # landed long ago
            if o.phase is Phase.RESTING and now >= o.deadline_at:
                o.phase, o.deadline_at, o.reprice_at = Phase.CANCELLING, math.inf, math.inf
                out += [Failure("deadline"), Cancel(o.key)]
            elif o.phase is Phase.RESTING and now >= o.reprice_at and o.reducing is None:
                out += self._reprice(o, now)
            elif o.phase is Phase.ESTABLISHING and now >= o.lookup_at:
                o.lookup_at = math.inf
                out.append(Lookup(o.key))
        return out

    def recovered(self, open_delta: Decimal) -> None:
        """The failure path ran and left `open_delta` (within tolerance): start over, but do not
        retry that same delta in a loop; the next change of exposure is new work."""
        self.orders.clear()
        self.failures = self.reprices = 0
        self.backoff_until = self._backoff_open = None
        self.failed = None
        self.last_error = None
        self.stuck = open_delta
        self._reprice_cap = None
        self._end_unpriced()

    # ---- internals ------------------------------------------------------------------------

    def _end_unpriced(self) -> None:
        self.unpriced, self._unpriced_side, self._unpriced_until = None, None, math.inf

    def _reduce(self, live_side: Side, excess: Decimal, now: float) -> list[Action]:
        """Live hedges on `live_side` are `excess` more than the exposure needs: shrink them."""
        live = [o for o in self.orders.values() if o.side is live_side]
        for o in live:  # what is already on its way out counts
            if o.phase in (Phase.CANCELLING, Phase.ESTABLISHING) or o.withdrawn:
                excess -= o.remaining
            elif o.reducing is not None:
                excess -= o.remaining - o.reducing
        out: list[Action] = []
        for o in sorted(live, key=lambda o: -o.key):  # newest first: it covers the newest fills
            if excess <= 0:
                break
            if o.phase is not Phase.RESTING or not o.has_id:
                continue  # cannot be touched yet; its reply or settlement re-plans
            # With a downward modify in flight, the order will rest with `reducing` once it lands (the
            # venue applies modifies in order, the last one wins, and a modify sets the new remaining:
            # a fill meanwhile is added back on top). Shrink from there now: waiting for it to land
            # leaves the excess live for the venue's modify delay, and a fill then over-hedges.
            left = o.remaining if o.reducing is None else o.reducing
            if excess >= left:
                excess -= left
                out.append(self._withdraw(o))
            else:
                out.append(self._modify(o, left - excess, now))
                excess = ZERO
        return out

    def _modify(self, o: Order, remaining: Decimal, now: float) -> Modify:
        """Shrink a resting order to `remaining` (netting only; a reprice cancels, see `tick`)."""
        o.reducing, o.mod_qty = remaining, o.qty
        o.mod_until = now + self.establish_s
        return Modify(o.key, o.level, remaining)

    def _reprice(self, o: Order, now: float) -> list[Action]:
        """Reprice by a cancel and a new order for what is left, one level on; never by a modify: a
        modify restates the size, and what fills while it is on its way is added back on top (an
        aggressive reprice then crosses at once, before any correction lands: DST seed 3197). A
        cancel only ever removes what is left, whatever the venue's modify semantics turn out to be."""
        if not o.has_id:  # no venue index to cancel by yet: try again later
            nxt = now + self.reprice_after_s
            o.reprice_at = nxt if nxt < o.deadline_at else math.inf
            return []
        self.reprices += 1
        o.phase, o.repriced, o.reprice_at = Phase.CANCELLING, True, math.inf
        return [Cancel(o.key)]

    def _withdraw(self, o: Order) -> Cancel:
        """Cancel on purpose (netting): its remainder is not a failed attempt."""
        o.phase, o.withdrawn, o.deadline_at, o.reprice_at = Phase.CANCELLING, True, math.inf, math.inf
        return Cancel(o.key)

    def _modify_in_flight(self, o: Order, filled_now: Decimal, now: float) -> list[Action]:
        """A live order changed while a modify of it is in flight."""
        if o.reducing is None:
            return []
        if o.qty != o.mod_qty:
            o.reducing, o.mod_until = None, math.inf  # it landed: its new size shows
            return []
        if filled_now <= 0 or o.phase is not Phase.RESTING:
            return []
        # Filled while the modify is on its way: the venue sets the new remaining when it lands, so
        # this fill would be added back on top (an over-hedge for a trader to take). Take it off now;
        # the venue applies modifies in order and the last one wins.
        left = o.reducing - filled_now
        if left <= 0:
            return [self._withdraw(o)]
        return [self._modify(o, left, now)]

    def _attempt_used(self, key: int, now: float, retry_after_s: float) -> list[Action]:
        if key <= self._round_fence:
            # Live when an earlier failure was counted: concurrent orders failing under the same
            # market condition (a pulled book, a margin reject) are one attempt, not one each.
            if self.backoff_until is not None and retry_after_s:
                self.backoff_until = max(self.backoff_until, now + retry_after_s)
            return []
        self._round_fence = self._last_key
        self.failures += 1
        self._reprice_cap = None  # a new attempt: its own deadline
        if self.failures < self.max_attempts:
            pause = Backoff(self.backoff_initial_s, self.backoff_max_s).delay(self.failures - 1)
            self.backoff_until = now + max(pause, retry_after_s)
            self._backoff_open = None
        return []
