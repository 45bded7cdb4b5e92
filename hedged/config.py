"""The TOML schema of hedged: frozen, typed, validated, unknown keys rejected.

Each dataclass below is one TOML table; its field comments are the reference
documentation: `hedged.configdoc` renders them into `etc/hedged.toml` (also what
`hedged config init` writes) and `docs/config.md`, so the three cannot drift.
Every error names the key path and the rule, e.g.
``cycle.size_min (3) must be <= cycle.size_max (2)``. Secrets are never values
here: the file names the environment variable or credential file that holds them.

This module is the schema only and imports nothing of hedged: the rules are `hedged.configcheck`,
reading a file into a validated `Config` is `hedged.configload` (which uses both).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

EX_CONFIG = 78
EX_NOINPUT = 66


class ConfigError(Exception):
    """A config problem, already phrased for the operator (never contains a secret value)."""

    def __init__(self, message: str, *, exit_code: int = EX_CONFIG) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ---------------------------------------------------------------- schema


@dataclass(frozen=True)
class DaemonConfig:
    name: str = "hedged"  # shown in alerts, metrics and STATUS= lines
    state_dir: Path = Path("state")  # journal, incidents, id counters; created if missing
    graceful_stop_s: float = 20.0  # stop deadline: open hedges get half, then a flatten of what is left 40%
    on_stop: Literal["keep", "flatten"] = "keep"  # keep: hedged legs stay open (`hedged flatten`); flatten: closed
    journal_synchronous: Literal["normal", "full"] = "normal"  # SQLite synchronous mode of the journal


@dataclass(frozen=True)
class LogConfig:
    level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # lowest level written
    format: Literal["auto", "text", "json"] = "auto"  # auto: text on a TTY, JSON lines otherwise


@dataclass(frozen=True)
class MarketConfig:
    extended: str = "SOL-USD"  # Extended market name (maker leg)
    lighter: str = "SOL"  # Lighter market symbol (hedge leg); the market id is looked up


@dataclass(frozen=True)
class CycleConfig:
    direction: Literal["random", "buy", "sell", "funding"] = "random"  # opening maker side; funding: the side funding pays
    funding_min_edge: Decimal = Decimal("0.00001")  # direction=funding: min hourly rate gap, else random (docs/pnl.md)
    size_min: Decimal = Decimal("0.5")  # cycle size range, base units (decimal strings are exact)
    size_max: Decimal = Decimal("2")  # must be on size_step and <= risk.max_position
    size_step: Decimal = Decimal("0.1")  # sizes are drawn on this step; a multiple of both venues' steps
    delay_min_s: float = 2.0  # random pause between cycles, only while flat
    delay_max_s: float = 6.0  # upper end of the pause
    hold_min_s: float = 5.0  # how long the opened position is held
    hold_max_s: float = 15.0  # upper end of the hold
    iterations: int = 0  # cycles to run; 0 = forever
    chase_min_rest_s: float = 1.0  # a maker order rests at least this long before it is chased
    cancel_throttle_s: float = 0.5  # minimum interval between two maker cancels
    maker_timeout_s: float = 600.0  # give up opening/closing a leg after this long


@dataclass(frozen=True)
class HedgeConfig:
    buy_offset_bps_min: Decimal = Decimal(5)  # a BUY hedge is priced this far above the best ask (random in [min, max])
    buy_offset_bps_max: Decimal = Decimal(10)  # 0..1000
    sell_offset_bps_min: Decimal = Decimal(5)  # a SELL hedge is priced this far below the best bid
    sell_offset_bps_max: Decimal = Decimal(10)  # 0..1000
    reprice_step_bps: Decimal = Decimal(10)  # extra aggressiveness per further attempt
    timeout_s: float = 5.0  # deadline of one hedge attempt
    reprice_after_s: float = 2.0  # a resting hedge older than this is cancelled and sent again, tighter
    max_attempts: int = 4  # then: cancel all, flatten, alert, halt (exit 3) unless within tolerance
    backoff_initial_s: float = 0.2  # exponential backoff between attempts
    backoff_max_s: float = 2.0  # its cap
    time_in_force: Literal["gtt", "ioc"] = "gtt"  # "gtt" (rests, can be modified) or "ioc"


@dataclass(frozen=True)
class RiskConfig:
    tolerance_pct: Decimal = Decimal(5)  # tolerance = max(cycle.size_max, cycle size) * pct / 100 ...
    tolerance_floor: Decimal = Decimal("0.05")  # ... but never below this (base units)
    sweep_before_cycle: bool = True  # reconcile and flatten out-of-tolerance legs before each cycle
    max_position: Decimal = Decimal(10)  # absolute cap per leg, base units (at most 1000000)
    guard_grace_s: float = 2.0  # unexplained exposure beyond tolerance for longer than this -> guard acts
    orphan_orders: Literal["cancel", "adopt"] = "cancel"  # open orders left by an earlier run
    reconcile_interval_s: float = 30.0  # periodic reconciliation with both venues
    flatten_aggress_bps: Decimal = Decimal(50)  # a flatten IOC crosses the best price by this much
    pnl_mismatch_quote: Decimal = Decimal("0.05")  # venue vs ledger money (quote) beyond this: incident


@dataclass(frozen=True)
class ExtendedVenueConfig:
    mode: Literal["sim", "testnet", "mainnet"] = "sim"  # "sim" (embedded simulator), "testnet" or "mainnet"
    rest_url: str = ""  # override of the mode's REST base (empty = the mode's default)
    ws_url: str = ""  # override of the mode's WS v1 base
    vault: int = 0  # collateral position id (public; required outside sim)
    stark_public_key: str = ""  # 0x... Stark public key, the L2 key (public; required outside sim)
    api_key_env: str = "HEDGED_EXTENDED_API_KEY"  # secret X-Api-Key: the env var / credential file holding it
    stark_private_key_env: str = "HEDGED_EXTENDED_STARK_PRIVATE_KEY"  # secret: the order signing key


@dataclass(frozen=True)
class LighterVenueConfig:
    mode: Literal["sim", "testnet", "mainnet"] = "sim"  # "sim" (embedded simulator), "testnet" or "mainnet"
    rest_url: str = ""  # override of the mode's REST base
    ws_url: str = ""  # override of the mode's WebSocket base
    account_index: int = 0  # the account (public; required outside sim)
    api_key_index: int = 3  # 3..254; 0-2 are reserved by Lighter's own apps, 255 is a sentinel
    tier: Literal["standard", "premium"] = "standard"  # sets client-side rate limits
    api_private_key_env: str = "HEDGED_LIGHTER_API_PRIVATE_KEY"  # secret: the API key's private key
    hedge_api_keys: tuple[int, ...] = ()  # more keys for parallel hedges, e.g. [4, 5, 6]; key N's secret: <api_private_key_env>_N

    def hedge_key_env(self, index: int) -> str:
        """The secret (env var / credential file) holding hedge key `index`'s private key."""
        return f"{self.api_private_key_env}_{index}"


@dataclass(frozen=True)
class VenuesConfig:
    extended: ExtendedVenueConfig = field(default_factory=ExtendedVenueConfig)
    lighter: LighterVenueConfig = field(default_factory=LighterVenueConfig)


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True  # serve the endpoint
    host: str = "127.0.0.1"  # listen address of /metrics /healthz /readyz /status
    port: int = 9464  # 0 = ephemeral; overridden by --metrics-port or HEDGE_METRICS_PORT
    stale_feed_s: float = 10.0  # /readyz fails when a feed is older than this


@dataclass(frozen=True)
class SinkConfig:
    enabled: bool = False  # send incidents to this sink
    severities: tuple[str, ...] = ("critical", "error", "warning")  # which severities this sink receives


@dataclass(frozen=True)
class TelegramSinkConfig(SinkConfig):
    chat_id: str = ""  # required when enabled
    bot_token_env: str = "HEDGED_TELEGRAM_BOT_TOKEN"  # secret: the bot token
    api_base: str = "https://api.telegram.org"  # Bot API base URL


@dataclass(frozen=True)
class LarkSinkConfig(SinkConfig):
    webhook_url_env: str = "HEDGED_LARK_WEBHOOK_URL"  # the URL carries the bot's token, so it is a secret
    signing_secret_env: str = ""  # optional; empty = unsigned webhook


@dataclass(frozen=True)
class WebhookSinkConfig(SinkConfig):
    url_env: str = "HEDGED_ALERT_WEBHOOK_URL"  # secret: the webhook URL


@dataclass(frozen=True)
class AlertsConfig:
    dedup_window_s: float = 60.0  # the same event and key within this window is sent once
    rate_limit_per_min: int = 10  # per event kind
    send_timeout_s: float = 5.0  # one delivery attempt
    max_age_s: float = 86400.0  # an incident not delivered within this age is given up (kept in the store)
    telegram: TelegramSinkConfig = field(default_factory=TelegramSinkConfig)
    lark: LarkSinkConfig = field(default_factory=LarkSinkConfig)
    webhook: WebhookSinkConfig = field(default_factory=WebhookSinkConfig)


@dataclass(frozen=True)
class SimConfig:
    seed: int = 7  # same seed -> same market, same run
    start_price: Decimal = Decimal("150")  # reference price at start
    volatility: float = 0.0002  # std-dev of the reference log-return per market step
    tick_interval_s: float = 0.1  # seconds per market step
    spread_bps: Decimal = Decimal(2)  # best bid to best ask, relative
    basis_bps: Decimal = Decimal(3)  # relative basis between the venues' mids
    depth_levels: int = 10  # book levels per side on each venue
    level_size: Decimal = Decimal(50)  # mean size of a level, base units
    flow_rate: float = 1.0  # other traders' aggressive orders per second, per side, per venue
    flow_size_min: Decimal = Decimal("0.05")  # their sizes: what partially fills our resting orders
    flow_size_max: Decimal = Decimal("1.0")  # upper end of their sizes
    lighter_latency: Literal["zero", "standard", "premium"] = "standard"  # Lighter's deliberate delays
    lighter_fees: Literal["standard", "premium"] = "standard"  # Lighter's fees: standard 0/0, premium 0.004 %/0.028 % maker/taker
    funding_interval_s: float = 3600.0  # seconds between both sims' funding settlements (the venues: hourly)
    extended_accept_delay_s: float = 0.005  # REST OK -> order outcome on the account stream
    extended_port: int = 0  # `hedged sim` and embedded mode: 127.0.0.1 ports, 0 = ephemeral
    lighter_port: int = 0  # see extended_port


@dataclass(frozen=True)
class Config:
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    log: LogConfig = field(default_factory=LogConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    cycle: CycleConfig = field(default_factory=CycleConfig)
    hedge: HedgeConfig = field(default_factory=HedgeConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    venues: VenuesConfig = field(default_factory=VenuesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    sim: SimConfig = field(default_factory=SimConfig)

    @property
    def uses_sim(self) -> bool:
        return "sim" in (self.venues.extended.mode, self.venues.lighter.mode)


# ---------------------------------------------------------------- writing


def to_dict(cfg: Any) -> dict[str, Any]:
    """The TOML-ready form of a config (Decimals as strings, Paths as text)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            out[f.name] = to_dict(v)
        elif isinstance(v, Decimal):
            out[f.name] = str(v)
        elif isinstance(v, Path):
            out[f.name] = str(v)
        elif isinstance(v, tuple):
            out[f.name] = list(v)
        else:
            out[f.name] = v
    return out
