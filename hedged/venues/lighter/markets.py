"""Lighter markets: the integer scale of prices and sizes, and wire decimals as `Decimal`.

The only place (with `normalize.py`) where the venue's integer encodings meet `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from hedged.venues.base import MarketRules, Venue

if TYPE_CHECKING:
    from hedged.venues.lighter.wire import OrderBookInfo

MAX_CLIENT_ORDER_INDEX = 2**48 - 1
MAX_SIGNED_PRICE = 2**31 - 1  # SignCreateOrder declares `price` as a C int


class MarketUnsupported(ValueError):
    """The market's metadata is outside what hedged knows how to trade safely."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One Lighter market: ids and the integer scale of its prices and sizes."""

    symbol: str
    market_id: int
    size_decimals: int
    price_decimals: int
    min_base: Decimal
    min_quote: Decimal

    @staticmethod
    def from_info(info: OrderBookInfo) -> MarketSpec:
        for name in ("multiplier", "quote_multiplier"):
            value = getattr(info, name)
            if value is not None and Decimal(str(value)) != 1:
                raise MarketUnsupported(f"market {info.symbol} has {name}={value}; only 1 is supported")
        if info.status != "active":
            raise MarketUnsupported(f"market {info.symbol} is {info.status}")
        return MarketSpec(
            symbol=info.symbol,
            market_id=info.market_id,
            size_decimals=info.supported_size_decimals,
            price_decimals=info.supported_price_decimals,
            min_base=to_decimal(info.min_base_amount),
            min_quote=to_decimal(info.min_quote_amount),
        )

    def rules(self) -> MarketRules:
        return MarketRules(
            venue=Venue.LIGHTER,
            market=self.symbol,
            tick=Decimal(1).scaleb(-self.price_decimals),
            size_step=Decimal(1).scaleb(-self.size_decimals),
            min_size=self.min_base,
            min_notional=self.min_quote,
        )

    def encode_size(self, qty: Decimal) -> int:
        return _to_int(qty, self.size_decimals, "size")

    def encode_price(self, price: Decimal) -> int:
        value = _to_int(price, self.price_decimals, "price")
        if value > MAX_SIGNED_PRICE:
            raise ValueError(f"price {price} does not fit the signer's 32-bit price")
        return value

    def decode_size(self, value: int) -> Decimal:
        return Decimal(value).scaleb(-self.size_decimals)

    def decode_price(self, value: int) -> Decimal:
        return Decimal(value).scaleb(-self.price_decimals)


def _to_int(value: Decimal, decimals: int, what: str) -> int:
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value} is not a multiple of 10^-{decimals}")
    if scaled < 1:
        raise ValueError(f"{what} {value} encodes below 1")
    return int(scaled)


def to_decimal(text: str | int | float | None) -> Decimal:
    """A wire decimal string as Decimal; raises ValueError (not InvalidOperation) on junk."""
    if text is None:
        raise ValueError("missing decimal")
    try:
        value = Decimal(str(text))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {text!r}")
    return value
