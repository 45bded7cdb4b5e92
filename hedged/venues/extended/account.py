"""Extended account stream, pure core: seq continuity, order/trade de-duplication, frames -> events.

No I/O and no Trio: `AccountCore.handle(message)` takes one raw frame and returns the venue events it
yields plus whether the stream must reconnect. The Trio loops live in streams.py.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from hedged.venues.base import OrderStatus, OrderUpdate, StreamStats, VenueEvent
from hedged.venues.extended import wire
from hedged.venues.orderstate import Verdict, judge, remembered

__all__ = ["AccountCore", "OrderTracker", "SeqCheck", "StreamStats", "TradeDedup"]


class SeqCheck:
    """Per-connection `seq` continuity: the first frame sets the base, then +1 each."""

    def __init__(self) -> None:
        self.last: int | None = None

    def reset(self) -> None:
        self.last = None

    def check(self, seq: int) -> str:
        """'ok', 'duplicate' (seq already seen) or 'gap'."""
        if self.last is not None:
            if seq <= self.last:
                return "duplicate"
            if seq != self.last + 1:
                return "gap"
        self.last = seq
        return "ok"


def _key(update: OrderUpdate) -> str:
    return update.client_id if update.client_id else f"#{update.order_id}"


class OrderTracker:
    """The adapter's view of its orders: filters stream noise, remembers what is live.

    Updates are judged by `orderstate.judge` (the same judgement as Lighter's): news and
    regressions are forwarded, stale and duplicate updates dropped, and what is held is
    `orderstate.remembered` (the highest fill; a finished order stays finished). Terminal
    orders are remembered in a bounded LRU so late echoes stay filtered.
    """

    def __init__(self, market: str, *, done_capacity: int = 10_000) -> None:
        self.market = market
        self._live: dict[str, OrderUpdate] = {}
        self._done: OrderedDict[str, OrderUpdate] = OrderedDict()
        self._done_capacity = done_capacity
        self.version = 0  # bumps on every accepted change (waiters compare it)
        self.regressed = 0  # lower cumulative fills forwarded to the ledger

    def pending(self, update: OrderUpdate) -> None:
        """Register an order we are about to send (status PENDING)."""
        key = _key(update)
        if key not in self._live and key not in self._done:
            self._live[key] = update

    def forget(self, client_id: str) -> None:
        """Drop a PENDING entry whose placement certainly failed."""
        current = self._live.get(client_id)
        if current is not None and current.status is OrderStatus.PENDING:
            del self._live[client_id]

    def get(self, client_id: str) -> OrderUpdate | None:
        return self._live.get(client_id) or self._done.get(client_id)

    def last(self, client_id: str | None, order_id: str | None) -> OrderUpdate | None:
        """What we know of the order a wire record names (by externalId, else venue id)."""
        key = client_id if client_id else f"#{order_id}"
        return self._live.get(key) or self._done.get(key)

    def client_ids_by_order_id(self) -> dict[str, str]:
        """venue order id -> our client id, for every order the tracker remembers."""
        return {u.order_id: u.client_id for u in (*self._live.values(), *self._done.values())
                if u.order_id is not None and u.client_id is not None}

    def live(self) -> list[OrderUpdate]:
        return list(self._live.values())

    def observe(self, update: OrderUpdate) -> bool:
        """Record `update`; True when it is news that should reach the ledger (hedged/venues/orderstate.py)."""
        key = _key(update)
        prev = self._live.get(key) or self._done.get(key)
        verdict = judge(update, prev)
        if verdict in (Verdict.STALE, Verdict.DUPLICATE):
            return False  # an older picture (late frame, lagging REST read) or nothing new
        if verdict is Verdict.REGRESSED:
            self.regressed += 1
        self._record(key, remembered(update, prev, verdict))
        return True

    def _record(self, key: str, update: OrderUpdate) -> None:
        if update.status.is_terminal:
            self._live.pop(key, None)
            self._done[key] = update
            self._done.move_to_end(key)
            while len(self._done) > self._done_capacity:
                self._done.popitem(last=False)
        else:
            self._live[key] = update
        self.version += 1


class TradeDedup:
    """Remembers recent trade ids; a fill id is unique per fill on Extended."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, trade_id: str) -> bool:
        if trade_id in self._seen:
            return False
        self._seen[trade_id] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True


class AccountCore:
    """Pure account-stream logic: frame in, events out (plus the 'gap' verdict)."""

    def __init__(self, market: str, tracker: OrderTracker, stats: StreamStats,
                 on_malformed: Callable[[str], None] | None = None) -> None:
        self.market = market
        self.tracker = tracker
        self.stats = stats
        self.seq = SeqCheck()
        self.trades = TradeDedup()
        self.balance: wire.Balance | None = None
        self._on_malformed = on_malformed

    def _malformed(self, why: str) -> None:
        self.stats.malformed += 1
        if self._on_malformed is not None:
            self._on_malformed(why)

    def handle(self, message: bytes | str) -> tuple[list[VenueEvent], bool]:
        """Return (events to forward, gap?). Never raises on bad input."""
        self.stats.messages += 1
        try:
            frame = wire.decode_frame(message)
        except wire.WireError as exc:
            self._malformed(str(exc))
            return [], False
        verdict = self.seq.check(frame.seq)
        if verdict == "duplicate":
            self.stats.duplicates += 1
            return [], False
        if verdict == "gap":
            self.stats.gaps += 1
            return [], True
        if frame.error is not None:
            self._malformed("error frame")
            return [], False
        try:
            data = wire.decode_account(frame.data)
        except wire.WireError as exc:
            self._malformed(str(exc))
            return [], False
        return self.apply(data, seq=frame.seq), False

    def apply(self, data: wire.AccountData, *, seq: int | None = None) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        for order in data.orders or ():
            if order.market != self.market:
                continue
            try:
                update = wire.to_order_update(order, seq=seq, last=self.tracker.last(order.external_id, str(order.id)))
            except wire.WireError as exc:
                self._malformed(str(exc))
                continue
            if self.tracker.observe(update):
                events.append(update)
            else:
                self.stats.stale_updates += 1
        for trade in data.trades or ():
            if trade.market != self.market:
                continue
            try:
                event = wire.to_trade(trade)
            except wire.WireError as exc:
                self._malformed(str(exc))
                continue
            if self.trades.first_time(event.trade_id):
                events.append(event)
        for position in data.positions or ():
            if position.market != self.market:
                continue
            try:
                events.append(wire.to_position(position))
            except wire.WireError as exc:
                self._malformed(str(exc))
        if data.balance is not None:
            self.balance = data.balance
        return events
