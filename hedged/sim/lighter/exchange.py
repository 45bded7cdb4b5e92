"""Lighter simulator core: accounts, API keys, nonces, orders, matching, positions (pure, no I/O).

Two steps per transaction, as on the venue: `accept()` is the API server (checks, consumes the nonce,
returns the hash) and `execute()` is the sequencer (runs the tx after the tier's deliberate delay).
Liquidity comes from the shared market model's `VenueBook`; other traders' flow fills our resting
orders via `match_resting`. Every state change is reported as events for the stream layer.

Outcomes modelled (statuses are the venue's spellings):
| case                                            | result                                             |
|-------------------------------------------------|----------------------------------------------------|
| IOC / market order, book thinner than the size  | partial fill, then `canceled-not-enough-liquidity`  |
| market order stopped by its worst price          | partial fill, then `canceled-too-much-slippage`     |
| post-only order that would cross                 | `canceled-post-only`                               |
| reduce-only order that would grow the position   | `canceled-reduce-only` (oversize is clipped)        |
| worst-case margin above collateral               | `canceled-margin-not-allowed`                      |
| GTT order                                        | fills what crosses, rests the rest as `open`       |
| cancel / cancel-all                              | `canceled`, fills kept                             |
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from decimal import Decimal

from hedged.venues.base import Side
from hedged.sim.lighter.tx import (
    ERR_BATCH_NONCE,
    ERR_DUPLICATE_CLIENT_ORDER,
    ERR_INVALID_NONCE,
    ERR_INVALID_ORDER,
    ERR_KEY_NOT_REGISTERED,
    ERR_UNKNOWN_ACCOUNT,
    TIF_IOC,
    TIF_POST_ONLY,
    TX_CANCEL_ALL,
    TX_CANCEL_ORDER,
    TX_CREATE_ORDER,
    TX_MODIFY_ORDER,
    MarketSpec,
    ParsedTx,
    SimOrder,
    FEE_UNIT,
    LighterFees,
    SimFunding,
    SimPosition,
    SimTrade,
    TxRecord,
    TxRejected,
)
from hedged.sim.common.market import Fill, RestingOrder, VenueBook, match_resting
from hedged.sim.common.money import MoneyBook, close_cost

ZERO = Decimal(0)
MARKET_MAKER_ACCOUNT = 77120  # the "other traders" account on the far side of every fill
_ORDER_INDEX_BASE = 2**48
@dataclass(slots=True)
class SimAccount:
    index: int
    collateral: Decimal
    l1_address: str
    api_keys: dict[int, str]  # api_key_index -> public key (hex)
    nonces: dict[int, int]  # api_key_index -> next nonce
    positions: dict[int, SimPosition]
    money: MoneyBook  # what moved the collateral, exact (the DST checker's truth)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    order: SimOrder  # a copy: the state at the moment of the event


@dataclass(frozen=True, slots=True)
class TradeEvent:
    account: int
    trade: SimTrade


@dataclass(frozen=True, slots=True)
class PositionEvent:
    account: int
    position: SimPosition


@dataclass(frozen=True, slots=True)
class TxEvent:
    record: TxRecord


@dataclass(frozen=True, slots=True)
class FundingEvent:
    account: int
    funding: SimFunding


Event = OrderEvent | TradeEvent | PositionEvent | TxEvent | FundingEvent


class LighterExchange:
    def __init__(self, market: MarketSpec, book: VenueBook, *, initial_nonce: int = 1, id_base: int = 0,
                 fees: LighterFees | None = None) -> None:
        self.market = market
        self.book = book
        self.fees = fees or LighterFees()
        self.fundings: list[tuple[int, SimFunding]] = []  # (account, payment), oldest first (money.py)
        self.initial_nonce = initial_nonce
        self.accounts: dict[int, SimAccount] = {}
        self.orders: dict[int, SimOrder] = {}  # order_index -> order (all, terminal included)
        self.trades: list[SimTrade] = []
        self.txs: dict[str, TxRecord] = {}
        self._client_ids: set[tuple[int, int]] = set()  # (account, client_order_index) ever used
        # `id_base` moves every id range at once (a run-unique base keeps runs from sharing ids).
        self._next_order = _ORDER_INDEX_BASE + id_base + 1_000_000
        self._next_trade = 20_000_000_000 + id_base
        self._maker_order = _ORDER_INDEX_BASE + id_base + 500_000
        self.block_height = 100_000_000

    # ---- accounts and keys ---------------------------------------------------------------

    def add_account(self, index: int, *, collateral: Decimal) -> SimAccount:
        acct = SimAccount(index, collateral, f"0x{index:040x}", {}, {}, {}, MoneyBook(initial=collateral))
        self.accounts[index] = acct
        return acct

    def register_key(self, account: int, api_key_index: int, public_key: str) -> None:
        acct = self.accounts[account]
        acct.api_keys[api_key_index] = public_key
        acct.nonces.setdefault(api_key_index, self.initial_nonce)

    def next_nonce(self, account: int, api_key_index: int) -> int:
        acct = self.accounts.get(account)
        if acct is None:
            raise TxRejected(ERR_UNKNOWN_ACCOUNT, "account not found")
        return acct.nonces.get(api_key_index, self.initial_nonce)

    def skip_nonce(self, account: int, api_key_index: int, by: int = 1) -> None:
        """Fault knob: advance the venue's nonce behind the client's back (its next tx gets 21104)."""
        self.accounts[account].nonces[api_key_index] += by

    def position(self, account: int) -> SimPosition:
        return self.accounts[account].positions.setdefault(self.market.market_id, SimPosition(self.market.market_id))

    # ---- API server -----------------------------------------------------------------------

    def accept(self, txs: list[ParsedTx], *, now_ms: int) -> list[TxRecord]:
        """Check a tx (or a batch, all-or-nothing) and consume its nonces. Raises TxRejected."""
        expected: dict[tuple[int, int], int] = {}
        new_ids: set[tuple[int, int]] = set()
        for tx in txs:
            acct = self.accounts.get(tx.account)
            if acct is None:
                raise TxRejected(ERR_UNKNOWN_ACCOUNT, "account not found")
            if tx.api_key not in acct.api_keys:
                raise TxRejected(ERR_KEY_NOT_REGISTERED, "invalid PublicKey, api key not registered")
            key = (tx.account, tx.api_key)
            want = expected.get(key, acct.nonces[tx.api_key])
            if tx.nonce != want:
                code = ERR_BATCH_NONCE if key in expected else ERR_INVALID_NONCE
                raise TxRejected(code, f"invalid nonce: expected {want}, got {tx.nonce}")
            expected[key] = want + 1
            if tx.tx_type in (TX_CREATE_ORDER, TX_CANCEL_ORDER, TX_MODIFY_ORDER):
                if tx.info["MarketIndex"] != self.market.market_id:
                    raise TxRejected(ERR_INVALID_ORDER, f"invalid market index {tx.info['MarketIndex']}")
            if tx.tx_type == TX_CREATE_ORDER:
                cid = (tx.account, tx.info["ClientOrderIndex"])
                if cid in self._client_ids or cid in new_ids:
                    raise TxRejected(ERR_DUPLICATE_CLIENT_ORDER, "client order index already exists")
                new_ids.add(cid)
        for (account, key), nonce in expected.items():
            self.accounts[account].nonces[key] = nonce
        self._client_ids |= new_ids
        records = []
        for tx in txs:
            digest = hashlib.blake2b(f"{tx.tx_type}:{tx.raw}".encode(), digest_size=40).hexdigest()
            rec = TxRecord(tx_hash=digest, tx=tx, queued_ms=now_ms, block_height=0)
            self.txs[digest] = rec
            records.append(rec)
        return records

    def is_taker(self, tx: ParsedTx) -> bool:
        """Whether the tier's taker delay applies (a create that would cross the book now)."""
        if tx.tx_type != TX_CREATE_ORDER or tx.info["TimeInForce"] == TIF_POST_ONLY:
            return False
        side = Side.SELL if tx.info["IsAsk"] else Side.BUY
        return tx.info["TimeInForce"] == TIF_IOC or self.book.would_cross(side, self.market.price(tx.info["Price"]))

    # ---- sequencer ---------------------------------------------------------------------------

    def execute(self, rec: TxRecord, *, now_ms: int) -> list[Event]:
        self.block_height += 1
        rec.block_height, rec.executed_ms = self.block_height, now_ms
        tx, info = rec.tx, rec.tx.info
        events: list[Event] = []
        if tx.tx_type == TX_CREATE_ORDER:
            events += self._create(rec, now_ms)
        elif tx.tx_type == TX_CANCEL_ORDER:
            order = self._find(tx.account, info["Index"])
            if order is None or not order.live:
                rec.status, rec.event_info = 0, {"error": "order not found"}
            else:
                events += self._finish(order, "canceled", now_ms)
        elif tx.tx_type == TX_CANCEL_ALL:
            for order in self.open_orders(tx.account):
                events += self._finish(order, "canceled", now_ms)
        elif tx.tx_type == TX_MODIFY_ORDER:
            events += self._modify(rec, now_ms)
        if rec.status == 1:
            rec.status = 2
        events.append(TxEvent(rec))
        return events

    def execute_rejected(self, rec: TxRecord, status: str, *, now_ms: int) -> list[Event]:
        """Fault knob: the sequencer refuses an acked create; the order appears only as `status`."""
        self.block_height += 1
        rec.block_height, rec.executed_ms = self.block_height, now_ms
        events = self._create(rec, now_ms, reject=status)
        rec.status = 0
        return events + [TxEvent(rec)]

    def _find(self, account: int, index: int) -> SimOrder | None:
        order = self.orders.get(index)
        if order is not None and order.account == account:
            return order
        # The venue reportedly also accepts a client_order_index here (UNCONFIRMED); do the same.
        matches = [o for o in self.orders.values() if o.account == account and o.client_order_index == index]
        return matches[-1] if matches else None

    def _create(self, rec: TxRecord, now_ms: int, *, reject: str | None = None) -> list[Event]:
        info = rec.tx.info
        self._next_order += 1
        order = SimOrder(
            order_index=self._next_order, client_order_index=info["ClientOrderIndex"], market_id=info["MarketIndex"],
            account=rec.tx.account, api_key=rec.tx.api_key, is_ask=bool(info["IsAsk"]), order_type=info["Type"],
            tif=info["TimeInForce"], reduce_only=bool(info["ReduceOnly"]), price=info["Price"],
            initial_base=info["BaseAmount"], remaining_base=info["BaseAmount"], order_expiry=info["OrderExpiry"],
            nonce=rec.tx.nonce, created_ms=now_ms, updated_ms=now_ms,
        )  # fmt: skip
        self.orders[order.order_index] = order
        rec.event_info = {"order_index": order.order_index, "client_order_index": order.client_order_index}
        if reject is not None:
            return self._finish(order, reject, now_ms)
        return self._place(order, now_ms)

    def _place(self, order: SimOrder, now_ms: int) -> list[Event]:
        """Match a new or re-priced order against the book, then rest it or end it."""
        side = Side.SELL if order.is_ask else Side.BUY
        limit = self.market.price(order.price)
        pos = self.position(order.account).size
        if order.reduce_only:
            room = max(0, -pos if side is Side.BUY else pos)
            if room == 0:
                return self._finish(order, "canceled-reduce-only", now_ms)
            order.remaining_base = min(order.remaining_base, room)
        if order.tif == TIF_POST_ONLY and self.book.would_cross(side, limit):
            return self._finish(order, "canceled-post-only", now_ms)
        worst = abs(pos + side.sign * order.remaining_base)
        imf = self.market.initial_margin_fraction
        if self.market.size(worst) * limit * imf > self.accounts[order.account].collateral:
            return self._finish(order, "canceled-margin-not-allowed", now_ms)
        events: list[Event] = []
        if order.tif != TIF_POST_ONLY:
            fills = self.book.take(side, self.market.size(order.remaining_base), limit)
            for f in fills:
                events += self._fill(order, f, taker=True, now_ms=now_ms)
        if order.remaining_base == 0:
            return events + self._finish(order, "filled", now_ms)
        if order.tif == TIF_IOC:
            ran_out = not self.book.levels(side.opposite)
            status = "canceled-too-much-slippage" if order.order_type == 1 and not ran_out else None
            return events + self._finish(order, status or "canceled-not-enough-liquidity", now_ms)
        order.status, order.updated_ms = "open", now_ms
        return events + [OrderEvent(replace(order))]

    def _modify(self, rec: TxRecord, now_ms: int) -> list[Event]:
        info = rec.tx.info
        order = self._find(rec.tx.account, info["Index"])
        if order is None or not order.live:
            rec.status, rec.event_info = 0, {"error": "order not found"}
            return []
        # BaseAmount is the new remaining size; the filled part stays filled.
        order.initial_base = order.filled_base + info["BaseAmount"]
        order.remaining_base = info["BaseAmount"]
        order.price = info["Price"]
        order.version += 1
        return self._place(order, now_ms)

    def _finish(self, order: SimOrder, status: str, now_ms: int) -> list[Event]:
        order.status, order.updated_ms = status, now_ms
        if status != "filled":
            order.remaining_base = 0 if status.startswith("canceled") else order.remaining_base
        return [OrderEvent(replace(order))]

    def _fill(self, order: SimOrder, fill: Fill, *, taker: bool, now_ms: int) -> list[Event]:
        units = self.market.size_units(fill.qty)
        price_units = self.market.price_units(fill.price)
        pos = self.position(order.account)
        before = self.market.size(abs(pos.size))
        self._apply_position(pos, order.account, units if not order.is_ask else -units, self.market.price(price_units))
        rate = self.fees.taker if taker else self.fees.maker
        fee = self.market.size(units) * self.market.price(price_units) * rate * FEE_UNIT
        acct = self.accounts[order.account]
        acct.collateral -= fee
        acct.money.fees += fee
        acct.money.fills += 1
        order.remaining_base -= units
        order.filled_base += units
        order.filled_quote += self.market.size(units) * fill.price
        order.updated_ms = now_ms
        self._next_trade += 1
        self._maker_order += 1
        other, our = self._maker_order, order.order_index
        ask_id, bid_id = (our, other) if order.is_ask else (other, our)
        trade = SimTrade(
            trade_id=self._next_trade, market_id=order.market_id,
            tx_hash=hashlib.blake2b(f"trade:{self._next_trade}".encode(), digest_size=40).hexdigest(),
            price=price_units, size=units, ask_id=ask_id, bid_id=bid_id,
            ask_client_id=order.client_order_index if order.is_ask else 0,
            bid_client_id=0 if order.is_ask else order.client_order_index,
            ask_account=order.account if order.is_ask else MARKET_MAKER_ACCOUNT,
            bid_account=MARKET_MAKER_ACCOUNT if order.is_ask else order.account,
            is_maker_ask=order.is_ask != taker, timestamp_ms=now_ms,
            taker_position_before=before if taker else ZERO, maker_position_before=ZERO if taker else before,
            taker_fee=self.fees.taker, maker_fee=self.fees.maker,
        )  # fmt: skip
        self.trades.append(trade)
        return [TradeEvent(order.account, trade), PositionEvent(order.account, replace(pos))]

    def _apply_position(self, pos: SimPosition, account: int, signed: int, price: Decimal) -> None:
        if pos.size == 0 or (pos.size > 0) == (signed > 0):
            pos.entry_quote += self.market.size(abs(signed)) * price
            pos.size += signed
            return
        # Entry cost is removed pro rata (all of it on a full close): realised PnL over a round trip is
        # exactly the fills' cash flows.
        closing = min(abs(pos.size), abs(signed))
        cost = close_cost(pos.entry_quote, self.market.size(abs(pos.size)), self.market.size(closing))
        pnl = (self.market.size(closing) * price - cost) * (1 if pos.size > 0 else -1)
        pos.realized_pnl += pnl
        self.accounts[account].collateral += pnl
        self.accounts[account].money.realised += pnl
        pos.entry_quote -= cost
        pos.size += signed
        if pos.size == 0:
            pos.entry_quote = ZERO
        elif abs(signed) > closing:  # flipped: the rest opens at this price
            pos.entry_quote = self.market.size(abs(pos.size)) * price

    # ---- other traders -------------------------------------------------------------------------

    def on_flow(self, *, now_ms: int) -> list[Event]:
        """Let the model's other-trader flow (and crossed books) fill our resting orders."""
        flows = self.book.drain_flow()
        live = [o for o in self.orders.values() if o.live and o.remaining_base > 0]
        if not live:
            return []
        resting = [
            RestingOrder(o.order_index, Side.SELL if o.is_ask else Side.BUY, self.market.price(o.price),
                         self.market.size(o.remaining_base))
            for o in live
        ]  # fmt: skip
        events: list[Event] = []
        for fill in match_resting(self.book, resting, flows):
            events += self.force_fill(fill.key, fill.qty, now_ms=now_ms, price=fill.price)  # type: ignore[arg-type]
        return events

    def force_fill(
        self, order_index: int, qty: Decimal | None = None, *, now_ms: int, price: Decimal | None = None
    ) -> list[Event]:
        """Fill a resting order as maker (control surface and flow). Default: all that remains."""
        order = self.orders[order_index]
        if not order.live:
            raise ValueError(f"order {order_index} is {order.status}")
        qty = self.market.size(order.remaining_base) if qty is None else min(qty, self.market.size(order.remaining_base))
        price = self.market.price(order.price) if price is None else price
        events = self._fill(order, Fill(price, qty), taker=False, now_ms=now_ms)
        if order.remaining_base == 0:
            order.status = "filled"
        events.append(OrderEvent(replace(order)))
        return events

    def regressed_event(self, order_index: int, filled: Decimal, *, now_ms: int) -> OrderEvent:
        """Fault knob: a report of the order with a lower cumulative fill (its state is not changed)."""
        order = self.orders[order_index]
        units = self.market.size_units(filled)
        if not 0 <= units < order.filled_base:
            raise ValueError(f"a regressed fill must be below the order's {self.market.size(order.filled_base)}")
        quote = order.filled_quote * units / order.filled_base
        return OrderEvent(replace(order, filled_base=units, filled_quote=quote,
                                  updated_ms=max(now_ms, order.updated_ms + 1)))

    # ---- reads --------------------------------------------------------------------------------

    def open_orders(self, account: int) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.account == account and o.live]

    def orders_by_client_id(self, account: int, client_ids: set[int]) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.account == account and o.client_order_index in client_ids]

    def account_fundings(self, account: int) -> list[SimFunding]:
        return [f for a, f in self.fundings if a == account]

    def account_trades(self, account: int) -> list[SimTrade]:
        return [t for t in self.trades if account in (t.ask_account, t.bid_account)]

    def event_info_json(self, rec: TxRecord) -> str:
        return json.dumps(rec.event_info, separators=(",", ":"))
