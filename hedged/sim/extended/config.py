"""Settings of the Extended simulator and its throw-away credentials.

Every field has a default, so `ExtendedSimSettings()` is a working SOL-USD venue. Keys are
generated from `seed` with fast_stark_crypto: they are test keys, never real ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import fast_stark_crypto

from hedged.sim.common.market import MarketSettings
from hedged.sim.common.money import FundingSettings

_EC_ORDER_BITS = 250  # below the STARK curve order, so any draw is a valid private key


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtendedSimSettings:
    """Extended simulator settings (docs/simulators.md has the same list as a table)."""

    seed: int = 1
    """Seeds keys, ids and faults (the market has its own seed in `market_settings`)."""
    market_settings: MarketSettings = field(default_factory=MarketSettings)
    live_market: bool = True
    """Step the market (random walk, book churn, other traders' flow) in real (or mock) time.
    False: the book stays put and fills happen only through the control surface."""

    # -- where it is served
    rest_prefix: str = "/api/v1"
    ws_prefix: str = "/stream.extended.exchange/v1"
    control_path: str | None = "/_sim"
    """Local HTTP control surface (see control.py) on the same port; None disables it."""

    # -- the market (GET /info/markets)
    market: str = "SOL-USD"
    asset: str = "SOL"
    asset_precision: int = 2
    tick: Decimal = Decimal("0.01")
    step: Decimal = Decimal("0.01")
    min_size: Decimal = Decimal("0.1")
    max_market_order_value: Decimal = Decimal("500000")
    max_limit_order_value: Decimal = Decimal("2500000")
    max_position_value: Decimal = Decimal("5000000")
    max_leverage: Decimal = Decimal("20")
    max_num_orders: int = 200
    limit_price_cap: Decimal = Decimal("0.05")
    limit_price_floor: Decimal = Decimal("0.05")
    synthetic_id: str = "0x534f4c2d33"
    synthetic_resolution: int = 1000
    collateral_id: str = "0x1e2f"
    collateral_resolution: int = 1_000_000
    maker_fee: Decimal = Decimal("0")
    taker_fee: Decimal = Decimal("0.00025")
    """Fee rates served by `/user/fees` and charged on every fill (docs: 0 % maker, 0.025 % taker)."""
    funding: FundingSettings = field(default_factory=FundingSettings)
    """Hourly funding on a seeded rate path (`hedged/sim/common/money.py`); served as `marketStats.fundingRate`."""

    # -- the account
    account_id: int = 55012
    account_index: int = 0
    vault: int = 4242
    initial_balance: Decimal = Decimal("10000")
    leverage: Decimal = Decimal("5")
    api_key: str | None = None
    """None: derived from `seed` (see `keys()`)."""
    stark_private_key: int | None = field(default=None, repr=False)
    """None: derived from `seed`. Never put a real key here."""

    # -- signing and validation
    domain_name: str = "Perpetuals"
    domain_version: str = "v0"
    domain_chain_id: str = "SN_MAIN"
    domain_revision: str = "1"
    verify_signatures: bool = True
    max_expiry_days: int = 90
    nonce_max: int = 2**31
    require_user_agent: bool = True

    # -- behaviour
    start_epoch_ms: int | None = None
    """Venue clock at start (epoch ms); None = the wall clock. Fix it for runs that must repeat byte for byte."""
    accept_delay: float = 0.005
    """Seconds between `POST /user/order` returning OK and the engine's ORDER message."""
    cancel_delay: float = 0.005
    """Seconds between a cancel's OK and the CANCELLED message."""
    post_only_failed_status: Literal["CANCELLED", "REJECTED"] = "REJECTED"
    get_by_id_lag: float = 0.0
    """`GET /user/orders/{id}` (and by external id) answer 404 for this long after the engine accepted."""
    rate_limit_per_min: int = 1000
    """REST requests per rolling minute before HTTP 429 (0 = unlimited)."""
    book_snapshot_interval: float = 60.0
    """A fresh SNAPSHOT on full-depth book streams this often (seconds)."""
    ping_interval: float | None = 15.0
    pong_timeout: float = 10.0
    id_base: int = 0
    """Added to every order and trade id. 0 keeps in-memory tests repeatable; the daemon's embedded sims
    get a run-unique base (`SimPair.build`), so a second run never reuses the first run's ids."""
    page_limit_max: int = 100
    """The largest page a paginated read (`/user/trades`, `/user/orders/history`) returns, whatever `limit` asks."""
    null_fill_on_cancel: bool = False
    """Fault knob: CANCELLED orders carry `filledQty: null` (legal: the SDK's model makes it optional)."""


@dataclass(frozen=True, slots=True)
class SimKeys:
    """Throw-away credentials of the simulated account."""

    api_key: str
    private_key: int = field(repr=False)
    public_key: int

    @property
    def public_key_hex(self) -> str:
        return hex(self.public_key)

    @property
    def private_key_hex(self) -> str:
        return hex(self.private_key)


def derive_keys(settings: ExtendedSimSettings) -> SimKeys:
    rng = random.Random(f"{settings.seed}:extended-keys")
    private = settings.stark_private_key or (rng.getrandbits(_EC_ORDER_BITS) | 1)
    api_key = settings.api_key or f"sim-{rng.getrandbits(128):032x}"
    return SimKeys(api_key=api_key, private_key=private, public_key=fast_stark_crypto.get_public_key(private))
