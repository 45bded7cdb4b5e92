"""Validation rules of the config, one line per rule, each naming the key path.

Kept apart from the schema so the rules read as a table. Raises the first
violation as `ConfigError`; a config that passes is safe to start with.
"""

from __future__ import annotations

import dataclasses
import math
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedged.config import ConfigError
from hedged.secrets import ENV_NAME, shown

if TYPE_CHECKING:
    from hedged.config import Config, CycleConfig, LighterVenueConfig
    from hedged.venues.base import MarketRules

_SEVERITIES = {"critical", "error", "warning", "info"}
_MAX_SECONDS = 30 * 86400.0  # every *_s key: longer than a month is a typo (ms for s), not a setting
_MAX_POSITION = Decimal(1_000_000)  # base units; sizes and tolerances are bounded by risk.max_position


def _err(msg: str) -> Exception:
    return ConfigError(msg)


def _positive(path: str, v: Any) -> None:
    if not v > 0:
        raise _err(f"{path} ({v}) must be > 0")


def _non_negative(path: str, v: Any) -> None:
    if v < 0:
        raise _err(f"{path} ({v}) must be >= 0")


def _ordered(lo_path: str, lo: Any, hi_path: str, hi: Any) -> None:
    if lo > hi:
        raise _err(f"{lo_path} ({lo}) must be <= {hi_path} ({hi})")


def _in_range(path: str, v: Any, lo: Any, hi: Any) -> None:
    if not lo <= v <= hi:
        raise _err(f"{path} ({v}) must be between {lo} and {hi}")


def _on_step(path: str, v: Decimal, step_path: str, step: Decimal) -> None:
    if (v / step) % 1 != 0:
        raise _err(f"{path} ({v}) must be a multiple of {step_path} ({step})")


def _env_name(path: str, v: str, *, optional: bool = False) -> None:
    if optional and v == "":
        return
    if not ENV_NAME.match(v):  # never echo the value: it may be a pasted secret
        raise _err(f"{path} must name an environment variable or credential file (letters, digits, _; "
                   f"not starting with a digit)")


def _url(path: str, v: str) -> None:
    if v and not re.match(r"^(https?|wss?)://[^\s]+$", v):
        raise _err(f"{path} ({shown(v)}) must be an http(s):// or ws(s):// URL")


def _finite_and_bounded(obj: Any, prefix: str) -> None:
    """Every number finite (nan/inf are valid TOML), every duration below a month."""
    for f in dataclasses.fields(obj):
        v, path = getattr(obj, f.name), f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(v):
            _finite_and_bounded(v, path)
        elif isinstance(v, float) and not math.isfinite(v) or isinstance(v, Decimal) and not v.is_finite():
            raise _err(f"{path} ({v}) must be a finite number")
        elif f.name.endswith("_s") and isinstance(v, (int, float)) and v > _MAX_SECONDS:
            raise _err(f"{path} ({v}) must be <= {_MAX_SECONDS:.0f} (30 days)")


def validate(cfg: Config) -> None:
    for f in dataclasses.fields(cfg):
        _finite_and_bounded(getattr(cfg, f.name), f.name)
    d = cfg.daemon
    if not d.name or not re.match(r"^[A-Za-z0-9_.-]+$", d.name):
        raise _err(f"daemon.name ({shown(d.name)}) must be non-empty letters, digits, '.', '_' or '-'")
    _non_negative("daemon.graceful_stop_s", d.graceful_stop_s)
    if not cfg.market.extended or not cfg.market.lighter:
        raise _err("market.extended and market.lighter must be non-empty")
    for venue in ("extended", "lighter"):
        # The name goes into URL paths, stream selectors and every log line: no spaces, newlines or ';'.
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", getattr(cfg.market, venue)):
            raise _err(f"market.{venue} must be a market name as the venue lists it (letters, digits, '-', '.', "
                       f"'_'; e.g. SOL-USD on Extended, SOL on Lighter)")

    c = cfg.cycle
    for name in ("size_min", "size_max", "size_step"):
        _positive(f"cycle.{name}", getattr(c, name))
    _ordered("cycle.size_min", c.size_min, "cycle.size_max", c.size_max)
    _on_step("cycle.size_min", c.size_min, "cycle.size_step", c.size_step)
    _on_step("cycle.size_max", c.size_max, "cycle.size_step", c.size_step)
    for name in ("delay_min_s", "delay_max_s", "hold_min_s", "hold_max_s", "chase_min_rest_s", "cancel_throttle_s"):
        _non_negative(f"cycle.{name}", getattr(c, name))
    _ordered("cycle.delay_min_s", c.delay_min_s, "cycle.delay_max_s", c.delay_max_s)
    _ordered("cycle.hold_min_s", c.hold_min_s, "cycle.hold_max_s", c.hold_max_s)
    _non_negative("cycle.iterations", c.iterations)
    _positive("cycle.maker_timeout_s", c.maker_timeout_s)
    _in_range("cycle.funding_min_edge", c.funding_min_edge, 0, 1)

    h = cfg.hedge
    for side in ("buy", "sell"):
        lo, hi = getattr(h, f"{side}_offset_bps_min"), getattr(h, f"{side}_offset_bps_max")
        _in_range(f"hedge.{side}_offset_bps_min", lo, 0, 1000)
        _in_range(f"hedge.{side}_offset_bps_max", hi, 0, 1000)
        _ordered(f"hedge.{side}_offset_bps_min", lo, f"hedge.{side}_offset_bps_max", hi)
    _in_range("hedge.reprice_step_bps", h.reprice_step_bps, 0, 1000)
    _positive("hedge.timeout_s", h.timeout_s)
    _positive("hedge.reprice_after_s", h.reprice_after_s)
    if h.max_attempts < 1:
        raise _err(f"hedge.max_attempts ({h.max_attempts}) must be >= 1")
    _ordered("hedge.max_attempts", h.max_attempts, "its bound", 100)
    _non_negative("hedge.backoff_initial_s", h.backoff_initial_s)
    _ordered("hedge.backoff_initial_s", h.backoff_initial_s, "hedge.backoff_max_s", h.backoff_max_s)

    r = cfg.risk
    _in_range("risk.tolerance_pct", r.tolerance_pct, Decimal("0.01"), 100)
    _positive("risk.tolerance_floor", r.tolerance_floor)
    _positive("risk.max_position", r.max_position)
    _ordered("risk.max_position", r.max_position, "its bound", _MAX_POSITION)
    _ordered("risk.tolerance_floor", r.tolerance_floor, "risk.max_position", r.max_position)
    _ordered("cycle.size_max", c.size_max, "risk.max_position", r.max_position)
    _non_negative("risk.guard_grace_s", r.guard_grace_s)
    _positive("risk.reconcile_interval_s", r.reconcile_interval_s)
    _in_range("risk.flatten_aggress_bps", r.flatten_aggress_bps, 0, 1000)
    _positive("risk.pnl_mismatch_quote", r.pnl_mismatch_quote)

    e, lt = cfg.venues.extended, cfg.venues.lighter
    for prefix, v in (("venues.extended", e), ("venues.lighter", lt)):
        _url(f"{prefix}.rest_url", v.rest_url)
        _url(f"{prefix}.ws_url", v.ws_url)
    _env_name("venues.extended.api_key_env", e.api_key_env)
    _env_name("venues.extended.stark_private_key_env", e.stark_private_key_env)
    _non_negative("venues.extended.vault", e.vault)
    if e.stark_public_key and not re.match(r"^0x[0-9a-fA-F]{1,64}$", e.stark_public_key):
        raise _err("venues.extended.stark_public_key must be a 0x-prefixed hex number")
    if e.mode != "sim" and (not e.vault or not e.stark_public_key):
        raise _err(f"venues.extended.vault and venues.extended.stark_public_key are required in mode {e.mode!r}")
    _env_name("venues.lighter.api_private_key_env", lt.api_private_key_env)
    _in_range("venues.lighter.api_key_index", lt.api_key_index, 3, 254)
    _non_negative("venues.lighter.account_index", lt.account_index)
    _hedge_keys(lt)
    if lt.mode != "sim" and lt.account_index == 0:
        raise _err(f"venues.lighter.account_index is required in mode {lt.mode!r}")
    if (e.mode == "mainnet") != (lt.mode == "mainnet"):
        raise _err("venues.extended.mode and venues.lighter.mode must both be mainnet or neither")

    m = cfg.metrics
    _in_range("metrics.port", m.port, 0, 65535)
    if not m.host:
        raise _err("metrics.host must be non-empty")
    _positive("metrics.stale_feed_s", m.stale_feed_s)

    a = cfg.alerts
    _non_negative("alerts.dedup_window_s", a.dedup_window_s)
    _positive("alerts.rate_limit_per_min", a.rate_limit_per_min)
    _positive("alerts.send_timeout_s", a.send_timeout_s)
    _positive("alerts.max_age_s", a.max_age_s)
    for name in ("telegram", "lark", "webhook"):
        sink = getattr(a, name)
        for i, sev in enumerate(sink.severities):
            if sev not in _SEVERITIES:
                raise _err(f"alerts.{name}.severities[{i}] ({shown(sev)}) must be one of {', '.join(sorted(_SEVERITIES))}")
    _env_name("alerts.telegram.bot_token_env", a.telegram.bot_token_env)
    _url("alerts.telegram.api_base", a.telegram.api_base)
    if a.telegram.enabled and not a.telegram.chat_id:
        raise _err("alerts.telegram.chat_id is required when alerts.telegram.enabled")
    _env_name("alerts.lark.webhook_url_env", a.lark.webhook_url_env)
    _env_name("alerts.lark.signing_secret_env", a.lark.signing_secret_env, optional=True)
    _env_name("alerts.webhook.url_env", a.webhook.url_env)

    s = cfg.sim
    _in_range("sim.start_price", s.start_price, Decimal("1e-6"), Decimal("1e9"))
    _in_range("sim.volatility", s.volatility, 0, 0.1)
    _in_range("sim.tick_interval_s", s.tick_interval_s, 0.001, 3600)
    _in_range("sim.funding_interval_s", s.funding_interval_s, 1, 86_400)
    _in_range("sim.spread_bps", s.spread_bps, Decimal("0.01"), 1000)
    _in_range("sim.basis_bps", s.basis_bps, -1000, 1000)
    _in_range("sim.depth_levels", s.depth_levels, 1, 1000)
    _in_range("sim.level_size", s.level_size, Decimal("1e-6"), _MAX_POSITION)
    _in_range("sim.flow_rate", s.flow_rate, 0, 1000)
    _positive("sim.flow_size_min", s.flow_size_min)
    _ordered("sim.flow_size_min", s.flow_size_min, "sim.flow_size_max", s.flow_size_max)
    _ordered("sim.flow_size_max", s.flow_size_max, "its bound", _MAX_POSITION)
    _in_range("sim.extended_accept_delay_s", s.extended_accept_delay_s, 0, 10)
    _in_range("sim.extended_port", s.extended_port, 0, 65535)
    _in_range("sim.lighter_port", s.lighter_port, 0, 65535)


def _hedge_keys(lt: LighterVenueConfig) -> None:
    """venues.lighter.hedge_api_keys: each 3..254, none twice, none the primary api_key_index."""
    path = "venues.lighter.hedge_api_keys"
    seen: set[int] = set()
    for i, k in enumerate(lt.hedge_api_keys):
        _in_range(f"{path}[{i}]", k, 3, 254)
        if k == lt.api_key_index:
            raise _err(f"{path}[{i}] ({k}) is venues.lighter.api_key_index: list only the other keys")
        if k in seen:
            raise _err(f"{path}[{i}] ({k}) is listed twice: each key has one nonce sequence")
        seen.add(k)


def check_venue_rules(c: CycleConfig, venue: str, rules: MarketRules) -> None:
    """At start, once `venue` has loaded its market rules: every size the cycle can draw must be
    one the venue trades. Otherwise the daemon would quantize (drew 0.611, traded 0.61) or have
    every order refused, so it refuses to start, naming the key (exit 78)."""
    market = f"{venue} market {rules.market}"
    if (c.size_step / rules.size_step) % 1 != 0:
        raise _err(f"cycle.size_step ({c.size_step}) must be a multiple of the {market} size step ({rules.size_step})")
    if c.size_min < rules.min_size:
        raise _err(f"cycle.size_min ({c.size_min}) is below the {market} minimum order size ({rules.min_size})")
    for name in ("size_min", "size_max"):
        v = getattr(c, name)
        if not rules.is_tradeable(v):
            raise _err(f"cycle.{name} ({v}) is not a size the {market} can trade (step {rules.size_step}, "
                       f"minimum {rules.min_size})")
