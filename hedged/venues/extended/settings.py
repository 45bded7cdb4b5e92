"""Extended adapter settings: URLs, market, credentials, timeouts and limits (secrets hidden from repr)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hedged.venues.extended.signing import DOMAINS


@dataclass(frozen=True, kw_only=True)
class ExtendedSettings:
    """Everything the Extended adapter needs. Secrets are values here and never printed."""

    rest_url: str
    """REST base, e.g. https://api.starknet.extended.exchange/api/v1"""
    ws_url: str
    """WS v1 base, e.g. wss://api.starknet.extended.exchange/stream.extended.exchange/v1"""
    market: str
    """Market name, e.g. SOL-USD"""
    api_key: str = field(repr=False)
    stark_private_key: str = field(repr=False)
    """0x-prefixed hex; used only inside the x10 signer."""
    stark_public_key: str
    vault: int
    """Collateral position id (settlement.collateralPosition)."""
    signing_domain: str = "mainnet"
    """mainnet | testnet | sim"""
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 10.0
    """Per REST request (httpx timeouts and a Trio deadline)."""
    resolve_timeout_s: float = 20.0
    """How long a placement with a lost reply is looked up before AmbiguousOutcome."""
    ready_timeout_s: float = 10.0
    """How long a placement waits for the account stream to be (re)synced."""
    cancel_timeout_s: float = 10.0
    read_timeout_s: float = 15.0
    """Retry budget of reads (open orders, positions, lookups)."""
    order_expiry_s: float = 3600.0
    rate_limit_per_minute: int = 1000
    """REST requests per rolling minute (extended.md section 8: 1,000 per IP by default)."""
    book_stale_s: float = 65.0
    """Reconnect the book stream when nothing arrives for this long. The venue sends a fresh
    SNAPSHOT every minute even on a quiet market, so this stays above 60 s; quoting decisions
    use health() ages, which see a quiet feed much sooner."""
    ping_interval_s: float = 15.0
    ping_timeout_s: float = 10.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 30.0
    sign_in_thread: bool = False
    """Sign in a worker thread (bench/adapters_extended.py says whether it pays)."""
    client_id_prefix: str = "hd"

    def __post_init__(self) -> None:
        if self.signing_domain not in DOMAINS:
            raise ValueError(f"signing_domain must be one of {sorted(DOMAINS)}")
        for name in ("connect_timeout_s", "request_timeout_s", "resolve_timeout_s", "ready_timeout_s",
                     "cancel_timeout_s", "read_timeout_s", "order_expiry_s", "book_stale_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not self.client_id_prefix.isascii() or len(self.client_id_prefix) > 8:
            raise ValueError("client_id_prefix must be short ASCII")
