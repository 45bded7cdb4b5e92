"""The reconciler service: brings the ledger in line with both venues without ever losing,
undoing or doubling a fill that the live streams deliver meanwhile.

A venue snapshot is a picture of one past instant while the streams keep moving. The rule
(docs/ledger.md, "Snapshot rule") for one pass, per venue:

1. once the venue's stream is not re-syncing, remember the ledger's mark for the venue (bumped
   by every change to its orders or fills) and which of its orders the ledger considers live;
2. read positions, then open orders, then ask each live order the venue did not list (PENDING
   ones included) for its own status (`order_status`), then read positions again;
3. apply, in one synchronous step (no checkpoint between the check and the change):
   order answers always go through the ledger's exactly-once path (a cumulative fill can
   only raise what is counted, so an answer older or newer than the stream is harmless);
   a leg's position is adjusted only if its mark did not move and both position reads
   agree (the stream delivered nothing during the round trip and the venue did not trade),
   and all its status queries were answered. Otherwise the leg is held and the pass retried
   (a periodic one only for suspected drift or an unanswered query, see `reconcile`).
4. a periodic pass adjusts a leg only when the same drift was seen by the pass before it,
   `confirm_s` earlier: a fill still on its way in either direction (a lagging stream or a
   lagging REST view) makes drift that disappears, a missed message makes drift that stays.
   An "unknown" answer for an order the venue had acknowledged is confirmed the same way.

Passes run one at a time (a lock); this service runs them at start, when the ledger asks
(`reconcile_requested`, waited on), after a venue re-sync, on its timer, and for whoever
calls `reconcile()` (the sweep before each cycle). Nothing here blocks the hedge executor:
the ledger is only touched by synchronous calls, so a fill during a pass is hedged at once.

A silent stream is probed: Extended's account stream has no application heartbeat, so a socket
that stays open but sends nothing (a frozen feed) looks like a quiet market and the timer alone
would find its fills up to `interval_s` late, beyond the hedge budget. While maker orders are
live and the ledger heard nothing about that venue's orders for a whole `probe_s`, each is asked
for its own status and a newer answer applied (docs/ledger.md, "Silent streams").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

import trio
from loguru import logger
from trio_util import AsyncValue, wait_any

from hedged.ledger import Leg, ReconcileKind, ReconcilePlan, plan_reconciliation
from hedged.ledger.orders import OrderRecord
from hedged.strategy.backfill import backfill
from hedged.strategy.ports import Alert
from hedged.venues.base import OrderStatus, OrderUpdate, PositionSnapshot, VenueClient, VenueError

_CALL_S = 10.0  # bound on one pass's REST calls to one venue


class OrphansNotCancelled(VenueError):
    """Orders of an earlier run could not be confirmed cancelled: no hedge or flatten decision
    may be taken on a picture that still has them working."""


@dataclass(slots=True)
class _Read:
    client: VenueClient
    mark: int
    live: list[OrderRecord]
    first: list[PositionSnapshot]
    orders: list[OrderUpdate]
    statuses: dict[str, OrderUpdate | None]
    asked_pending: set[str]  # orders still PENDING when their query went out: "unknown" proves nothing
    last: list[PositionSnapshot]


def _size(snaps: Sequence[PositionSnapshot], market: str) -> Decimal:
    return sum((s.size for s in snaps if s.market == market), Decimal(0))


class Reconciler:
    def __init__(self, *, ledger, maker: VenueClient, hedge: VenueClient, interval_s: float = 30.0,
                 hedge_busy: AsyncValue[bool] | None = None, resynced: Sequence[AsyncValue[bool]] = (),
                 confirm_s: float = 2.0, retries: int = 3, call_s: float = _CALL_S, orphan_confirm_s: float = 10.0,
                 alert: Alert | None = None, orphan_policy: str = "cancel", min_gap_s: float = 1.0,
                 probe_s: float | None = 5.0) -> None:
        self.ledger = ledger  # hedged.ledger.Ledger
        self.clients = (maker, hedge)
        self.interval_s = interval_s
        self.hedge_busy = hedge_busy  # timer passes wait for a quiet moment (fewer held legs), nothing else does
        self.resynced = tuple(resynced)  # venue "synced" flags (maker, hedge): a False -> True edge is a re-sync
        self._synced = dict(zip((c.venue for c in self.clients), self.resynced))
        self.confirm_s = confirm_s
        self.retries = retries
        self.call_s = call_s
        self.orphan_confirm_s = orphan_confirm_s
        self.alert = alert
        self.orphan_policy = orphan_policy  # RiskConfig.orphan_orders: "cancel" | "adopt"
        self.min_gap_s = min_gap_s  # between two passes of the service
        self.probe_s = probe_s  # silent-stream probe of live maker orders (None: off)
        self.probed_fills = 0  # fills found by the probe that the stream had not delivered
        self.passes: AsyncValue[int] = AsyncValue(0)  # completed passes
        self.failed = 0  # passes of the service that a venue error or timeout ended
        self.last_plan: ReconcilePlan | None = None
        self._lock = trio.Lock()
        self._suspect: dict[Leg, Decimal] = {}  # drift seen by the last periodic pass, awaiting confirmation
        self._unknown: dict[str, float] = {}  # acknowledged orders a periodic lookup called unknown: since when
        self._resync_due: AsyncValue[int] = AsyncValue(0)

    # ---- one pass -------------------------------------------------------------------------

    async def reconcile(self, kind: ReconcileKind = ReconcileKind.PERIODIC) -> ReconcilePlan:
        """One fenced pass (retried while a venue moves under it); returns the plan applied last."""
        async with self._lock:
            plan = await self._pass(kind)
            for _ in range(self.retries):
                if not plan.held:
                    break
                if kind is ReconcileKind.PERIODIC and not self._suspect and not plan.unanswered:
                    # Held only by the fence: that venue's stream is alive and delivering, and the
                    # next pass looks again. Retrying at once, in the middle of hedging, is mostly held
                    # again and spends the hedge venue's REST budget that its re-syncs need (DST seed 10).
                    break
                logger.debug("reconcile_held kind={} legs={} retrying", kind, ",".join(map(str, plan.held)))
                await trio.sleep(self.confirm_s if self._suspect or self._unknown else 0.05)
                plan = await self._pass(kind)
            self.last_plan = plan
            self.passes.value += 1
            return plan

    async def _pass(self, kind: ReconcileKind) -> ReconcilePlan:
        reads: list[_Read] = []
        try:
            with trio.fail_after(self.call_s):
                async with trio.open_nursery() as n:  # both venues at once: a pass costs one round trip each
                    for client in self.clients:
                        n.start_soon(self._read, client, reads, kind)
        except* (VenueError, trio.TooSlowError) as group:
            raise group.exceptions[0] from None
        # From here to the ledger call there is no checkpoint: the fence is checked at the instant of use.
        adjust: list[Leg] = []
        positions: list[PositionSnapshot] = []
        orders: list[OrderUpdate] = []
        statuses: dict[str, OrderUpdate | None] = {}
        asked_pending: set[str] = set()
        for r in reads:
            leg = next(leg for leg in self.ledger.legs() if leg.venue is r.client.venue)
            positions += r.last
            orders += r.orders
            statuses.update(r.statuses)
            asked_pending |= r.asked_pending
            moved = self.ledger.mark(r.client.venue) != r.mark
            traded = _size(r.first, leg.market) != _size(r.last, leg.market)
            if moved or traded:
                logger.debug("reconcile_fence venue={} stream_moved={} venue_traded={}", r.client.venue, moved, traded)
            else:
                adjust.append(leg)
        if kind is ReconcileKind.PERIODIC:
            self._lagging(statuses, asked_pending)
            adjust = self._confirmed(adjust, positions, orders, statuses, asked_pending)
        plan = self.ledger.reconcile(positions, orders, kind=kind, statuses=statuses, adjust=adjust,
                                     asked_pending=asked_pending)
        if not plan.clean:
            logger.warning("reconcile_adjusted kind={} adjustments={} adopted={} closed={} held={}", kind,
                           len(plan.adjustments), len(plan.adopt), len(plan.close), len(plan.held))
        return plan

    def _lagging(self, statuses: dict[str, OrderUpdate | None], asked_pending: set[str]) -> None:
        """An order the venue acknowledged and now calls unknown is, at first, a REST view lagging the
        venue's engine (Extended answers 404 by id for a while after acceptance), not proof it is gone:
        its answer is withheld (the order stays live, its leg held) until the same answer comes
        `confirm_s` later. Closing it at once would book its fill as `fill_after_reconcile_close`."""
        now = trio.current_time()
        for key in [k for k in self._unknown if statuses.get(k, ...) is not None]:
            del self._unknown[key]  # answered, or no longer asked about
        for key, answer in list(statuses.items()):
            if answer is None and key not in asked_pending:
                since = self._unknown.setdefault(key, now)
                if now - since < self.confirm_s:
                    del statuses[key]
                    logger.info("reconcile_unknown_unconfirmed order={} confirm_s={}", key, self.confirm_s)
                else:
                    del self._unknown[key]  # confirmed: the venue does not know it, the close stands

    def _confirmed(self, adjust: list[Leg], positions, orders, statuses, asked_pending) -> list[Leg]:
        """Legs whose drift the previous pass saw too (same amount); the others wait one more pass."""
        dry = plan_reconciliation(self.ledger.core, positions, orders, kind=ReconcileKind.PERIODIC,
                                  statuses=statuses, adjust=adjust, asked_pending=asked_pending)
        drift = {a.leg: a.delta for a in dry.adjustments}
        confirmed = [leg for leg in adjust if leg not in drift or self._suspect.get(leg) == drift[leg]]
        self._suspect = {leg: d for leg, d in drift.items() if leg not in confirmed}
        for leg, d in self._suspect.items():
            logger.info("reconcile_drift_unconfirmed leg={} delta={} confirm_s={}", leg, d, self.confirm_s)
        return confirmed

    async def _read(self, client: VenueClient, out: list[_Read], kind: ReconcileKind) -> None:
        venue = client.venue
        synced = self._synced.get(venue)
        if synced is not None and not synced.value:
            # Re-syncing: the stream is about to restate that venue's orders (a snapshot now would be
            # held), and the re-sync needs the venue's REST budget (Lighter Standard: 60 requests a
            # minute, hedges included) to let hedges out again. Its end wakes a pass anyway.
            logger.debug("reconcile_waits_for_resync venue={}", venue)
            await synced.wait_value(True)
        mark = self.ledger.mark(venue)
        live = self.ledger.live_orders(venue)
        first = await client.positions()
        orders = await client.open_orders()
        listed_ids = {u.order_id for u in orders if u.order_id} | {("c", u.client_id) for u in orders if u.client_id}
        statuses: dict[str, OrderUpdate | None] = {}
        asked_pending: set[str] = set()
        for rec in live:
            if rec.order_id in listed_ids or ("c", rec.client_id) in listed_ids or rec.client_id is None:
                continue
            # PENDING ones too: a silent stream may have withheld the acknowledgement of an order that
            # has filled since, and only its own answer tells that fill from drift (DST seeds 27, 42, 100).
            if rec.status is OrderStatus.PENDING:
                # Its acknowledgement may land before the pass applies: an "unknown" asked now was
                # asked before the venue accepted it and must not close it then (it would rest, unhedged).
                asked_pending.add(rec.key)
            try:
                statuses[rec.key] = await client.order_status(rec.client_id)
            except VenueError as exc:  # a failed query is never "flat": the order stays as it is
                logger.warning("reconcile_status_failed venue={} client_id={} error={}", venue, rec.client_id, exc)
        last = await client.positions()
        out.append(_Read(client, mark, live, first, orders, statuses, asked_pending, last))

    # ---- back-fill ------------------------------------------------------------------------

    async def backfill(self) -> int:
        """Fills the streams never delivered (made while down, or during a disconnect), from each
        venue's trade history; the ledger skips trade ids it already holds. Returns new trades."""
        return await backfill(self.ledger, self.clients, call_s=self.call_s)

    # ---- restart --------------------------------------------------------------------------

    async def startup(self, kind: ReconcileKind) -> ReconcilePlan:
        """Before anything may hedge or flatten: orphans cancelled and confirmed gone (or adopted),
        fills made while down back-filled, then one fenced reconciliation."""
        orphans: list[tuple[VenueClient, OrderUpdate]] = []
        for client in self.clients:
            with trio.fail_after(self.call_s):
                orphans += [(client, u) for u in await client.open_orders()]
        if orphans and self.orphan_policy == "cancel":
            logger.warning("orphan_orders_cancelled count={}", len(orphans))
            for client in self.clients:
                with trio.fail_after(self.call_s):
                    await client.cancel_all()
            await self._confirm_gone(orphans)
            if self.alert is not None:
                await self.alert("orphan_orders", "warning", count=len(orphans), action="cancelled")
        elif orphans:
            logger.warning("orphan_orders_adopted count={}", len(orphans))
        if kind is not ReconcileKind.COLD:
            await self.backfill()
        plan = await self.reconcile(kind)
        logger.info("startup_reconciled kind={} net_exposure={} maker={} hedge={}", kind, plan.net_exposure,
                    self.ledger.position(self.clients[0].venue), self.ledger.position(self.clients[1].venue))
        return plan

    async def _confirm_gone(self, orphans: list[tuple[VenueClient, OrderUpdate]]) -> None:
        """`cancel_all` returns on acknowledgement, not effect: wait for each orphan's terminal
        state, from the stream (the ledger) or from its own status, within `orphan_confirm_s`."""
        pending = list(orphans)
        with trio.move_on_after(self.orphan_confirm_s):
            while pending:
                with trio.move_on_after(min(1.0, self.orphan_confirm_s / 4)):
                    await self.ledger.version.wait_value(lambda _: not any(not self._gone(c, u) for c, u in pending))
                still = []
                for client, u in pending:
                    if self._gone(client, u):
                        continue
                    answer = await self._status(client, u)
                    if answer is not None and not answer.status.is_terminal:
                        still.append((client, u))
                        try:  # not cancelled yet: ask again, by id
                            await client.cancel(order_id=u.order_id, client_id=u.client_id)
                        except VenueError as exc:
                            logger.info("orphan_cancel_answer venue={} client_id={} error={}", client.venue,
                                        u.client_id, exc)
                    elif answer is not None and self.ledger.order(client.venue, u.client_id) is not None:
                        self.ledger.apply(answer)  # its final fills, through the exactly-once path
                pending = still
        if pending:
            names = ", ".join(f"{c.venue}:{u.client_id or u.order_id}" for c, u in pending)
            if self.alert is not None:
                await self.alert("orphan_orders", "critical", count=len(pending), action="unconfirmed", orders=names)
            raise OrphansNotCancelled(pending[0][0].venue, f"orphan orders not confirmed cancelled: {names}")
        logger.info("orphan_orders_confirmed_gone count={}", len(orphans))

    def _gone(self, client: VenueClient, u: OrderUpdate) -> bool:
        rec = self.ledger.order(client.venue, u.client_id, order_id=u.order_id)
        return rec is not None and rec.status.is_terminal

    async def _status(self, client: VenueClient, u: OrderUpdate) -> OrderUpdate | None:
        if u.client_id is None:
            return None
        try:
            with trio.fail_after(self.call_s):
                return await client.order_status(u.client_id)
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("orphan_status_failed venue={} client_id={} error={!r}", client.venue, u.client_id, exc)
            return u  # unknown: treat as still live

    # ---- the service ----------------------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile when asked, after a re-sync and on the timer; never polls."""
        async with trio.open_nursery() as n:
            for flag in self.resynced:
                n.start_soon(self._watch_resync, flag)
            if self.probe_s is not None:
                n.start_soon(self._probe_silent, self.clients[0])
            task_status.started()
            next_at = trio.current_time() + self.interval_s
            failures = 0
            while True:
                timer = False
                soon = self._suspect or self._unknown
                wake_at = next_at if not soon else min(next_at, trio.current_time() + self.confirm_s)
                with trio.move_on_at(wake_at) as scope:
                    await wait_any(partial(self.ledger.reconcile_requested.wait_value, True),
                                   partial(self._resync_due.wait_value, lambda v: v > 0))
                if scope.cancelled_caught:
                    timer = True
                    if self.hedge_busy is not None and not self._suspect:
                        # A quiet moment holds fewer legs; bounded, so a stuck episode cannot starve it.
                        with trio.move_on_after(self.interval_s):
                            await self.hedge_busy.wait_value(False)
                resync = self._resync_due.value > 0
                self._resync_due.value = 0
                why = "resync" if resync else "timer" if timer else "requested"
                began = trio.current_time()
                gap = self.min_gap_s
                try:
                    if resync:
                        await self.backfill()
                    await self.reconcile(ReconcileKind.PERIODIC)
                    failures = 0
                except (VenueError, trio.TooSlowError) as exc:
                    failures += 1
                    self.failed += 1
                    gap = min(self.interval_s, self.min_gap_s * 2 ** failures)  # a failing venue: back off
                    logger.warning("periodic_reconcile_failed why={} error={!r} retry_in_s={}", why, exc, gap)
                if timer:
                    next_at = trio.current_time() + self.interval_s
                # Pacing, not polling: an anomaly raised on every frame must not turn into a pass per
                # frame against the venues' rate limits.
                await trio.sleep_until(began + gap)

    async def _watch_resync(self, flag: AsyncValue[bool]) -> None:
        while True:
            await flag.wait_transition(lambda new, old: bool(new) and not old)
            self._resync_due.value += 1

    async def _probe_silent(self, client: VenueClient) -> None:
        """Ask live orders of `client` for their status once its stream said nothing about them
        for a whole `probe_s`. A timer on the venue, not a wait for our own state: the ledger's mark
        is what the stream delivered, and only the venue can say what it did not deliver."""
        venue = client.venue
        seen = self.ledger.mark(venue)
        while True:
            await trio.sleep(self.probe_s)
            if self.ledger.mark(venue) != seen:  # the stream spoke: it is alive
                seen = self.ledger.mark(venue)
                continue
            for rec in [r for r in self.ledger.live_orders(venue) if r.client_id is not None]:
                try:
                    with trio.fail_after(self.call_s):
                        answer = await client.order_status(rec.client_id)
                except (VenueError, trio.TooSlowError) as exc:
                    logger.info("stream_probe_failed venue={} client_id={} error={!r}", venue, rec.client_id, exc)
                    continue
                if answer is None or answer.filled_qty < rec.cum:
                    continue  # not at the venue yet, or a REST view older than what the ledger holds
                before = rec.counted
                self.ledger.apply(answer)  # the exactly-once path: nothing counted twice
                if rec.counted > before:
                    self.probed_fills += 1
                    logger.warning("stream_silent_fill venue={} client_id={} qty={} silent_s={}", venue,
                                   rec.client_id, rec.counted - before, self.probe_s)
            seen = self.ledger.mark(venue)  # what the probe itself applied is not the stream speaking
