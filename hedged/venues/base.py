"""Venue-neutral types: the only shapes that leave `hedged/venues/`.

Adapters turn wire messages into these frozen records; the ledger, the strategy and
the metrics never see a venue's JSON. Money is `Decimal`; integer encodings stay
inside the venue packages.
"""

from __future__ import annotations

import contextvars
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Protocol, TypeVar, runtime_checkable

import trio
from trio_util import AsyncValue

ZERO = Decimal(0)


class Venue(enum.StrEnum):
    EXTENDED = "extended"
    LIGHTER = "lighter"


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @staticmethod
    def for_delta(delta: Decimal) -> Side:
        """The side that moves a position by `delta` (which must be non-zero)."""
        if delta == 0:
            raise ValueError("a zero delta has no side")
        return Side.BUY if delta > 0 else Side.SELL


class OrderStatus(enum.StrEnum):
    """Normalized order lifecycle. `PENDING` = sent, not yet acknowledged by the venue."""

    PENDING = "pending"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"  # may carry filled_qty > 0
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def rank(self) -> int:
        """Progress of an order: an observation of lower rank than what is known is stale."""
        return _RANK[self]


_T = TypeVar("_T")
_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
_RANK = {OrderStatus.PENDING: 0, OrderStatus.OPEN: 1, OrderStatus.PARTIALLY_FILLED: 2,
         **{status: 3 for status in _TERMINAL}}


class Liquidity(enum.StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class TimeInForce(enum.StrEnum):
    GTT = "gtt"  # good till time (rests)
    IOC = "ioc"  # immediate or cancel


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One observation of an order. `filled_qty` is cumulative, as both venues send it."""

    venue: Venue
    market: str
    order_id: str | None  # venue id (as text); None before the venue assigned one
    client_id: str | None  # our id: Extended externalId, Lighter client_order_index (as text)
    side: Side
    status: OrderStatus
    qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None = None
    price: Decimal | None = None
    reason: str | None = None  # venue status reason, e.g. POST_ONLY_FAILED
    ts_ms: int = 0  # venue timestamp, epoch ms
    seq: int | None = None  # stream sequence number, if the stream has one
    # trio.current_time() when the frame carrying it was read off the socket (None: not from a
    # stream, e.g. a REST answer); the hedge latency clock starts here.
    received_at: float | None = None

    @property
    def remaining(self) -> Decimal:
        return max(ZERO, self.qty - self.filled_qty)


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of one of our orders, as the venue reports it."""

    venue: Venue
    market: str
    trade_id: str
    order_id: str | None
    client_id: str | None
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: Liquidity
    ts_ms: int = 0
    received_at: float | None = None  # as OrderUpdate.received_at


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """Signed position (long > 0) on one market of one venue."""

    venue: Venue
    market: str
    size: Decimal
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class TopOfBook:
    venue: Venue
    market: str
    bid: Decimal | None
    bid_size: Decimal
    ask: Decimal | None
    ask_size: Decimal
    ts: float  # trio.current_time() when applied locally

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding settlement on one market, as the venue reports it (issue 14).

    `amount` is what our account received in the quote currency: positive = received,
    negative = paid. `payment_id` is the venue's id (or, where the venue has none, a key
    built from market and settlement time) so a payment seen on a stream and again in the
    history is journaled once. `rate` is the funding rate applied; `position` the signed
    position it was applied to."""

    venue: Venue
    market: str
    payment_id: str
    amount: Decimal
    rate: Decimal | None = None
    position: Decimal | None = None
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class AccountMoney:
    """The venue's own money picture of our account on one market (issue 14, point 3):
    what reconciliation compares the ledger's PnL with. A field the venue does not report
    is None, never zero."""

    venue: Venue
    market: str
    balance: Decimal | None  # collateral balance in the quote currency
    realised_pnl: Decimal | None  # position realised PnL as the venue reports it
    unrealised_pnl: Decimal | None
    mark_price: Decimal | None
    fees_paid: Decimal | None = None  # cumulative trading fees, where the venue reports them
    funding_total: Decimal | None = None  # cumulative funding received (+) / paid (-)
    ts_ms: int = 0


VenueEvent = OrderUpdate | Trade | PositionSnapshot | FundingPayment


@dataclass(frozen=True, slots=True)
class OrderAck:
    """What a placement call returns: ids only. The outcome arrives as `OrderUpdate`s."""

    venue: Venue
    client_id: str
    order_id: str | None


@dataclass(frozen=True, slots=True)
class MarketRules:
    """Quantization rules of one market. Sizes round down, prices round by the caller's choice."""

    venue: Venue
    market: str
    tick: Decimal
    size_step: Decimal
    min_size: Decimal
    min_notional: Decimal = ZERO  # smallest order value in quote currency (Lighter: min_quote_amount)

    def round_price(self, price: Decimal, *, up: bool) -> Decimal:
        # Division, not Decimal.quantize: a tick such as 0.05 is not a power of ten.
        steps = (price / self.tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)
        return steps * self.tick

    def round_size_down(self, size: Decimal) -> Decimal:
        return (size / self.size_step).to_integral_value(ROUND_FLOOR) * self.size_step

    def is_tradeable(self, size: Decimal, price: Decimal | None = None) -> bool:
        if size < self.min_size or self.round_size_down(size) != size:
            return False
        return price is None or size * price >= self.min_notional

    def min_size_at(self, price: Decimal) -> Decimal:
        """The smallest tradeable size at `price`: min_size, raised to meet min_notional, on the step."""
        if self.min_notional <= 0 or price <= 0:
            return self.min_size
        steps = (self.min_notional / price / self.size_step).to_integral_value(ROUND_CEILING)
        return max(self.min_size, steps * self.size_step)


@dataclass(frozen=True, slots=True)
class StreamHealth:
    connected: bool
    subscribed: bool
    last_message_age_s: float | None  # None when nothing has arrived yet


@dataclass(slots=True)
class StreamStats:
    """Counters of one venue stream, written only by that stream's task (read by statistics/metrics)."""

    messages: int = 0
    malformed: int = 0
    duplicates: int = 0
    gaps: int = 0
    reconnects: int = 0  # sessions ended (counted by the session skeleton)
    stale_updates: int = 0
    crossed: int = 0  # book frames that left the book crossed (bid >= ask)


@dataclass(frozen=True, slots=True)
class VenueStatistics:
    """What `statistics()` returns on every adapter: counters per stream, keyed by the names metrics label
    them with (Extended `account`, `book`; Lighter's one socket `ws` and its `order_book`), and the
    venue's own counters by name (placements, nonce fetches, rate-limit waits, ...)."""

    venue: Venue
    streams: dict[str, StreamStats] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VenueHealth:
    venue: Venue
    streams: dict[str, StreamHealth] = field(default_factory=dict)

    def not_live(self, max_book_age_s: float) -> list[str]:
        """Streams that are down, or book streams older than `max_book_age_s`. Account streams
        may be quiet for hours when nothing trades, so only market data has to be recent."""
        if not self.streams:
            return ["no streams"]
        return [
            name for name, s in self.streams.items()
            if not (s.connected and s.subscribed) or ("book" in name and (
                s.last_message_age_s is None or s.last_message_age_s > max_book_age_s))
        ]

    def fresh(self, max_age_s: float) -> bool:
        return bool(self.streams) and all(
            s.connected and s.subscribed and s.last_message_age_s is not None and s.last_message_age_s <= max_age_s
            for s in self.streams.values()
        )


# ---- typed errors: the strategy branches on these, never on bare Exception ----


class VenueError(Exception):
    """Base of every error an adapter raises. Messages never contain secrets."""

    def __init__(self, venue: Venue, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{venue}: {message}" + (f" (code {code})" if code else ""))
        self.venue = venue
        self.code = code


class OrderRejected(VenueError):
    """The venue refused the order; it is certainly not live."""


class RateLimited(VenueError):
    def __init__(self, venue: Venue, message: str, *, retry_after_s: float | None = None, code: str | None = None) -> None:
        super().__init__(venue, message, code=code)
        self.retry_after_s = retry_after_s


class AmbiguousOutcome(VenueError):
    """The request may or may not have taken effect (lost reply, timeout): look it up, never resend blindly."""


class NonceError(VenueError):
    """Lighter nonce out of step; the nonce manager refetches before the next send."""


class AuthError(VenueError):
    """Bad/expired key or token."""


class TransportError(VenueError):
    """The request certainly did not reach the venue (connect refused, DNS...)."""


class NotSupported(VenueError):
    """The venue has no such operation (e.g. modify on Extended)."""


@runtime_checkable
class VenueClient(Protocol):
    """What the strategy needs from a venue. Both adapters implement it.

    `run()` is a long-lived service: it connects the streams, pushes normalized
    events into `events`, keeps `top_of_book` current, and reconnects/re-syncs on
    its own. It reports readiness through `task_status` once subscribed and synced, and
    `synced` is True while the account stream is subscribed and re-synced (orders wait for it).
    """

    venue: Venue
    rules: MarketRules
    top_of_book: AsyncValue[TopOfBook | None]
    synced: AsyncValue[bool]

    async def run(self, events: trio.MemorySendChannel[VenueEvent], *, task_status=trio.TASK_STATUS_IGNORED) -> None: ...

    async def place_maker(self, side: Side, qty: Decimal, price: Decimal, client_id: str) -> OrderAck: ...

    async def place_taker(
        self, side: Side, qty: Decimal, price: Decimal, client_id: str, tif: TimeInForce = TimeInForce.IOC,
        *, written: Callable[[], None] | None = None,
    ) -> OrderAck:
        """`written` is called once the order is on its way to the venue (its request written to the
        socket, or answered where the transport cannot tell), before the call waits for the answer."""
        ...

    async def cancel(self, *, order_id: str | None = None, client_id: str | None = None) -> None: ...

    async def cancel_all(self) -> None: ...

    async def modify(self, order_id: str, *, price: Decimal, qty: Decimal) -> None:
        """Reprice a resting order in place; `qty` is the new *remaining* (unfilled) size."""
        ...

    async def open_orders(self) -> list[OrderUpdate]: ...

    async def positions(self) -> list[PositionSnapshot]: ...

    async def order_status(self, client_id: str) -> OrderUpdate | None: ...

    async def trades(self, *, since_ms: int = 0) -> list[Trade]:
        """Our fills on this market at or after `since_ms` (venue time, epoch ms), oldest first,
        from the venue's trade history (Extended `/user/trades`, Lighter `/api/v1/trades`).
        Used to back-fill fills made while the daemon was down; deduplicated by `trade_id`."""
        ...

    async def funding(self, *, since_ms: int = 0) -> list[FundingPayment]:
        """Our funding payments on this market at or after `since_ms`, oldest first, from the venue's
        history (Extended `/user/funding/history`, Lighter `/api/v1/positionFunding`); by `payment_id`."""
        ...

    async def account_money(self) -> AccountMoney:
        """The venue's own money picture of the account on this market (balance, position PnL, mark)."""
        ...

    async def funding_rate(self) -> Decimal | None:
        """The current funding rate per hour as a fraction, positive = longs pay shorts (None: not known)."""
        ...

    def health(self) -> VenueHealth: ...

    def statistics(self) -> VenueStatistics: ...


# Set by `with hedge_path():` around a venue read that a hedge cannot go out, or be known, without (the
# executor's lookup of an ambiguous hedge, a venue's re-sync). An adapter with a rate budget lets it take
# the share kept for hedges (Lighter); one without ignores it.
_HEDGE_PATH: contextvars.ContextVar[bool] = contextvars.ContextVar("hedge_path", default=False)


def on_hedge_path() -> bool:
    return _HEDGE_PATH.get()


class hedge_path:
    """`with hedge_path():` venue requests of this task are on the hedge path (a budget's priority share).
    Child tasks started inside inherit it: wrap single awaits, not a service."""

    def __enter__(self) -> None:
        self._token = _HEDGE_PATH.set(True)

    def __exit__(self, *exc: object) -> None:
        _HEDGE_PATH.reset(self._token)


async def reporting_written(call: Awaitable[_T], written: Callable[[], None] | None) -> _T:
    """Await a REST send and call `written` (place_taker's callback) once the request reached the venue:
    on its answer, a refusal included, or when the outcome is unknown. Not on a `TransportError`: that
    send certainly did not go out (httpx does not say when a request was written; the answer stands in)."""
    try:
        out = await call
    except TransportError:
        raise
    except BaseException:
        if written is not None:
            written()
        raise
    if written is not None:
        written()
    return out
