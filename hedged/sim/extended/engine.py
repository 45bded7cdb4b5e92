"""The Extended simulator's matching engine and account: pure state, no I/O, no Trio.

Every mutating call takes the venue time in epoch ms and returns the account-stream messages
it causes (`AccountMsg(type, data)`), in the order the venue would send them. The Trio layer
(`server.py`) decides *when* to call (placement delay, market steps) and broadcasts the result.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedged.venues.base import Side
from hedged.sim.extended.checks import NewOrder, Reject
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.sim.extended.wire import (
    SimOrder,
    SimPosition,
    balance_json,
    funding_json,
    order_json,
    position_json,
    trade_json,
)
from hedged.sim.common.market import Flow, RestingOrder, VenueBook, match_resting
from hedged.sim.common.money import MoneyBook, close_cost, funding_amount

ZERO = Decimal(0)
_FIRST_ORDER_ID = 1_802_260_413_377_142_784
_FIRST_TRADE_ID = 1_802_260_419_871_219_712
_FIRST_FUNDING_ID = 8_341


@dataclass(frozen=True, slots=True)
class AccountMsg:
    type: str  # ORDER | TRADE | POSITION | BALANCE
    data: dict[str, Any]


class ExtendedEngine:
    def __init__(self, settings: ExtendedSimSettings, book: VenueBook) -> None:
        self.s = settings
        self.book = book
        self.orders: dict[int, SimOrder] = {}
        self.by_external: dict[str, int] = {}
        self._open: dict[int, SimOrder] = {}  # index of open orders: market steps must not scan history
        self.position = SimPosition(id=_FIRST_ORDER_ID - 7, market=settings.market)
        self.balance = settings.initial_balance
        self.leverage = settings.leverage
        self.trades: list[dict[str, Any]] = []
        self.fundings: list[dict[str, Any]] = []  # rows of /user/funding/history
        self.money = MoneyBook(initial=settings.initial_balance)
        self._order_ids = itertools.count(_FIRST_ORDER_ID + settings.id_base + settings.seed * 1_000_000, 1)
        self._trade_ids = itertools.count(_FIRST_TRADE_ID + settings.id_base + settings.seed * 1_000_000, 1)
        self._funding_ids = itertools.count(_FIRST_FUNDING_ID + settings.id_base, 1)

    # ------------------------------------------------------------ reads

    @property
    def mark(self) -> Decimal:
        bid, ask = self.book.best_bid, self.book.best_ask
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return self.book.best_bid or self.book.best_ask or self.s.market_settings.start_price

    def open_orders(self) -> list[SimOrder]:
        return list(self._open.values())

    def _sync_open(self, o: SimOrder) -> None:
        if o.is_open:
            self._open[o.id] = o
        else:
            self._open.pop(o.id, None)

    def unrealised(self) -> Decimal:
        return (self.mark - self.position.open_price) * self.position.size if self.position.size else ZERO

    def initial_margin(self) -> Decimal:
        exposure = abs(self.position.size) * self.mark + sum(o.remaining * o.price for o in self.open_orders())
        return exposure / self.leverage

    def balance_data(self, now_ms: int) -> dict[str, Any]:
        return balance_json(self.balance, self.unrealised(), self.initial_margin(), now_ms)

    def position_data(self) -> dict[str, Any]:
        return position_json(self.position, self.s.account_id, self.mark, self.leverage)

    def order_data(self, o: SimOrder) -> dict[str, Any]:
        return order_json(o, self.s.account_id, null_fill=self.s.null_fill_on_cancel and o.status == "CANCELLED")

    def regressed_data(self, order_id: int, filled: Decimal, now_ms: int) -> dict[str, Any]:
        """Fault knob: the order restated with a lower cumulative fill, stamped after its last update.
        The engine's own state is untouched (the venue's truth does not change; its report does)."""
        o = self.orders[order_id]
        if not ZERO <= filled < o.filled:
            raise ValueError(f"a regressed fill must be below the order's {o.filled}")
        data = self.order_data(o)
        data["filledQty"] = str(filled)
        data["updatedTime"] = max(now_ms, o.updated_ms + 1)
        return data

    def initial_messages(self, now_ms: int) -> list[AccountMsg]:
        """What the account stream restates on connect: BALANCE, POSITION, ORDER."""
        positions = [self.position_data()] if self.position.size else []
        return [
            AccountMsg("BALANCE", {"balance": self.balance_data(now_ms)}),
            AccountMsg("POSITION", {"positions": positions}),
            AccountMsg("ORDER", {"orders": [self.order_data(o) for o in self.open_orders()]}),
        ]

    # ------------------------------------------------------------ REST-time admission

    def submit(self, new: NewOrder, now_ms: int) -> SimOrder:
        """Admit an order at REST time (raises `Reject`); the engine acts later in `accept`."""
        if new.external_id in self.by_external:
            raise Reject(1134, "Duplicate order")
        if len(self.open_orders()) >= self.s.max_num_orders:
            raise Reject(1126, "Max open orders number exceeded")
        if new.cancel_id is not None:
            prev = self.orders.get(self.by_external.get(new.cancel_id, -1))
            if prev is None or not prev.is_open:
                raise Reject(1142, "Edit order not found")
        exposure = abs(self.position.size) * self.mark + sum(o.remaining * o.price for o in self.open_orders())
        equity = self.balance + self.unrealised()
        if not new.reduce_only and (exposure + new.qty * new.price) / self.leverage > equity:
            raise Reject(1140, "Order cost exceeds balance")
        order = SimOrder(
            id=next(self._order_ids),
            external_id=new.external_id,
            market=new.market,
            type=new.type,
            side=new.side,
            price=new.price,
            qty=new.qty,
            reduce_only=new.reduce_only,
            post_only=new.post_only,
            time_in_force=new.time_in_force,
            fee_cap=new.fee,
            created_ms=now_ms,
            updated_ms=now_ms,
            expiry_ms=new.expiry_ms,
            cancel_id=new.cancel_id,
        )
        self.orders[order.id] = order
        self.by_external[order.external_id] = order.id
        return order

    # ------------------------------------------------------------ engine actions

    def accept(self, order_id: int, now_ms: int) -> list[AccountMsg]:
        """The matching engine acts on a submitted order: NEW, a taker fill, or a terminal status."""
        o = self.orders[order_id]
        if o.status != "PENDING":
            return []
        out: list[AccountMsg] = []
        if o.cancel_id is not None:
            prev = self.orders.get(self.by_external.get(o.cancel_id, -1))
            if prev is not None and prev.is_open:
                out += self._terminate([prev], "CANCELLED", "ORDER_REPLACED", now_ms)
        side = Side.BUY if o.side == "BUY" else Side.SELL
        crossing = self.book.would_cross(side, o.price)
        if o.expiry_ms <= now_ms:
            return out + self._terminate([o], "EXPIRED", "INVALID_EXPIRE_TIME", now_ms)
        if o.post_only and crossing:
            return out + self._terminate([o], self.s.post_only_failed_status, "POST_ONLY_FAILED", now_ms)
        if o.reduce_only and (self.position.size == 0 or (self.position.size > 0) == (o.side == "BUY")):
            return out + self._terminate([o], "REJECTED", "REDUCE_ONLY_FAILED", now_ms)
        o.status = "NEW"
        o.updated_ms = now_ms
        self._sync_open(o)
        fills = self.book.take(side, o.qty, limit=o.price) if crossing or o.time_in_force == "IOC" else []
        if not fills:
            if o.time_in_force == "IOC":
                return out + self._terminate([o], "CANCELLED", "NO_LIQUIDITY", now_ms)
            return out + [AccountMsg("ORDER", {"orders": [self.order_data(o)]})]
        trades = [self._apply_fill(o, f.qty, f.price, True, now_ms) for f in fills]
        if o.time_in_force == "IOC" and o.remaining > 0:
            o.cancelled_qty = o.remaining
            o.status = "CANCELLED"
            o.reason = "NONE"
            self._sync_open(o)
        return out + self._fill_messages([o], trades, now_ms)

    def cancel(self, order_ids: Iterable[int], now_ms: int) -> list[AccountMsg]:
        # A cancel that overtakes its own placement (both still queued) ends the order without NEW.
        live = [o for i in order_ids if (o := self.orders.get(i)) is not None and (o.is_open or o.status == "PENDING")]
        return self._terminate(live, "CANCELLED", "NONE", now_ms) if live else []

    def fill(self, order_id: int, qty: Decimal, price: Decimal | None, now_ms: int, *, taker: bool = False) -> list[AccountMsg]:
        """Fill a resting order (other traders' flow or the control surface)."""
        o = self.orders[order_id]
        if not o.is_open:
            return []
        qty = min(qty, o.remaining)
        if qty <= 0:
            return []
        trade = self._apply_fill(o, qty, o.price if price is None else price, taker, now_ms)
        return self._fill_messages([o], [trade], now_ms)

    def on_flows(self, flows: list[Flow], now_ms: int, *, crossed_fill: bool = True) -> list[AccountMsg]:
        """Match other traders' flow (and a book that moved through us) against our resting orders."""
        live = self.open_orders()
        if not live:
            return []
        resting = [RestingOrder(o.id, Side.BUY if o.side == "BUY" else Side.SELL, o.price, o.remaining) for o in live]
        fills = match_resting(self.book, resting, flows, crossed_fill=crossed_fill)
        if not fills:
            return []
        touched: dict[int, SimOrder] = {}
        trades = []
        for f in fills:
            o = self.orders[f.key]
            trades.append(self._apply_fill(o, f.qty, f.price, False, now_ms))
            touched[o.id] = o
        return self._fill_messages(list(touched.values()), trades, now_ms)

    def expire_due(self, now_ms: int) -> list[AccountMsg]:
        due = [o for o in self.open_orders() if o.expiry_ms <= now_ms]
        return self._terminate(due, "EXPIRED", "NONE", now_ms) if due else []

    # ------------------------------------------------------------ internals

    def _terminate(self, orders: list[SimOrder], status: str, reason: str, now_ms: int) -> list[AccountMsg]:
        for o in orders:
            o.cancelled_qty = o.qty - o.filled
            o.status, o.reason, o.updated_ms = status, reason, now_ms
            self._sync_open(o)
        msgs = [AccountMsg("ORDER", {"orders": [self.order_data(o) for o in orders]})]
        return msgs + [AccountMsg("BALANCE", {"balance": self.balance_data(now_ms)})]

    def _apply_fill(self, o: SimOrder, qty: Decimal, price: Decimal, taker: bool, now_ms: int) -> dict[str, Any]:
        rate = self.s.taker_fee if taker else self.s.maker_fee
        fee = (qty * price * rate).quantize(Decimal("1e-6"))
        o.filled += qty
        o.notional += qty * price
        o.fee_paid += fee
        o.updated_ms = now_ms
        if o.status in ("NEW", "PARTIALLY_FILLED", "PENDING"):
            o.status = "FILLED" if o.filled >= o.qty else "PARTIALLY_FILLED"
            self._sync_open(o)
        self._move_position(qty * o.sign, price, now_ms)
        self.balance -= fee
        self.position.realised -= fee
        self.money.fees += fee
        self.money.fills += 1
        trade = trade_json(
            trade_id=next(self._trade_ids),
            account_id=self.s.account_id,
            o=o,
            price=price,
            qty=qty,
            fee=fee,
            taker=taker,
            ts=now_ms,
        )
        self.trades.append(trade)
        return trade

    def _move_position(self, delta: Decimal, price: Decimal, now_ms: int) -> None:
        p = self.position
        if p.size == 0:
            p.created_ms = now_ms
        if p.size == 0 or (p.size > 0) == (delta > 0):
            p.open_cost += abs(delta) * price
        else:
            # Entry cost is kept exactly and removed pro rata (all of it on a full close), so realised
            # PnL over a round trip is exactly the fills' cash flows.
            closed = min(abs(delta), abs(p.size))
            cost = close_cost(p.open_cost, abs(p.size), closed)
            pnl = (closed * price - cost) * (1 if p.size > 0 else -1)
            p.open_cost -= cost
            p.realised += pnl
            self.balance += pnl
            self.money.realised += pnl
            if abs(delta) > abs(p.size):
                p.open_cost = (abs(delta) - abs(p.size)) * price
        p.size += delta
        if p.size:
            p.open_price = (p.open_cost / abs(p.size)).quantize(Decimal("1e-8")).normalize()
        p.updated_ms = now_ms

    def settle_funding(self, rate: Decimal, now_ms: int) -> list[AccountMsg]:
        """One hourly settlement at `rate` on the open position (nothing when flat): balance and the
        position's realised PnL move by the amount, a row joins the funding history."""
        p = self.position
        if p.size == 0:
            return []
        mark = self.mark
        amount = funding_amount(p.size, mark, rate)
        self.balance += amount
        p.realised += amount
        self.money.funding += amount
        self.money.payments += 1
        p.updated_ms = now_ms
        self.fundings.append(funding_json(payment_id=next(self._funding_ids), account_id=self.s.account_id, p=p,
                                          mark=mark, amount=amount, rate=rate, ts=now_ms))
        return [
            AccountMsg("POSITION", {"positions": [self.position_data()]}),
            AccountMsg("BALANCE", {"balance": self.balance_data(now_ms)}),
        ]

    def _fill_messages(self, orders: list[SimOrder], trades: list[dict[str, Any]], now_ms: int) -> list[AccountMsg]:
        return [
            AccountMsg("ORDER", {"orders": [self.order_data(o) for o in orders]}),
            AccountMsg("TRADE", {"trades": trades}),
            AccountMsg("POSITION", {"positions": [self.position_data()]}),
            AccountMsg("BALANCE", {"balance": self.balance_data(now_ms)}),
        ]
