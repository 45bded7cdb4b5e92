"""Fixtures for the Extended simulator tests (all named `extended_sim...`).

The simulator runs in the test's nursery and is reached in memory, so tests are deterministic
and can use the autojump clock. x10 (the official SDK) is used here only to sign orders and to
parse what the simulator emits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hedged.sim.extended.server import ExtendedSim
from hedged.sim.extended.config import ExtendedSimSettings

UA = "hedged-tests/1"


@pytest.fixture
def extended_sim_settings() -> ExtendedSimSettings:
    """A still market (no random walk, no flow): fills only happen when a test makes them."""
    return ExtendedSimSettings(seed=11, live_market=False, ping_interval=None)


@pytest.fixture
async def extended_sim(nursery, extended_sim_settings: ExtendedSimSettings) -> ExtendedSim:
    sim = ExtendedSim(extended_sim_settings)
    await nursery.start(sim.run)
    return sim


@pytest.fixture
async def extended_sim_http(extended_sim: ExtendedSim):
    headers = {"User-Agent": UA, "X-Api-Key": extended_sim.keys.api_key}
    async with httpx.AsyncClient(
        transport=extended_sim.http_transport(), base_url=extended_sim.rest_url, headers=headers
    ) as client:
        yield client


@pytest.fixture
def extended_sim_headers(extended_sim: ExtendedSim) -> dict[str, str]:
    return {"User-Agent": UA, "X-Api-Key": extended_sim.keys.api_key}


@pytest.fixture
def extended_sim_sign(extended_sim: ExtendedSim) -> Callable[..., dict[str, Any]]:
    """sign(side, qty, price, **kw) -> the JSON body x10's create_order_object produces."""
    from x10.config import MAINNET_CONFIG
    from x10.core.stark_account import StarkPerpetualAccount
    from x10.models.market import MarketModel
    from x10.models.order import OrderSide, TimeInForce
    from x10.signing.order_object import create_order_object

    keys = extended_sim.keys
    account = StarkPerpetualAccount(extended_sim.settings.vault, keys.private_key_hex, keys.public_key_hex, keys.api_key)
    market = MarketModel.model_validate(extended_sim.market_data())
    ids = itertools.count(1)

    def sign(
        side: str,
        qty: str | Decimal,
        price: str | Decimal,
        *,
        post_only: bool = True,
        external_id: str | None = None,
        ioc: bool = False,
        expire_in: timedelta = timedelta(hours=1),
        fee: Decimal | None = Decimal("0.0005"),
        replaces: str | None = None,
    ) -> dict[str, Any]:
        n = next(ids)
        expire = datetime.fromtimestamp(extended_sim.now_ms() / 1000, tz=timezone.utc) + expire_in
        order = create_order_object(
            account=account,
            market=market,
            amount_of_synthetic=Decimal(qty),
            price=Decimal(price),
            side=OrderSide.BUY if side == "BUY" else OrderSide.SELL,
            starknet_domain=MAINNET_CONFIG.signing.starknet_domain,
            post_only=post_only,
            time_in_force=TimeInForce.IOC if ioc else TimeInForce.GTT,
            expire_time=expire,
            order_external_id=external_id or f"hd-test-{n}",
            nonce=1000 + n,
            taker_fee=fee,
            previous_order_external_id=replaces,
        )
        return order.to_api_request_json(exclude_none=True)

    return sign


@pytest.fixture
async def extended_sim_server(nursery, extended_sim_settings: ExtendedSimSettings):
    """(sim, SocketServer): the simulator served on 127.0.0.1, ephemeral port, in the test's nursery.
    Not for autojump-clock tests (real sockets make the mock clock jump while bytes are in flight)."""
    sim = ExtendedSim(extended_sim_settings)
    server = await nursery.start(sim.serve)
    return sim, server
