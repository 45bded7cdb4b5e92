"""Order signing with the official x10 order-object function.

Only x10 models, signing and config are used (never its aiohttp clients). The
market object (with its l2Config) and the fee rates come from REST at start; the
signer is rebuilt whenever they are refreshed. Signing is pure CPU (~0.5 ms); it
can run on the Trio thread or in a worker thread (`sign_async(in_thread=True)`),
bench/adapters_extended.py measures both.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import trio
from x10.config import MAINNET_CONFIG, TESTNET_CONFIG, StarknetDomain
from x10.core.stark_account import StarkPerpetualAccount
from x10.models.market import MarketModel
from x10.models.order import OrderSide, SelfTradeProtectionLevel
from x10.models.order import TimeInForce as X10TimeInForce
from x10.signing.order_object import create_order_object

from hedged.venues.base import Side, TimeInForce

# The simulator verifies signatures on its own chain id so a body signed for the
# sim can never be valid on a real venue.
SIM_DOMAIN = StarknetDomain(name="Perpetuals", version="v0", chain_id="SN_SIM", revision="1")

DOMAINS: dict[str, StarknetDomain] = {
    "mainnet": MAINNET_CONFIG.signing.starknet_domain,
    "testnet": TESTNET_CONFIG.signing.starknet_domain,
    "sim": SIM_DOMAIN,
}

NONCE_MAX = 2**31 - 1  # documented range is [1, 2^31]; stay strictly inside it
_X10_SIDE = {Side.BUY: OrderSide.BUY, Side.SELL: OrderSide.SELL}
_X10_TIF = {TimeInForce.GTT: X10TimeInForce.GTT, TimeInForce.IOC: X10TimeInForce.IOC}


def domain_for(name: str) -> StarknetDomain:
    try:
        return DOMAINS[name]
    except KeyError:
        raise ValueError(f"unknown signing domain {name!r} (expected one of {sorted(DOMAINS)})") from None


class OrderSigner:
    """Builds signed `POST /user/order` bodies for one market.

    The private key lives only inside the SDK account object; nothing here logs
    or formats it.
    """

    __slots__ = ("_account", "_market", "_domain", "_fee", "_rng", "_wall_clock", "_expiry_s")

    def __init__(
        self,
        *,
        vault: int,
        private_key: str,
        public_key: str,
        domain: StarknetDomain,
        market: dict[str, Any],
        fee_cap: Decimal,
        rng: random.Random,
        expiry_s: float = 3600.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        # The SDK asserts 0x-prefixed hex; check first so its AssertionError never escapes.
        for value in (private_key, public_key):
            if not (isinstance(value, str) and value.startswith("0x")):
                raise ValueError("stark keys must be 0x-prefixed hex strings")
        try:
            int(private_key, 16), int(public_key, 16)
        except ValueError:
            # int()'s message would quote the key: replace it.
            raise ValueError("stark keys must be 0x-prefixed hex strings") from None
        self._account = StarkPerpetualAccount(vault=vault, private_key=private_key, public_key=public_key, api_key="")
        self._market = MarketModel.model_validate(market)
        self._domain = domain
        # `fee` is the highest rate we accept, not what we pay: the taker rate
        # satisfies the venue's check for post-only and taker orders alike.
        self._fee = fee_cap
        self._rng = rng
        self._wall_clock = wall_clock
        self._expiry_s = expiry_s

    def __repr__(self) -> str:
        return f"OrderSigner(market={self._market.name!r})"

    def next_nonce(self) -> int:
        return self._rng.randint(1, NONCE_MAX)

    def sign(
        self,
        *,
        side: Side,
        qty: Decimal,
        price: Decimal,
        external_id: str,
        post_only: bool,
        tif: TimeInForce,
        reduce_only: bool = False,
        nonce: int | None = None,
    ) -> bytes:
        """Return the JSON body. `qty` and `price` must already be on step and tick."""
        expire = datetime.fromtimestamp(self._wall_clock(), tz=timezone.utc) + timedelta(seconds=self._expiry_s)
        order = create_order_object(
            account=self._account,
            market=self._market,
            amount_of_synthetic=qty,
            price=price,
            side=_X10_SIDE[side],
            starknet_domain=self._domain,
            post_only=post_only,
            time_in_force=_X10_TIF[tif],
            expire_time=expire,
            order_external_id=external_id,
            self_trade_protection_level=SelfTradeProtectionLevel.ACCOUNT,
            nonce=self.next_nonce() if nonce is None else nonce,
            taker_fee=self._fee,
            reduce_only=reduce_only,
        )
        return msgspec.json.encode(order.to_api_request_json(exclude_none=True))

    async def sign_async(self, *, in_thread: bool, **kw: Any) -> bytes:
        if not in_thread:
            return self.sign(**kw)
        # Draw the nonce here so the RNG is only ever touched from the Trio thread.
        kw.setdefault("nonce", self.next_nonce())
        return await trio.to_thread.run_sync(lambda: self.sign(**kw))
