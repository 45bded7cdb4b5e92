"""The PnL book: fills and funding payments in, money components out. Pure: no I/O, no Trio.

Definitions (docs/pnl.md has them as formulas with a worked example):

* **price PnL** of a leg, by average cost: a fill that grows a position adds its notional to the
  leg's cost; a fill that shrinks it takes the closed share of the cost out and books
  `proceeds - cost taken out` as **realised**. **Unrealised** is `position * mark - cost`.
  `realised + unrealised` therefore equals the leg's cash flows plus `position * mark` exactly,
  whatever the rounding of the cost taken out (it enters both terms with opposite signs).
* **fees** as the venue charged them: a fee > 0 is paid, a fee < 0 is a rebate received; kept
  per venue and liquidity (maker / taker), paid and rebates apart.
* **funding** per venue: the sum of payments, > 0 received.
* **net** = realised + unrealised - fees + funding, in the quote currency.

Money is Decimal; sums run in a wide context so that adding never rounds, and the only
division (the closed share of the cost) is quantized to `COST_UNIT`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from hedged.venues.base import ZERO, Liquidity, Side, Venue

COST_UNIT = Decimal("1e-18")  # the cost taken out of a position when it shrinks is rounded to this
_WIDE = Context(prec=80)  # additions of quote amounts never round at this precision


@dataclass(slots=True)
class VenueMoney:
    """What one venue's fills and payments contributed over some period (a bucket)."""

    realised: Decimal = ZERO
    fees_paid: dict[str, Decimal] = field(default_factory=dict)  # by liquidity; sum of fees > 0
    rebates: dict[str, Decimal] = field(default_factory=dict)  # by liquidity; sum of -fee for fees < 0
    funding: Decimal = ZERO
    volume: Decimal = ZERO  # traded notional, quote
    fills: int = 0
    payments: int = 0

    @property
    def fees(self) -> Decimal:
        """Net fee cost: paid minus rebates."""
        return sum(self.fees_paid.values(), ZERO) - sum(self.rebates.values(), ZERO)

    @property
    def net_realised(self) -> Decimal:
        return self.realised - self.fees + self.funding


@dataclass(slots=True)
class Position:
    """One leg: signed size (long > 0) and its average-cost basis (signed notional)."""

    size: Decimal = ZERO
    cost: Decimal = ZERO

    def unrealised(self, mark: Decimal | None) -> Decimal | None:
        if self.size == 0:
            return ZERO
        return None if mark is None else self.size * mark - self.cost


@dataclass(frozen=True, slots=True)
class LegPnl:
    venue: Venue
    realised: Decimal
    unrealised: Decimal | None  # None: a position but no mark price to value it
    fees_paid: Mapping[str, Decimal]
    rebates: Mapping[str, Decimal]
    fees: Decimal
    funding: Decimal
    position: Decimal
    mark: Decimal | None
    volume: Decimal
    fills: int

    @property
    def price(self) -> Decimal:
        return self.realised + (self.unrealised or ZERO)

    @property
    def net(self) -> Decimal:
        return self.price - self.fees + self.funding


@dataclass(frozen=True, slots=True)
class PnlReport:
    """Components per venue and their totals. `marked` is False when some open position had no mark."""

    legs: tuple[LegPnl, ...]

    def leg(self, venue: Venue) -> LegPnl:
        return next(leg for leg in self.legs if leg.venue is venue)

    @property
    def marked(self) -> bool:
        return all(leg.unrealised is not None for leg in self.legs)

    def total(self, name: str) -> Decimal:
        return sum((getattr(leg, name) or ZERO for leg in self.legs), ZERO)

    @property
    def realised(self) -> Decimal:
        return self.total("realised")

    @property
    def unrealised(self) -> Decimal:
        return self.total("unrealised")

    @property
    def fees(self) -> Decimal:
        return self.total("fees")

    @property
    def funding(self) -> Decimal:
        return self.total("funding")

    @property
    def net(self) -> Decimal:
        return self.total("net")

    def components(self) -> dict[str, Decimal]:
        """Flat name -> value: the shape of `hedged pnl --json`, the status document and the metrics."""
        out: dict[str, Decimal] = {}
        for leg in self.legs:
            v = str(leg.venue)
            out[f"{v}.realised"] = leg.realised
            out[f"{v}.unrealised"] = leg.unrealised if leg.unrealised is not None else ZERO
            for liq in (Liquidity.MAKER, Liquidity.TAKER):
                out[f"{v}.fees_paid.{liq}"] = leg.fees_paid.get(liq, ZERO)
                out[f"{v}.rebates.{liq}"] = leg.rebates.get(liq, ZERO)
            out[f"{v}.funding"] = leg.funding
            out[f"{v}.net"] = leg.net
        out["realised"] = self.realised
        out["unrealised"] = self.unrealised
        out["price"] = self.total("price")
        out["fees"] = self.fees
        out["funding"] = self.funding
        out["net"] = self.net
        return out


class PnlBook:
    """Fold fills and funding into positions and per-bucket money.

    A bucket is any hashable key the caller names on each event ("all", ("day", "2026-12-01"),
    ("cycle", 7)); an event adds its money to every bucket it names. Positions (and so
    unrealised PnL) are kept once, for the whole stream: a cycle's realised PnL is measured
    against the cost basis the position had when the cycle began.
    """

    def __init__(self, venues: Iterable[Venue]) -> None:
        self.venues = tuple(venues)
        self.positions: dict[Venue, Position] = {v: Position() for v in self.venues}
        self.buckets: dict[Hashable, dict[Venue, VenueMoney]] = {}

    def _money(self, bucket: Hashable, venue: Venue) -> VenueMoney:
        per = self.buckets.get(bucket)
        if per is None:
            per = self.buckets[bucket] = {v: VenueMoney() for v in self.venues}
        return per[venue]

    def fill(self, venue: Venue, side: Side, qty: Decimal, price: Decimal, fee: Decimal | None,
             liquidity: str | None, buckets: Iterable[Hashable] = ("all",)) -> Decimal:
        """Apply one fill; returns the price PnL it realised. `fee` None = not reported (counted as 0)."""
        if qty <= 0:
            raise ValueError(f"fill qty must be positive, got {qty}")
        with localcontext(_WIDE):
            pos = self.positions[venue]
            signed = qty * side.sign
            realised = ZERO
            if pos.size == 0 or (pos.size > 0) == (signed > 0):
                pos.cost += signed * price
                pos.size += signed
            else:
                closing = min(qty, abs(pos.size))
                # The closed share of the cost basis; the one place a division (and so rounding) happens.
                taken = (pos.cost * closing / abs(pos.size)).quantize(COST_UNIT, ROUND_HALF_EVEN)
                if closing == abs(pos.size):
                    taken = pos.cost  # fully closed: no cost is left behind by rounding
                proceeds = closing * price * (1 if pos.size > 0 else -1)
                realised = proceeds - taken
                pos.cost -= taken
                pos.size += closing * side.sign
                opening = qty - closing
                if opening:  # flipped through zero: the rest opens the other way at this price
                    pos.cost += opening * side.sign * price
                    pos.size += opening * side.sign
            liq = str(liquidity) if liquidity is not None else "unknown"
            fee = ZERO if fee is None else fee
            for bucket in buckets:
                m = self._money(bucket, venue)
                m.realised += realised
                if fee > 0:
                    m.fees_paid[liq] = m.fees_paid.get(liq, ZERO) + fee
                elif fee < 0:
                    m.rebates[liq] = m.rebates.get(liq, ZERO) - fee
                m.volume += qty * price
                m.fills += 1
        return realised

    def funding(self, venue: Venue, amount: Decimal, buckets: Iterable[Hashable] = ("all",)) -> None:
        with localcontext(_WIDE):
            for bucket in buckets:
                m = self._money(bucket, venue)
                m.funding += amount
                m.payments += 1

    def drop(self, bucket: Hashable) -> None:
        self.buckets.pop(bucket, None)

    def report(self, bucket: Hashable = "all", marks: Mapping[Venue, Decimal | None] | None = None, *,
               unrealised: bool = True) -> PnlReport:
        """The bucket's components. `unrealised` (for the whole-stream bucket): value open positions
        at `marks`; a per-period bucket leaves it out (its positions are the stream's, not its own)."""
        marks = marks or {}
        per = self.buckets.get(bucket) or {v: VenueMoney() for v in self.venues}
        legs = []
        with localcontext(_WIDE):
            for v in self.venues:
                m, pos = per[v], self.positions[v]
                mark = marks.get(v)
                legs.append(LegPnl(
                    venue=v, realised=m.realised, unrealised=pos.unrealised(mark) if unrealised else ZERO,
                    fees_paid=dict(m.fees_paid), rebates=dict(m.rebates), fees=m.fees, funding=m.funding,
                    position=pos.size, mark=mark, volume=m.volume, fills=m.fills))
        return PnlReport(tuple(legs))
