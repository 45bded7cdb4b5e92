"""Signed order bodies: amounts from the worked example, signature verifiable, secrets kept out."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import fast_stark_crypto
import pytest
from adapter_fixtures import market_json, throwaway_keys

from hedged.venues.base import Side, TimeInForce
from hedged.venues.extended.signing import DOMAINS, NONCE_MAX, OrderSigner

EXPIRY_MS = 1795622560208


def signer(seed: int = 1, fee: str = "0.0002") -> tuple[OrderSigner, str, str]:
    private, public = throwaway_keys(seed)
    s = OrderSigner(vault=4242, private_key=private, public_key=public, domain=DOMAINS["mainnet"],
                    market=market_json(), fee_cap=Decimal(fee), rng=random.Random(seed),
                    expiry_s=3600, wall_clock=lambda: EXPIRY_MS / 1000 - 3600)
    return s, private, public


@pytest.mark.parametrize(("side", "amounts"), [
    (Side.BUY, {"collateralAmount": "-195046900", "feeAmount": "39010", "syntheticAmount": "1370"}),
    (Side.SELL, {"collateralAmount": "195046900", "feeAmount": "39010", "syntheticAmount": "-1370"}),
])
def test_signed_amounts_match_the_worked_example(side: Side, amounts: dict) -> None:
    s, _, _ = signer()
    body = json.loads(s.sign(side=side, qty=Decimal("1.37"), price=Decimal("142.37"), external_id="hd-0192-03",
                             post_only=True, tif=TimeInForce.GTT, nonce=777))
    assert body["debuggingAmounts"] == amounts
    assert body["id"] == "hd-0192-03" and body["postOnly"] is True and body["timeInForce"] == "GTT"
    assert body["qty"] == "1.37" and body["price"] == "142.37" and body["fee"] == "0.0002"
    assert body["settlement"]["collateralPosition"] == "4242"


def test_signature_verifies_against_the_documented_hash_recipe() -> None:
    s, private, public = signer(seed=5)
    body = json.loads(s.sign(side=Side.BUY, qty=Decimal("1.37"), price=Decimal("142.37"), external_id="x",
                             post_only=False, tif=TimeInForce.IOC, nonce=777))
    dom = DOMAINS["mainnet"]
    amounts = body["debuggingAmounts"]
    expiration = -(-body["expiryEpochMillis"] // 1000) + 14 * 86400
    msg = fast_stark_crypto.get_order_msg_hash(
        position_id=4242, base_asset_id=int("0x534f4c2d33", 16), base_amount=int(amounts["syntheticAmount"]),
        quote_asset_id=int("0x1e2f", 16), quote_amount=int(amounts["collateralAmount"]),
        fee_amount=int(amounts["feeAmount"]), fee_asset_id=int("0x1e2f", 16), expiration=expiration, salt=777,
        user_public_key=int(public, 16), domain_name=dom.name, domain_version=dom.version,
        domain_chain_id=dom.chain_id, domain_revision=dom.revision)
    sig = body["settlement"]["signature"]
    assert fast_stark_crypto.verify(int(public, 16), msg, int(sig["r"], 16), int(sig["s"], 16))
    assert body["timeInForce"] == "IOC" and body["postOnly"] is False


def test_nonces_come_from_the_seeded_rng_within_the_documented_range() -> None:
    s, _, _ = signer(seed=9)
    nonces = [int(json.loads(s.sign(side=Side.BUY, qty=Decimal("1"), price=Decimal("100"), external_id=f"n{i}",
                                    post_only=True, tif=TimeInForce.GTT))["nonce"]) for i in range(50)]
    assert all(1 <= n <= NONCE_MAX for n in nonces)
    s2, _, _ = signer(seed=9)
    again = [s2.next_nonce() for _ in range(50)]
    assert nonces == again


def test_private_key_never_appears_in_body_repr_or_errors() -> None:
    s, private, _ = signer(seed=3)
    body = s.sign(side=Side.SELL, qty=Decimal("1"), price=Decimal("100"), external_id="k", post_only=True,
                  tif=TimeInForce.GTT)
    assert private[2:] not in body.decode() and private[2:] not in repr(s)
    bad = "0xzz" + private[4:]
    with pytest.raises(ValueError) as info:
        OrderSigner(vault=1, private_key=bad, public_key="0x1", domain=DOMAINS["sim"], market=market_json(),
                    fee_cap=Decimal("0"), rng=random.Random(1))
    assert bad not in str(info.value) and private[4:] not in str(info.value)


async def test_signing_in_a_worker_thread_gives_a_valid_body() -> None:
    s, _, _ = signer(seed=4)
    body = await s.sign_async(in_thread=True, side=Side.BUY, qty=Decimal("1"), price=Decimal("100"),
                              external_id="t", post_only=True, tif=TimeInForce.GTT)
    assert json.loads(body)["id"] == "t"
