"""Pure, seeded market model shared by the venue simulators.

One `Market` holds a reference price that follows a random walk. Each venue registers a
`VenueBook` (its own tick, size step and basis) that is rebuilt around the reference on
every step, and that collects the other traders' aggressive flow. Nothing here does I/O
or knows about Trio: callers pass the current time explicitly (`Market.advance(now)`), so
the same seed and the same sequence of calls always give the same run.

Typical use by a venue simulator::

    market = Market(MarketSettings(seed=7))
    book = market.venue("extended", tick=Decimal("0.01"), step=Decimal("0.01"))
    market.advance(now)                      # random walk + book rebuild + flow
    flows = book.drain_flow()                # other traders' market orders since last call
    fills = match_resting(book, my_resting_orders, flows)
    taker_fills = book.take(Side.BUY, qty, limit_price)   # our aggressive order

Randomness: every stream of randomness has its own `random.Random`, seeded from
`MarketSettings.seed` and a fixed label, so two `Market` objects built from the same settings
share the same reference path even when their venues consume flow differently.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from hedged.venues.base import Side

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSettings:
    """Settings of the shared market. Every field has a default that gives a calm SOL-like market."""

    seed: int = 1
    """Seeds every random stream of the model (reference walk, book sizes, flow)."""
    start_price: Decimal = Decimal("150")
    """Reference price at time zero."""
    volatility: float = 0.0002
    """Standard deviation of the reference log-return per step (0.0002 at 10 steps/s is ~7 %/day)."""
    spread: Decimal = Decimal("0.0002")
    """Relative distance between best bid and best ask (at least one tick)."""
    depth_levels: int = 10
    """Levels per side in each venue book."""
    level_size: Decimal = Decimal("50")
    """Mean size of a level; actual sizes are uniform in [0.5, 1.5] x this, on the venue's size step."""
    level_churn: float = 0.3
    """Probability per step that a level keeps none of its previous size (makes DELTAs realistic)."""
    basis: Decimal = Decimal("0.0003")
    """Relative basis between venues: the first venue sits at +basis/2, the second at -basis/2."""
    flow_rate: float = 1.0
    """Other traders' aggressive orders per second, per side, per venue."""
    flow_size_min: Decimal = Decimal("0.05")
    """Smallest other-trader order (base units); it is what partially fills our resting orders."""
    flow_size_max: Decimal = Decimal("1.0")
    """Largest other-trader order (base units)."""
    tick_interval: float = 0.1
    """Seconds of simulated time per market step."""


@dataclass(frozen=True, slots=True)
class Flow:
    """One aggressive order from another trader: `aggressor` BUY lifts asks, SELL hits bids."""

    aggressor: Side
    qty: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    """One (price, qty) execution, from `VenueBook.take` or `match_resting`."""

    price: Decimal
    qty: Decimal
    key: Hashable = None  # the resting order's key for `match_resting`; None for taker fills


@dataclass(slots=True)
class RestingOrder:
    """The model's view of one of our resting orders (venue sims keep richer records)."""

    key: Hashable
    side: Side
    price: Decimal
    remaining: Decimal


def _floor_to(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_FLOOR) * step


def _ceil_to(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_CEILING) * step


@dataclass(slots=True)
class VenueBook:
    """The other traders' book on one venue. Levels are (price, size), best first."""

    name: str
    tick: Decimal
    step: Decimal
    basis: Decimal
    settings: MarketSettings
    rng: random.Random
    bids: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    asks: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    pulled: set[Side] = field(default_factory=set)
    """Sides whose liquidity is pulled (fault/control): they stay empty until restored."""
    version: int = 0
    """Increments on every change, so stream writers can skip unchanged books cheaply."""
    _flow: list[Flow] = field(default_factory=list)
    _sizes: dict[bool, dict[int, Decimal]] = field(default_factory=dict)  # is-bid -> price in ticks -> size
    _prices: dict[int, Decimal] = field(default_factory=dict)  # price in ticks -> the one Decimal for it

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    def levels(self, side: Side) -> list[tuple[Decimal, Decimal]]:
        """Resting liquidity on `side` (BUY = bids)."""
        return self.bids if side is Side.BUY else self.asks

    def rebuild(self, reference: Decimal) -> None:
        """Lay the book out again around `reference` (times 1 + basis)."""
        s = self.settings
        mid = reference * (1 + self.basis)
        half = mid * s.spread / 2
        bid = _floor_to(mid - half, self.tick)
        ask = max(_ceil_to(mid + half, self.tick), bid + self.tick)
        self.bids = self._side(Side.BUY, bid, -self.tick)
        self.asks = self._side(Side.SELL, ask, self.tick)
        self.version += 1

    def _side(self, side: Side, best: Decimal, delta: Decimal) -> list[tuple[Decimal, Decimal]]:
        if side in self.pulled:
            return []
        s = self.settings
        # Per-side dicts keyed by the price in whole ticks: hashing a (Side, Decimal) key for every
        # level (the enum in Python code, the fresh Decimal from scratch) dominated a market step.
        sizes = self._sizes.setdefault(side is Side.BUY, {})
        key = int(best / self.tick)
        dk = 1 if delta > 0 else -1
        mean_units = float(s.level_size / self.step)
        churn, rand, step = s.level_churn, self.rng.random, self.step
        out: list[tuple[Decimal, Decimal]] = []
        # One Decimal object per price (while `best` has the tick's exponent, as it does unless a
        # quotient came out exact): consumers keying dicts by price (stream diffs, text caches) then hash
        # each price once, not once per step. The object is the same value and digits `best + n * delta`
        # would give.
        prices = self._prices if best.as_tuple().exponent == self.tick.as_tuple().exponent else None
        if prices is not None and len(prices) > 4096:
            prices.clear()
        price = best
        for _ in range(s.depth_levels):
            if price <= 0:
                break
            size = sizes.get(key)
            if size is None or rand() < churn:
                # Whole size steps drawn as a float: Decimal arithmetic here dominated a market step.
                size = step * max(1, int(mean_units * (0.5 + rand())))
                sizes[key] = size
            if prices is not None:
                price = prices.setdefault(key, price)
            out.append((price, size))
            price += delta
            key += dk
        # Forget sizes far from the current book so memory stays bounded on long runs.
        if sum(map(len, self._sizes.values())) > 8 * s.depth_levels:
            keep = {key - dk * (i + 1) for i in range(len(out))}
            self._sizes[side is Side.BUY] = {k: v for k, v in sizes.items() if k in keep}
        return out

    def generate_flow(self, dt: float) -> None:
        """Draw other traders' aggressive orders for `dt` seconds (Bernoulli per side per step)."""
        s = self.settings
        p = min(1.0, s.flow_rate * dt)
        for aggressor in (Side.BUY, Side.SELL):
            if self.rng.random() < p:
                span = float(s.flow_size_max - s.flow_size_min)
                raw = s.flow_size_min + Decimal(repr(span * self.rng.random()))
                qty = max(self.step, _floor_to(raw, self.step))
                self._flow.append(Flow(aggressor, qty))

    def drain_flow(self) -> list[Flow]:
        """Other traders' orders since the previous call (the caller matches them to our orders)."""
        out, self._flow = self._flow, []
        return out

    def add_flow(self, flow: Flow) -> None:
        """Inject one other-trader order (control surface: 'someone sells 2 SOL now')."""
        self._flow.append(flow)

    def take(self, side: Side, qty: Decimal, limit: Decimal | None = None) -> list[Fill]:
        """Match our aggressive order (BUY lifts asks) against the book, consuming liquidity.

        Stops at `limit` (inclusive) or when the book runs out, so a thin book fills partially.
        Consumed size stays consumed until the next rebuild.
        """
        levels = self.asks if side is Side.BUY else self.bids
        fills: list[Fill] = []
        left = qty
        while left > 0 and levels:
            price, size = levels[0]
            if limit is not None and (price > limit if side is Side.BUY else price < limit):
                break
            q = min(left, size)
            fills.append(Fill(price, q))
            left -= q
            if q == size:
                levels.pop(0)
            else:
                levels[0] = (price, size - q)
        if fills:
            self.version += 1
        return fills

    def would_cross(self, side: Side, price: Decimal) -> bool:
        """True if a BUY at `price` reaches the best ask (or a SELL the best bid): post-only fails."""
        if side is Side.BUY:
            return self.best_ask is not None and price >= self.best_ask
        return self.best_bid is not None and price <= self.best_bid

    def pull(self, side: Side | None = None) -> None:
        """Remove all liquidity on one side (or both); it stays away until `restore`."""
        self.pulled |= {side} if side is not None else {Side.BUY, Side.SELL}
        if Side.BUY in self.pulled:
            self.bids = []
        if Side.SELL in self.pulled:
            self.asks = []
        self.version += 1

    def restore(self) -> None:
        self.pulled.clear()


class Market:
    """Reference price random walk plus one `VenueBook` per registered venue."""

    def __init__(self, settings: MarketSettings | None = None) -> None:
        self.settings = settings or MarketSettings()
        self.reference = self.settings.start_price
        self.steps = 0
        self.time = 0.0
        self._started = False
        self._walk = random.Random(f"{self.settings.seed}:reference")
        self.books: dict[str, VenueBook] = {}

    def venue(self, name: str, *, tick: Decimal, step: Decimal, basis: Decimal | None = None) -> VenueBook:
        """Register (or return) the book of venue `name`. Default basis: +basis/2, then -basis/2."""
        if name in self.books:
            return self.books[name]
        if basis is None:
            basis = self.settings.basis / 2 * (1 if len(self.books) % 2 == 0 else -1)
        book = VenueBook(
            name=name,
            tick=tick,
            step=step,
            basis=basis,
            settings=self.settings,
            rng=random.Random(f"{self.settings.seed}:book:{name}"),
        )
        book.rebuild(self.reference)
        self.books[name] = book
        return book

    def advance(self, now: float) -> int:
        """Run every whole step between the last call and `now`; returns the number of steps.

        The first call only anchors the clock, so sims may start at any `trio.current_time()`.
        """
        if not self._started:
            self._started, self.time = True, now
            return 0
        dt = self.settings.tick_interval
        # The epsilon makes `advance(time + dt)` take its step despite float rounding; without it a
        # driver sleeping until exactly that deadline would wake, step zero times, and spin.
        n = int((now - self.time) / dt + 1e-9) if dt > 0 else 0
        for _ in range(n):
            self.step()
        self.time += n * dt
        return n

    def step(self) -> None:
        """One step: move the reference, rebuild every book, draw every venue's flow."""
        s = self.settings
        if s.volatility > 0:
            ret = self._walk.gauss(0.0, s.volatility)
            self.reference = self.reference * Decimal(repr(math.exp(ret)))
            self.reference = self.reference.quantize(Decimal("1e-8"))
        for book in self.books.values():
            book.rebuild(self.reference)
            book.generate_flow(s.tick_interval)
        self.steps += 1

    def set_price(self, price: Decimal) -> None:
        """Control surface: jump the reference to `price` and rebuild the books now."""
        self.reference = price
        for book in self.books.values():
            book.rebuild(price)

    def move_price(self, pct: Decimal) -> None:
        """Control surface: move the reference by `pct` percent (e.g. Decimal('-1.5'))."""
        self.set_price((self.reference * (1 + pct / 100)).quantize(Decimal("1e-8")))


def match_resting(
    book: VenueBook, orders: Sequence[RestingOrder], flows: Iterable[Flow], *, crossed_fill: bool = True
) -> list[Fill]:
    """Fill our resting orders from other traders' flow; pure, mutates `orders[i].remaining`.

    A SELL flow fills our BUYs priced at or above the book's best bid (we are at the front of
    the queue there), best price first and in `orders` order within a price; a BUY flow
    mirrors that on asks. With `crossed_fill`, an order the book has moved *through* (a BUY at
    or above the best ask) also gets a random partial fill each call, as a taker would sweep it.
    Fills are at the order's own price (maker price).
    """
    fills: list[Fill] = []

    def eligible(side: Side) -> list[RestingOrder]:
        best = book.best_bid if side is Side.BUY else book.best_ask
        out = [
            o
            for o in orders
            if o.side is side
            and o.remaining > 0
            and (best is None or (o.price >= best if side is Side.BUY else o.price <= best))
        ]
        out.sort(key=lambda o: -o.price if side is Side.BUY else o.price)
        return out

    for flow in flows:
        left = flow.qty
        for o in eligible(flow.aggressor.opposite):
            if left <= 0:
                break
            q = min(left, o.remaining)
            o.remaining -= q
            left -= q
            fills.append(Fill(o.price, q, o.key))
    if crossed_fill:
        s = book.settings
        for o in orders:
            if o.remaining > 0 and book.would_cross(o.side, o.price):
                span = float(s.flow_size_max - s.flow_size_min)
                raw = s.flow_size_min + Decimal(repr(span * book.rng.random()))
                q = min(o.remaining, max(book.step, _floor_to(raw, book.step)))
                o.remaining -= q
                fills.append(Fill(o.price, q, o.key))
    return fills
