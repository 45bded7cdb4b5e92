"""Lighter adapter settings: URLs, account, key, limits and timeouts (secrets hidden from repr)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hedged.venues.lighter.rest import TIERS

# REST base, WS URL and the chain id signed into every tx (lighter.md §1).
NETWORKS = {
    "mainnet": ("https://mainnet.zklighter.elliot.ai", "wss://mainnet.zklighter.elliot.ai/stream", 304),
    "testnet": ("https://testnet.zklighter.elliot.ai", "wss://testnet.zklighter.elliot.ai/stream", 300),
}


@dataclass(frozen=True)
class HedgeKey:
    """One more API key of the account for parallel hedges: its index and private key (hidden from repr)."""

    index: int  # 3..254, not the primary api_key_index
    private_key: str = field(repr=False)  # 80 hex chars, optional 0x


def _check_private_key(key: str, name: str) -> None:
    key = key.removeprefix("0x")
    if len(key) != 80 or any(c not in "0123456789abcdefABCDEF" for c in key):
        raise ValueError(f"{name} must be 80 hex characters")  # never echo the value


@dataclass(frozen=True)
class LighterSettings:
    """Everything the Lighter adapter needs. Secrets are values (resolved by the caller), hidden from repr."""

    rest_url: str  # e.g. https://mainnet.zklighter.elliot.ai (paths under /api/v1 are added)
    ws_url: str  # e.g. wss://mainnet.zklighter.elliot.ai/stream
    market: str  # Lighter symbol, e.g. "SOL"; the market id is looked up in orderBooks
    account_index: int
    api_key_index: int  # 3..254 (0-2 are reserved by Lighter's apps, 255 is a sentinel)
    api_private_key: str = field(repr=False)  # 80 hex chars, optional 0x
    # More keys of the same account, each with its own nonce sequence: a transaction takes whichever
    # key is free, so a burst's hedges go out side by side instead of one reply after another. The
    # primary key (api_key_index) also mints the auth token and sends cancel-all.
    hedge_keys: tuple[HedgeKey, ...] = ()
    chain_id: int = 304  # 304 mainnet, 300 testnet
    state_dir: Path = Path("state")  # holds the client order index counter
    tier: str = "standard"  # standard | premium | plus: sets the client-side rate limits
    http_timeout_s: float = 5.0  # per REST request (read/write), also a Trio deadline
    connect_timeout_s: float = 3.0  # TCP/TLS connect for REST; WS session setup uses ws_setup_timeout_s
    ws_setup_timeout_s: float = 10.0  # connect + subscribe + re-sync of one WS session
    ws_ping_interval_s: float = 20.0
    ws_pong_timeout_s: float = 10.0
    ws_idle_timeout_s: float = 30.0  # no frame for this long = frozen feed, reconnect
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    tx_over_ws: bool = True  # jsonapi/sendtx on the open socket; REST sendTx when it certainly was not sent
    tx_reply_timeout_s: float = 5.0
    ready_wait_s: float = 5.0  # a send waits this long for the stream to be subscribed and re-synced
    lookup_wait_s: float = 1.0  # cancel by client id waits this long for the venue's order index
    token_lifetime_s: float = 6 * 3600.0  # < the venue's reported 8 h maximum
    token_refresh_margin_s: float = 3600.0
    sign_in_thread: bool = True  # sign in a worker thread (production); False only under a mock clock,
    # where a thread's work looks like idleness and lets the clock jump past every deadline

    @classmethod
    def for_network(cls, network: str, *, rest_url: str = "", ws_url: str = "", **fields: Any) -> LighterSettings:
        """Settings for "mainnet" or "testnet": URLs and chain id filled in (explicit URLs override)."""
        default_rest, default_ws, chain_id = NETWORKS[network]
        return cls(rest_url=rest_url or default_rest, ws_url=ws_url or default_ws, chain_id=chain_id, **fields)

    def __post_init__(self) -> None:
        if not 3 <= self.api_key_index <= 254:
            raise ValueError("api_key_index must be 3..254")
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {sorted(TIERS)}")
        _check_private_key(self.api_private_key, "api_private_key")
        seen = {self.api_key_index}
        for k in self.hedge_keys:
            if not 3 <= k.index <= 254:
                raise ValueError(f"hedge key index {k.index} must be 3..254")
            if k.index in seen:
                raise ValueError(f"hedge key index {k.index} is used twice (or is api_key_index)")
            seen.add(k.index)
            _check_private_key(k.private_key, f"the private key of hedge key {k.index}")

    def private_keys(self) -> list[tuple[int, str]]:
        """(api_key_index, private key) of every key, the primary first (never logged)."""
        return [(self.api_key_index, self.api_private_key), *((k.index, k.private_key) for k in self.hedge_keys)]

    @property
    def key_indexes(self) -> tuple[int, ...]:
        """Every API key this client signs with, the primary first."""
        return (self.api_key_index, *(k.index for k in self.hedge_keys))
