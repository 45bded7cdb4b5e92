"""Lighter simulator: venue JSON shapes for the core's records (pure).

Every object carries the full field set the lighter-sdk 1.1.8 models require (lighter.md §11, superset rule),
with the venue's strict JSON types: ids as strings where the SDK says StrictStr, amounts as decimal strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedged.sim.lighter.exchange import SimAccount
from hedged.sim.lighter.tx import ORDER_TYPES, TIME_IN_FORCE, MarketSpec, SimOrder, SimPosition, SimTrade, TxRecord

QUOTE_DECIMALS = 6
_CREATED_AT = "1718000000"


def _q(x: Decimal) -> str:
    return f"{x:.{QUOTE_DECIMALS}f}"


def order_book_info(m: MarketSpec, *, open_interest: Decimal = Decimal(0)) -> dict[str, Any]:
    """An `OrderBook` entry of `GET /orderBooks`."""
    return {
        "symbol": m.symbol, "market_id": m.market_id, "market_type": "perp", "base_asset_id": 0, "quote_asset_id": 0,
        "status": "active", "taker_fee": "0.0000", "maker_fee": "0.0000", "liquidation_fee": "1.0000",
        "min_base_amount": f"{m.min_base_amount:.{m.size_decimals}f}", "min_quote_amount": _q(m.min_quote_amount),
        "supported_size_decimals": m.size_decimals, "supported_price_decimals": m.price_decimals,
        "supported_quote_decimals": QUOTE_DECIMALS, "order_quote_limit": "281474976.710655",
        "is_maker_fee_enabled": True, "is_taker_fee_enabled": True, "created_at": _CREATED_AT, "multiplier": "1",
        "start_timestamp": 0, "end_timestamp": 0, "settlement_type": 0, "settlement_price": 0, "settlement_cap": 0,
        "outcome": 0, "default_price": 0, "operator_account_index": 0, "is_frozen": False,
        "open_interest": f"{open_interest:.{m.size_decimals}f}",
    }  # fmt: skip


def order_book_detail(m: MarketSpec, *, last_price: Decimal, mark: Decimal) -> dict[str, Any]:
    """A `PerpsOrderBookDetail` entry of `GET /orderBookDetails` (no price levels)."""
    d = order_book_info(m)
    imf = int(m.initial_margin_fraction * 10_000)
    d.update({
        "size_decimals": m.size_decimals, "price_decimals": m.price_decimals, "quote_multiplier": 1,
        "default_initial_margin_fraction": imf, "min_initial_margin_fraction": imf // 2,
        "maintenance_margin_fraction": imf * 3 // 5, "closeout_margin_fraction": imf * 2 // 5,
        "last_trade_price": float(last_price), "daily_trades_count": 0, "daily_base_token_volume": 0.0,
        "daily_quote_token_volume": 0.0, "daily_price_low": float(last_price), "daily_price_high": float(last_price),
        "daily_price_change": 0.0, "open_interest": 0.0, "daily_chart": {},
        "market_config": {"market_margin_mode": 0, "insurance_fund_account_index": 281474976710655,
                          "liquidation_mode": 0, "force_reduce_only": False, "trading_hours": "", "hidden": False,
                          "rfq_enabled": False},
        "strategy_index": 0, "funding_clamp_small": "0.0500", "funding_clamp_big": "4.0000",
        "base_interest_rate": "0.0100", "mark_price": f"{mark:.{m.price_decimals}f}",
        "index_price": f"{mark:.{m.price_decimals}f}", "market_flags": 0, "funding_premium_multiplier": 1,
    })  # fmt: skip
    return d


def order_json(m: MarketSpec, o: SimOrder, *, block_height: int) -> dict[str, Any]:
    return {
        "order_index": o.order_index, "client_order_index": o.client_order_index, "order_id": str(o.order_index),
        "client_order_id": str(o.client_order_index), "market_index": o.market_id, "owner_account_index": o.account,
        "initial_base_amount": m.fmt_size(o.initial_base), "price": m.fmt_price(o.price), "nonce": o.nonce,
        "remaining_base_amount": m.fmt_size(o.remaining_base), "is_ask": o.is_ask, "base_size": o.initial_base,
        "base_price": o.price, "filled_base_amount": m.fmt_size(o.filled_base),
        "filled_quote_amount": _q(o.filled_quote), "side": "sell" if o.is_ask else "buy",
        "type": ORDER_TYPES[o.order_type], "time_in_force": TIME_IN_FORCE[o.tif], "reduce_only": o.reduce_only,
        "trigger_price": m.fmt_price(0), "order_expiry": o.order_expiry, "status": o.status, "trigger_status": "na",
        "trigger_time": 0, "parent_order_index": 0, "parent_order_id": "0", "to_trigger_order_id_0": "0",
        "to_trigger_order_id_1": "0", "to_cancel_order_id_0": "0", "block_height": block_height,
        "timestamp": o.updated_ms, "created_at": o.created_ms, "updated_at": o.updated_ms,
        "transaction_time": o.updated_ms * 1000, "integrator_fee_collector_index": "0", "integrator_maker_fee": "0",
        "integrator_taker_fee": "0", "order_flags": 0, "order_version": o.version, "market_symbol": m.symbol,
        "market_kind": "perps",
    }  # fmt: skip


def simple_order_json(m: MarketSpec, *, index: int, owner: int, size: Decimal, price: Decimal, ts_ms: int) -> dict[str, Any]:
    """A `SimpleOrder` of `GET /orderBookOrders`."""
    s = f"{size:.{m.size_decimals}f}"
    return {
        "order_index": index, "order_id": str(index), "owner_account_index": owner, "initial_base_amount": s,
        "remaining_base_amount": s, "price": f"{price:.{m.price_decimals}f}", "order_expiry": 0,
        "transaction_time": ts_ms * 1000,
    }


def trade_json(m: MarketSpec, t: SimTrade, *, block_height: int) -> dict[str, Any]:
    size = m.size(t.size)
    price = m.price(t.price)
    taker_pos, maker_pos = t.taker_position_before, t.maker_position_before
    return {
        "trade_id": t.trade_id, "trade_id_str": str(t.trade_id), "tx_hash": t.tx_hash, "type": "trade",
        "market_id": t.market_id, "market_symbol": m.symbol, "market_kind": "perps", "size": m.fmt_size(t.size),
        "price": m.fmt_price(t.price), "usd_amount": _q(size * price), "ask_id": t.ask_id, "ask_id_str": str(t.ask_id),
        "bid_id": t.bid_id, "bid_id_str": str(t.bid_id), "ask_client_id": t.ask_client_id,
        "ask_client_id_str": str(t.ask_client_id), "bid_client_id": t.bid_client_id,
        "bid_client_id_str": str(t.bid_client_id), "ask_account_id": t.ask_account, "bid_account_id": t.bid_account,
        "is_maker_ask": t.is_maker_ask, "block_height": block_height, "timestamp": t.timestamp_ms,
        "transaction_time": t.timestamp_ms * 1000,
        "taker_position_size_before": f"{taker_pos:.{m.size_decimals}f}", "taker_entry_quote_before": _q(Decimal(0)),
        "taker_initial_margin_fraction_before": 500, "taker_position_sign_changed": False,
        "maker_position_size_before": f"{maker_pos:.{m.size_decimals}f}", "maker_entry_quote_before": _q(Decimal(0)),
        "maker_initial_margin_fraction_before": 500, "maker_position_sign_changed": False,
        "bid_account_pnl": _q(Decimal(0)), "ask_account_pnl": _q(Decimal(0)), "integrator_maker_fee": 0,
        "integrator_maker_fee_collector_index": 0, "integrator_taker_fee": 0, "integrator_taker_fee_collector_index": 0,
        "taker_allocated_margin_usdc_before": 0, "taker_allocated_margin_usdc_after": 0,
        "maker_allocated_margin_usdc_before": 0, "maker_allocated_margin_usdc_after": 0, "bid_order_version": 0,
        "ask_order_version": 0,
        # Fee rates in 1e-6 of the quote amount; the venue omits them when zero (Standard tier).
        **({"taker_fee": t.taker_fee} if t.taker_fee else {}), **({"maker_fee": t.maker_fee} if t.maker_fee else {}),
    }  # fmt: skip


def position_json(m: MarketSpec, p: SimPosition, *, mark: Decimal, open_orders: int) -> dict[str, Any]:
    """An `AccountPosition` (REST) / WS Position: `sign` +-1 and the ABSOLUTE size in `position`."""
    size = m.size(abs(p.size))
    avg = p.entry_quote / size if size else Decimal(0)
    value = size * mark
    upnl = (mark - avg) * size * (1 if p.size > 0 else -1) if size else Decimal(0)
    return {
        "market_id": p.market_id, "symbol": m.symbol, "initial_margin_fraction": f"{m.initial_margin_fraction * 100:.2f}",
        "open_order_count": open_orders, "pending_order_count": 0, "position_tied_order_count": 0,
        "sign": -1 if p.size < 0 else 1, "position": f"{size:.{m.size_decimals}f}",
        "avg_entry_price": f"{avg:.{m.price_decimals}f}", "position_value": _q(value), "unrealized_pnl": _q(upnl),
        "realized_pnl": _q(p.realized_pnl), "liquidation_price": "0", "total_funding_paid_out": _q(p.funding_paid_out),
        "margin_mode": 0, "allocated_margin": _q(Decimal(0)), "total_discount": _q(Decimal(0)), "margin_set_flag": 0,
    }  # fmt: skip


def account_all_json(account: int, *, positions: dict[str, Any], trades: dict[str, Any], trade_count: int,
                     volume: float, fundings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of an `account_all` frame: positions `{"<M>": Position}`, new trades `{"<M>": [Trade]}`
    (none in the snapshot), funding payments `{"<M>": [PositionFunding]}` (the snapshot: all so far; an
    update: the new ones), counts and volumes over the session (the sim keeps no calendar)."""
    counts = {f"{p}_trades_count": trade_count for p in ("daily", "weekly", "monthly", "total")}
    volumes = {f"{p}_volume": volume for p in ("daily", "weekly", "monthly", "total")}
    return {"account": account, **counts, **volumes, "funding_histories": fundings or {}, "positions": positions,
            "shares": [], "trades": trades, "assets": {}}


def api_key_json(a: SimAccount, api_key_index: int) -> dict[str, Any]:
    """An `ApiKey` of `GET /apikeys`; `nonce` is the next nonce the key must use (as `nextNonce`)."""
    return {"account_index": a.index, "api_key_index": api_key_index, "nonce": a.nonces.get(api_key_index, 0),
            "public_key": a.api_keys[api_key_index], "transaction_time": 0}


def account_json(
    m: MarketSpec, a: SimAccount, *, positions: list[dict[str, Any]], available: Decimal, order_count: int, now_ms: int
) -> dict[str, Any]:
    """A `DetailedAccount` of `GET /account`."""
    return {
        "code": 200, "account_type": 0, "index": a.index, "l1_address": a.l1_address, "cancel_all_time": 0,
        "total_order_count": order_count, "total_isolated_order_count": 0, "pending_order_count": 0,
        "available_balance": _q(available), "status": 1, "collateral": _q(a.collateral), "account_index": a.index,
        "name": "", "description": "", "can_invite": True, "referral_points_percentage": "0", "positions": positions,
        "assets": [{"symbol": "USDC", "asset_id": 3, "balance": _q(a.collateral), "locked_balance": _q(Decimal(0)),
                    "margin_balance": _q(a.collateral), "margin_mode": "enabled", "multiplier": "1"}],
        "total_asset_value": _q(a.collateral), "cross_asset_value": _q(a.collateral),
        "pool_info": {"status": 0, "operator_fee": "0", "min_operator_share_rate": "0", "total_shares": 0,
                      "operator_shares": 0, "annual_percentage_yield": 0, "daily_returns": [], "share_prices": [],
                      "sharpe_ratio": 0, "strategies": []},
        "shares": [], "created_at": 1718000000000, "transaction_time": now_ms * 1000, "can_rfq": False,
        "cross_initial_margin_requirement": _q(a.collateral - available), "cross_maintenance_margin_requirement":
        _q((a.collateral - available) * 3 / 5), "can_rfq_market_ids": [], "metadata": {"color": ""},
        "agent_enabled": False,
    }  # fmt: skip


def tx_json(rec: TxRecord, *, l1_address: str, event_info: str) -> dict[str, Any]:
    """A `Tx` of the `account_tx` channel."""
    tx = rec.tx
    return {
        "hash": rec.tx_hash, "type": tx.tx_type, "info": tx.raw, "event_info": event_info, "status": rec.status,
        "transaction_index": 0, "l1_address": l1_address, "account_index": tx.account, "nonce": tx.nonce,
        "expire_at": tx.info["ExpiredAt"], "block_height": rec.block_height, "queued_at": rec.queued_ms,
        "executed_at": rec.executed_ms, "sequence_index": rec.block_height, "parent_hash": "",
        "api_key_index": tx.api_key, "transaction_time": rec.executed_ms * 1000,
    }  # fmt: skip


def _fixed(x: Decimal, decimals: int, spec: str) -> str:
    # Avoids format() where str() already gives the same text: a value with exactly `decimals` digits after
    # the point (book levels are multiples of the tick/step) and no exponent. Anything else (a bare 0, other
    # exponents) is formatted.
    t = str(x)
    if decimals == 0 or len(t) <= decimals or t[-decimals - 1] != "." or "E" in t:
        return format(x, spec)
    return t


def levels_json(m: MarketSpec, levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
    pd, sd = m.price_decimals, m.size_decimals
    ps, ss = f".{pd}f", f".{sd}f"
    return [{"price": _fixed(p, pd, ps), "size": _fixed(s, sd, ss)} for p, s in levels]


_PRICE_CACHE_MAX = 4096  # a book walks over a few thousand ticks in minutes; clearing now and then bounds memory


class LevelText:
    """`levels_json` for the book feed, remembering the text of each price seen.

    The feed renders every changed level of every update; prices recur as the book walks, so a dict
    lookup (the Decimal's hash is already cached on the object by the feed's diff) replaces str()/format().
    The text depends only on the value (fixed decimals), except for zero (-0 keeps its sign): never cached.
    Sizes are mostly fresh draws, so they are not cached: the feed inlines the `str()` shortcut instead.
    """

    def __init__(self, m: MarketSpec) -> None:
        self.m = m
        self.prices: dict[Decimal, str] = {}
        self._pspec = f".{m.price_decimals}f"
        self._sspec = f".{m.size_decimals}f"

    def price(self, p: Decimal) -> str:
        t = self.prices.get(p)
        if t is None:
            t = _fixed(p, self.m.price_decimals, self._pspec)
            if p and not p.is_signed():  # zero never: -0 would find it and lose its sign
                if len(self.prices) >= _PRICE_CACHE_MAX:
                    self.prices.clear()
                self.prices[p] = t
        return t

    def size(self, s: Decimal) -> str:
        return _fixed(s, self.m.size_decimals, self._sspec)

    def levels(self, levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
        return [{"price": self.price(p), "size": self.size(s)} for p, s in levels]
