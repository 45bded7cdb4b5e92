"""Test support for the Lighter simulator: a funded account, a registered throw-away key and a trader
that signs real txs with the Go signer and sends them over REST. Used by tests of the sim and the adapter."""

from __future__ import annotations

from decimal import Decimal

import httpx

from hedged.venues.lighter.signing import SignedTx, Signer, generate_api_key
from hedged.sim.lighter.server import LighterSim

LIGHTER_SIM_ACCOUNT = 604118
LIGHTER_SIM_KEY = 5


def prepare_sim(sim: LighterSim, *, account: int = LIGHTER_SIM_ACCOUNT, api_key_index: int = LIGHTER_SIM_KEY,
                collateral: Decimal = Decimal(100_000), chain_id: int = 304) -> Signer:  # fmt: skip
    """Fund `account`, register a fresh key for it, and return a Signer for that key."""
    keys = generate_api_key()
    sim.add_account(account, collateral=collateral)
    sim.register_api_key(account, api_key_index, keys.public_key)
    return Signer.create(
        url="http://lighter.sim", private_key=keys.private_key, chain_id=chain_id,
        api_key_index=api_key_index, account_index=account,
    )  # fmt: skip


class LighterSimTrader:
    """Signs real txs with the test key and sends them to the sim over REST; tracks the nonce locally."""

    def __init__(self, sim: LighterSim, signer: Signer, http: httpx.AsyncClient) -> None:
        self.sim, self.signer, self.http = sim, signer, http
        self.nonce = sim.settings.initial_nonce
        self._coi = 100

    def next_coi(self) -> int:
        self._coi += 1
        return self._coi

    async def sign_order(self, *, is_ask: bool, qty: str, price: str, tif: int = 0, coi: int | None = None,
                         nonce: int | None = None, order_type: int = 0, reduce_only: bool = False) -> SignedTx:  # fmt: skip
        m = self.sim.settings.market
        n = self.nonce if nonce is None else nonce
        tx = self.signer.sign_create_order(
            market_index=m.market_id, client_order_index=coi if coi is not None else self.next_coi(),
            base_amount=m.size_units(Decimal(qty)), price=m.price_units(Decimal(price)), is_ask=is_ask,
            order_type=order_type, time_in_force=tif, order_expiry=0 if tif == 0 else -1, nonce=n,
            reduce_only=reduce_only,
        )  # fmt: skip
        if nonce is None:
            self.nonce += 1
        return tx

    async def send(self, tx: SignedTx) -> httpx.Response:
        return await self.http.post("/api/v1/sendTx", data={"tx_type": str(tx.tx_type), "tx_info": tx.tx_info})

    async def order(self, **kw) -> httpx.Response:
        return await self.send(await self.sign_order(**kw))

    def token(self, lifetime_s: float = 3600) -> str:
        return self.signer.create_auth_token(int(self.sim.wall_clock() + lifetime_s))

