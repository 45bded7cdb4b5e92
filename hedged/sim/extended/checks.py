"""Validation of `POST /user/order` bodies: shape, quantization, bands, expiry, fee cap, Stark signature.

Pure: `check_order(settings, keys, body, now_ms, mark)` returns a `NewOrder` or raises
`Reject(code, message)` with the venue's business code (extended.md §7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

import fast_stark_crypto

from hedged.sim.extended.config import ExtendedSimSettings, SimKeys

_SETTLEMENT_BUFFER_S = 14 * 86400
_DAY_MS = 86_400_000


class Reject(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(f"{code} {message}")
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True, slots=True)
class NewOrder:
    external_id: str
    market: str
    type: str
    side: str
    qty: Decimal
    price: Decimal
    reduce_only: bool
    post_only: bool
    time_in_force: str
    expiry_ms: int
    fee: Decimal
    nonce: int
    cancel_id: str | None


def _dec(body: dict[str, Any], name: str) -> Decimal:
    try:
        value = Decimal(str(body[name]))
    except (KeyError, InvalidOperation, TypeError):
        raise Reject(1133, f"invalid or missing {name}") from None
    if not value.is_finite():
        raise Reject(1133, f"invalid {name}")
    return value


def _int(text: Any, name: str) -> int:
    try:
        return int(str(text), 0) if isinstance(text, str) and text.startswith("0x") else int(str(text))
    except (TypeError, ValueError):
        raise Reject(1133, f"invalid {name}") from None


def stark_amounts(s: ExtendedSimSettings, side: str, qty: Decimal, price: Decimal, fee: Decimal) -> tuple[int, int, int]:
    """(synthetic, collateral, fee) integer amounts as the SDK signs them (§9)."""
    buy = side == "BUY"
    rounding = ROUND_CEILING if buy else ROUND_FLOOR
    synthetic = int((qty * s.synthetic_resolution).to_integral_value(rounding))
    collateral = int((qty * price * s.collateral_resolution).to_integral_value(rounding))
    fee_amount = int((fee * qty * price * s.collateral_resolution).to_integral_value(ROUND_CEILING))
    return (synthetic, -collateral, fee_amount) if buy else (-synthetic, collateral, fee_amount)


def order_hash(s: ExtendedSimSettings, public_key: int, o: NewOrder) -> int:
    synthetic, collateral, fee_amount = stark_amounts(s, o.side, o.qty, o.price, o.fee)
    return fast_stark_crypto.get_order_msg_hash(
        position_id=s.vault,
        base_asset_id=int(s.synthetic_id, 16),
        base_amount=synthetic,
        quote_asset_id=int(s.collateral_id, 16),
        quote_amount=collateral,
        fee_asset_id=int(s.collateral_id, 16),
        fee_amount=fee_amount,
        expiration=math.ceil(o.expiry_ms / 1000) + _SETTLEMENT_BUFFER_S,
        salt=o.nonce,
        user_public_key=public_key,
        domain_name=s.domain_name,
        domain_version=s.domain_version,
        domain_chain_id=s.domain_chain_id,
        domain_revision=s.domain_revision,
    )


def check_order(s: ExtendedSimSettings, keys: SimKeys, body: Any, now_ms: int, mark: Decimal) -> NewOrder:
    if not isinstance(body, dict):
        raise Reject(1133, "body must be a JSON object")
    external_id = body.get("id")
    if not isinstance(external_id, str) or not external_id:
        raise Reject(1133, "invalid or missing id")
    if body.get("market") != s.market:
        raise Reject(1001, "Market not found", status=404)
    order_type, side, tif = body.get("type"), body.get("side"), body.get("timeInForce")
    if order_type not in ("LIMIT", "MARKET"):
        raise Reject(1133, f"order type {order_type!r} is not supported by the simulator")
    if side not in ("BUY", "SELL"):
        raise Reject(1133, "invalid side")
    if tif not in ("GTT", "IOC"):
        raise Reject(1133, f"time in force {tif!r} is not supported")
    post_only, reduce_only = bool(body.get("postOnly", False)), bool(body.get("reduceOnly", False))
    if order_type == "MARKET" and (tif != "IOC" or post_only):
        raise Reject(1139, "Market order must be IOC and not post-only")
    qty, price, fee = _dec(body, "qty"), _dec(body, "price"), _dec(body, "fee")
    nonce = _int(body.get("nonce"), "nonce")
    expiry_ms = _int(body.get("expiryEpochMillis"), "expiryEpochMillis")
    order = NewOrder(
        external_id=external_id,
        market=s.market,
        type=order_type,
        side=side,
        qty=qty,
        price=price,
        reduce_only=reduce_only,
        post_only=post_only,
        time_in_force=tif,
        expiry_ms=expiry_ms,
        fee=fee,
        nonce=nonce,
        cancel_id=body.get("cancelId"),
    )
    if qty < s.min_size:
        raise Reject(1120, f"Quantity is below the minimum order size {s.min_size}")
    if qty % s.step != 0:
        raise Reject(1121, f"Quantity is not a multiple of the size step {s.step}")
    if price <= 0 or price % s.tick != 0:
        raise Reject(1124, f"Price is not a multiple of the tick {s.tick}")
    limit_value = s.max_market_order_value if order_type == "MARKET" else s.max_limit_order_value
    if qty * price > limit_value:
        raise Reject(1122, "Order value exceeds the maximum")
    cap = Decimal("0.05") if order_type == "MARKET" else s.limit_price_cap
    floor = Decimal("0.05") if order_type == "MARKET" else s.limit_price_floor
    if (side == "BUY" and price > mark * (1 + cap)) or (side == "SELL" and price < mark * (1 - floor)):
        raise Reject(1141, "Price is outside the allowed band around the mark price")
    if not now_ms < expiry_ms <= now_ms + s.max_expiry_days * _DAY_MS:
        raise Reject(1135, "Invalid order expiration")
    if not 1 <= nonce <= s.nonce_max:
        raise Reject(1133, "nonce out of range")
    required = s.maker_fee if post_only else s.taker_fee
    if fee < required:
        raise Reject(1128, f"Fee cap below the required rate {required}")
    check_signature(s, keys, body, order)
    return order


def check_signature(s: ExtendedSimSettings, keys: SimKeys, body: dict[str, Any], order: NewOrder) -> None:
    settlement = body.get("settlement")
    if not isinstance(settlement, dict) or not isinstance(settlement.get("signature"), dict):
        raise Reject(1101, "Invalid Starknet signature")
    if _int(settlement.get("starkKey"), "starkKey") != keys.public_key:
        raise Reject(1100, "Invalid Starknet public key")
    if _int(settlement.get("collateralPosition"), "collateralPosition") != s.vault:
        raise Reject(1102, "Invalid Starknet vault")
    if not s.verify_signatures:
        return
    r = _int(settlement["signature"].get("r"), "signature.r")
    sig_s = _int(settlement["signature"].get("s"), "signature.s")
    try:
        valid = fast_stark_crypto.verify(keys.public_key, order_hash(s, keys.public_key, order), r, sig_s)
    except (ValueError, OverflowError):
        valid = False
    if not valid:
        raise Reject(1101, "Invalid Starknet signature")
