"""The Lighter simulator's settings (`LighterSimSettings`, `Latency`); re-exported by server.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hedged.sim.lighter.tx import LighterFees, MarketSpec
from hedged.sim.common.money import FundingSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """The venue's deliberate speed bump before the sequencer acts (lighter.md §7)."""

    taker_s: float = 0.0
    """Delay before an order that takes liquidity matches (Standard: 0.3 s)."""
    maker_s: float = 0.0
    """Delay before a resting (maker) order is placed (Standard: 0.2 s)."""
    cancel_s: float = 0.0
    """Delay before a cancel, cancel-all or modify takes effect (Standard: 0.2 s)."""
    jitter_s: float = 0.0
    """Uniform extra delay in [0, jitter_s], drawn from the sim's seeded rng."""

    @classmethod
    def standard(cls) -> Latency:
        return cls(taker_s=0.3, maker_s=0.2, cancel_s=0.2, jitter_s=0.01)

    @classmethod
    def premium(cls) -> Latency:
        return cls(taker_s=0.2, maker_s=0.0, cancel_s=0.0, jitter_s=0.01)


@dataclass(frozen=True, slots=True, kw_only=True)
class LighterSimSettings:
    """Every knob of the Lighter simulator; defaults suit deterministic tests."""

    seed: int = 1
    """Seeds the sim's own randomness (book nonce gaps, offsets, jitter)."""
    market: MarketSpec = field(default_factory=MarketSpec)
    """The one traded market (default SOL, id 2, 3/3 decimals)."""
    extra_markets: tuple[MarketSpec, ...] = (
        MarketSpec(symbol="ETH", market_id=0, size_decimals=4, price_decimals=2),
        MarketSpec(symbol="BTC", market_id=1, size_decimals=5, price_decimals=1),
    )
    """Listed in orderBooks/orderBookDetails only, so clients must look markets up by symbol."""
    latency: Latency = field(default_factory=Latency)
    """Deliberate delays; `Latency.standard()` is the realistic 200-300 ms profile."""
    book_interval_s: float = 0.05
    """Seconds between order_book updates."""
    initial_nonce: int = 1
    """First nonce of every newly registered API key."""
    token_max_lifetime_s: float = 8 * 3600
    """Auth tokens whose deadline is further away than this are refused."""
    cut_expired_subscriptions: bool = False
    """Stop private channels (with an error frame) once their token expires."""
    account_orders_with_account: bool = False
    """Message channel `account_orders:{M}:{A}` instead of `account_orders:{M}`."""
    idle_timeout_s: float | None = None
    """Close a WS whose client sent no application message for this long (venue: 120 s). Off by default
    because protocol-level pings are invisible to the handler."""
    ws_queue_size: int = 10_000
    """Frames buffered per connection; a reader that falls further behind is disconnected."""
    rest_per_minute: int | None = None
    """REST requests per rolling minute before HTTP 429 (Standard tier: 60). None = unlimited."""
    sendtx_per_minute: int | None = None
    """sendTx/sendTxBatch (REST and WS) per rolling minute before 429. None = unlimited."""
    collateral: Decimal = Decimal(100_000)
    """Default collateral of accounts added without an explicit amount."""
    control_path: str | None = "/_sim"
    """Local HTTP control surface (see control.py) on the same port; None disables it."""
    id_base: int = 0
    """Added to every order index and trade id. 0 keeps in-memory tests repeatable; the daemon's embedded
    sims get a run-unique base (`SimPair.build`), so a second run never reuses the first run's ids."""
    page_limit_max: int = 100
    """The largest page `GET /trades` returns, whatever `limit` asks."""
    fees: LighterFees = field(default_factory=LighterFees.standard)
    """Trade fee rates in 1e-6 of the quote amount: Standard 0/0, `LighterFees.premium()` 40/280."""
    funding: FundingSettings = field(default_factory=FundingSettings)
    """Hourly funding on a seeded rate path (money.py)."""
