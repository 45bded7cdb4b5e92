"""Lighter account side: stream frames (and re-syncs) become base.py events (Extended's is account.py too).

`AccountEvents` is the stream's handler: the session's hooks (`streams.py`) hand it every frame and the
re-sync. It is given what it reads (the client's registry, spec, REST helpers and queries) and owns only
its counters; it never calls the order-sending side.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger
from trio_util import AsyncValue

from hedged.venues.base import OrderUpdate, PositionSnapshot, TopOfBook, Venue, VenueEvent
from hedged.venues.lighter import markets, normalize, wire
from hedged.venues.lighter.book import BookSync
from hedged.venues.lighter.ids import OrderRegistry
from hedged.venues.lighter.nonces import NonceManager
from hedged.venues.lighter.rest import hedge_path
from hedged.venues.orderstate import Verdict, judge, remembered

if TYPE_CHECKING:
    from hedged.venues.lighter.rest import LighterRest
    from hedged.venues.lighter.settings import LighterSettings

V = Venue.LIGHTER


class EventsClosed(RuntimeError):
    """`run()` ends with this when the receiver of its events channel was closed."""




class AccountEvents:
    """Book, orders, trades, positions and tx frames -> `VenueEvent`s on the client's events channel."""

    def __init__(self, *, settings: LighterSettings, registry: OrderRegistry, top_of_book: AsyncValue[TopOfBook | None],
                 rest: LighterRest, nonces: NonceManager, wall: Callable[[], float],
                 spec: Callable[[], markets.MarketSpec], private: Callable[[Callable[[str], Awaitable[Any]]], Awaitable[Any]],
                 positions: Callable[[], Awaitable[list[PositionSnapshot]]],
                 open_orders: Callable[[], Awaitable[list[OrderUpdate]]]) -> None:
        self.settings, self.registry, self.top_of_book = settings, registry, top_of_book
        self._rest, self._nonces, self._wall = rest, nonces, wall
        self._spec, self._private, self._positions, self._open_orders = spec, private, positions, open_orders
        self.events: trio.MemorySendChannel[VenueEvent] | None = None  # set by each run() of the client
        self.dropped_updates = 0
        self.stale_updates = 0
        self.regressed_updates = 0
        self.order_frames: AsyncValue[int] = AsyncValue(0)  # order frames handled (a live order may have ended)

    def to_update(self, o: wire.WireOrder) -> OrderUpdate | None:
        tracked = self.registry.orders.get(o.client_order_index)
        client_id = tracked.client_id if tracked else self.registry.client_id_for(o.client_order_index)
        try:
            update = normalize.order_update(o, self._spec().symbol, client_id, tracked.last if tracked else None)
        except ValueError as exc:
            self.dropped_updates += 1
            logger.warning("lighter_order_update_dropped order_index={} error={}", o.order_index, exc)
            return None
        last = tracked.last if tracked else None
        verdict = judge(update, last)  # hedged/venues/orderstate.py, the same judgement as Extended's
        if verdict is Verdict.STALE:
            # A reordered or late frame: never let an order go back in time (fills are cumulative).
            self.stale_updates += 1
            return last
        if verdict is Verdict.REGRESSED:
            # Forwarded as the venue said it; remembered at the highest fill (a repeat is then stale).
            self.regressed_updates += 1
        # A duplicate is passed through too: a REST snapshot lists every open order, and the ledger absorbs it.
        self.registry.observe(o.client_order_index, o.order_index, remembered(update, last, verdict))
        return update

    def now_ms(self) -> int:
        return int(self._wall() * 1000)

    async def _emit(self, event: VenueEvent) -> None:
        if self.events is None:
            return
        try:
            await self.events.send(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The consumer is gone: stop, rather than let the stream take it for a dropped socket.
            raise EventsClosed("the events channel was closed by its consumer") from None

    def on_book(self, sync: BookSync) -> None:
        if not sync.live:
            self.top_of_book.value = None
            return
        bid, ask = sync.book.best_bid(), sync.book.best_ask()
        self.top_of_book.value = TopOfBook(
            V, self._spec().symbol, bid[0] if bid else None, bid[1] if bid else Decimal(0),
            ask[0] if ask else None, ask[1] if ask else Decimal(0), trio.current_time())  # fmt: skip

    async def on_orders(self, frame: wire.OrdersFrame) -> None:
        at = trio.current_time()  # read off the socket in this same scheduler step (no checkpoint since)
        for market, orders in frame.orders.items():
            if market != str(self._spec().market_id):
                continue
            for o in orders:
                if (update := self.to_update(o)) is not None:
                    await self._emit(replace(update, received_at=at))
        self.order_frames.value += 1

    async def let_in_flight_settle(self, within_s: float) -> None:
        """Until every order of ours that was sent has had its final frame, at most `within_s`."""
        with trio.move_on_after(within_s):
            while any(t.sent for t in self.registry.live()):
                seen = self.order_frames.value
                await self.order_frames.wait_value(lambda n: n != seen)

    async def on_trades(self, frame: wire.TradesFrame) -> None:
        at = trio.current_time()  # as in on_orders
        spec = self._spec()
        trades = frame.trades if isinstance(frame.trades, list) else frame.trades.get(str(spec.market_id), [])
        for t in trades:
            if t.market_id != spec.market_id:
                continue
            ours = t.bid_client_id if t.bid_account_id == self.settings.account_index else t.ask_client_id
            try:
                trade = normalize.trade_event(t, spec.symbol, self.settings.account_index, self.registry.client_id_for(ours))
            except ValueError as exc:
                self.dropped_updates += 1
                logger.warning("lighter_trade_dropped trade_id={} error={}", t.trade_id, exc)
                continue
            if trade is not None:
                await self._emit(replace(trade, received_at=at))

    async def on_positions(self, frame: wire.PositionsFrame) -> None:
        spec = self._spec()
        p = frame.positions.get(str(spec.market_id))
        if p is None:
            return  # absence is not proof of flat; the re-sync reads /account
        try:
            await self._emit(normalize.position_snapshot(p, spec.symbol, self.now_ms()))
        except ValueError as exc:
            self.dropped_updates += 1
            logger.warning("lighter_position_dropped error={}", exc)

    async def on_funding(self, frame: wire.AccountAllFrame) -> None:
        """Funding payments of `account_all` (the snapshot restates all so far: the ledger dedupes by id)."""
        spec = self._spec()
        for f in frame.funding_histories.get(str(spec.market_id), []):
            try:
                await self._emit(normalize.funding_payment(f, spec.symbol))
            except ValueError as exc:
                self.dropped_updates += 1
                logger.warning("lighter_funding_dropped funding_id={} error={}", f.funding_id, exc)

    async def on_txs(self, frame: wire.TxFrame) -> None:
        for tx in frame.txs:
            if tx.status == 0 and tx.api_key_index in self.settings.key_indexes:
                # A sequencer rejection may leave the nonce unconsumed: refetch before the next send.
                logger.warning("lighter_tx_failed tx_hash={} key={} nonce={}", tx.hash, tx.api_key_index, tx.nonce)
                self._nonces.invalidate(tx.api_key_index)

    async def resync(self) -> None:
        """After (re)subscribing: positions, open orders, and every order we still consider live.
        No transaction goes out until this is done, so its reads are on the hedge's path (priority)."""
        with hedge_path():
            await self._resync()

    async def _resync(self) -> None:
        for snapshot in await self._positions():
            await self._emit(snapshot)
        open_now = await self._open_orders()
        for update in open_now:
            await self._emit(update)
        seen = {u.client_id for u in open_now}
        missing = [t.coi for t in self.registry.live() if t.client_id not in seen]
        if missing:
            found = await self._private(
                lambda t: self._rest.orders_by_client_index(self.settings.account_index, missing, t)
            )
            for o in found:
                if (update := self.to_update(o)) is not None:
                    await self._emit(update)
        logger.debug("lighter_resynced open_orders={} looked_up={}", len(open_now), len(missing))
