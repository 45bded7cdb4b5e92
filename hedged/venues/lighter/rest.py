"""Lighter REST: one keep-alive httpx client per run, typed errors, client-side rate limits per tier.

Failure mapping (the strategy branches on these):

| what happened | raised |
|---|---|
| connect refused / connect timeout / pool timeout | `TransportError` (never reached the venue) |
| read-only request: read timeout, 5xx, broken reply | `TransportError` (safe to retry) |
| `sendTx`: read timeout, our deadline, 5xx, broken reply | `AmbiguousOutcome` (look it up; never resend blindly) |
| HTTP 429 / 405 (edge firewall) | `RateLimited` |
| HTTP 401/403, code 21504/21108, "auth"/"token"/"signature" text | `AuthError` (credentials refused) |
| code 21104 or "invalid nonce" text | `NonceError` |
| any other `code != 200` (HTTP 400 or 200) | `OrderRejected` (with the venue code) |
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import msgspec
import trio

from hedged.venues.base import (
    AmbiguousOutcome,
    AuthError,
    NonceError,
    OrderRejected,
    RateLimited,
    TransportError,
    Venue,
    VenueError,
    hedge_path,  # noqa: F401 (re-exported: the adapter's modules take it from here)
    on_hedge_path,
)
from hedged.venues.lighter import wire
from hedged.venues.ratelimit import Limiter

V = Venue.LIGHTER
API = "/api/v1"


# ---- rate limits -------------------------------------------------------------
#
# Source: Lighter's "Rate Limits" page (apidocs.lighter.xyz/docs/rate-limits, read 2026-12) and
# "Account Types" / "Volume Quota" pages; shared/venues/lighter.md §7.
# * Limits are counted per IP *and* per L1 address, over a rolling minute.
# * Standard: 60 requests per rolling minute, unweighted, and sendTx/sendTxBatch are NOT a separate
#   bucket on this tier (the page says the separate sendTx bucket exists "for non-standard account
#   types" only): hedges, nextNonce and REST reads share the 60. The page also caps every tier at
#   premium_weight_budget / weight (24,000 / weight) per minute, e.g. `trades` (600) at 40: a Standard
#   request therefore costs max(400, weight) out of 24,000.
# * Premium: 24,000 weighted REST per rolling minute (sendTx excluded); sendTx/sendTxBatch in their
#   own bucket "linked to account type and staked tokens": 4,000/min at 0 staked LIT up to 40,000
#   (lighter.md §7; the exact per-stake table is UNCONFIRMED, so the 0-LIT floor is used). Plus:
#   120,000 weighted REST, 8,000 sendTx. Premium also spends a volume quota on creates/modifies
#   (not modelled here: the ack's volume_quota_remaining is logged).
# * Txs sent over the WebSocket (jsonapi/sendtx) share the same limits as REST sendTx.
# Hedge-path transactions (place_taker, modify, cancel, cancel_all, nextNonce) have `priority`: they
# may use the whole budget, everything else only `capacity - reserved`, so a hedge never waits
# behind reads or non-hedge traffic; it waits only once hedges themselves used the budget up.



# `hedge_path()` (venues/base.py) is set around requests that a hedge cannot go out without or be known
# without: the re-sync that must finish before the session is ready, a start's market read, the executor's
# lookup of an ambiguous hedge. They take the priority share like the hedge itself; in the normal share
# they waited behind periodic reads (DST seed 49's plan: every hedge ended "nothing sent"; seed 728: an
# ambiguous hedge's lookups timed out).

@dataclass(frozen=True, slots=True)
class Tier:
    """One account tier's budgets per rolling minute.

    `rest_capacity` is in weight units; a request costs `max(min_cost, weight)` when `weighted`, else
    `min_cost`. `sendtx_capacity=None` means sendTx draws from the REST bucket (Standard); otherwise it
    is its own bucket counted per transaction. `reserved` is the share kept for priority requests.
    """

    rest_capacity: int
    sendtx_capacity: int | None
    min_cost: int
    reserved: int


TIERS: dict[str, Tier] = {
    # 60 requests = 60 x 400 of 24,000; 20 of the 60 are kept for hedges.
    "standard": Tier(rest_capacity=24_000, sendtx_capacity=None, min_cost=400, reserved=20 * 400),
    "premium": Tier(rest_capacity=24_000, sendtx_capacity=4_000, min_cost=1, reserved=1_000),
    "plus": Tier(rest_capacity=120_000, sendtx_capacity=8_000, min_cost=1, reserved=2_000),
}

WEIGHTS = {"sendTx": 6, "sendTxBatch": 6, "nextNonce": 6, "accountInactiveOrders": 100, "trades": 600, "recentTrades": 600}
DEFAULT_WEIGHT = 300


@dataclass(frozen=True, slots=True)
class Budgets:
    """The limiters of one account, owned by the client so they outlive a restart of the service."""

    tier: Tier
    rest: Limiter
    sendtx: Limiter  # the same object as `rest` on Standard

    @classmethod
    def for_tier(cls, tier: Tier, on_wait: Callable[[float], None] | None = None) -> Budgets:
        rest = Limiter("rest", tier.rest_capacity, venue="lighter", reserved=tier.reserved, on_wait=on_wait)
        if tier.sendtx_capacity is None:
            return cls(tier, rest, rest)
        return cls(tier, rest, Limiter("sendtx", tier.sendtx_capacity, venue="lighter", reserved=tier.reserved, on_wait=on_wait))

    def cost(self, endpoint: str) -> int:
        """What one request costs in its bucket (sendTx in a bucket of its own counts 1 per tx)."""
        if endpoint in ("sendTx", "sendTxBatch") and self.tier.sendtx_capacity is not None:
            return 1
        return max(self.tier.min_cost, WEIGHTS.get(endpoint, DEFAULT_WEIGHT))

    async def acquire_tx(self, *, priority: bool) -> None:
        await self.sendtx.acquire(self.cost("sendTx"), priority=priority)


# ---- errors ------------------------------------------------------------------


def classify(code: int | None, message: str | None, *, http_status: int) -> VenueError:
    text = (message or "").lower()
    c = str(code) if code is not None else None
    if http_status in (429, 405) or code == 429:
        return RateLimited(V, f"rate limited (HTTP {http_status})", code=c)
    if code == 21104 or "invalid nonce" in text:
        return NonceError(V, "invalid nonce", code=c)
    # A refused signature means the API private key is not the one registered: a credential problem.
    if http_status in (401, 403) or code in (21504, 21108) or any(w in text for w in ("auth", "token", "signature")):
        return AuthError(V, _short(message) or "auth refused", code=c)
    return OrderRejected(V, _short(message) or "rejected", code=c)


def _short(message: str | None) -> str | None:
    return message[:200] if message else message


# ---- the client --------------------------------------------------------------


class LighterRest:
    """`async with LighterRest(...) as rest:` opens the keep-alive HTTP client; leaving closes it.

    It can be entered again after leaving (a restarted venue service gets a fresh connection pool);
    the budgets are passed in so that they outlive it: the venue's minute does not restart with us.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tier: Tier,
        timeout_s: float = 5.0,
        connect_timeout_s: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "hedged/0.1",
        on_rate_limit_wait: Callable[[float], None] | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._transport = transport
        self._user_agent = user_agent
        self._connect_timeout_s = connect_timeout_s
        self._http: httpx.AsyncClient | None = None
        self.budgets = budgets or Budgets.for_tier(tier, on_rate_limit_wait)
        self._timeout_s = timeout_s
        self.rest_limiter = self.budgets.rest
        self.sendtx_limiter = self.budgets.sendtx
        self._dec_books = msgspec.json.Decoder(wire.OrderBooksResp)
        self._dec_nonce = msgspec.json.Decoder(wire.NextNonceResp)
        self._dec_send = msgspec.json.Decoder(wire.SendTxResp)
        self._dec_orders = msgspec.json.Decoder(wire.OrdersResp)
        self._dec_account = msgspec.json.Decoder(wire.AccountResp)
        self._dec_trades = msgspec.json.Decoder(wire.TradesResp)
        self._dec_fundings = msgspec.json.Decoder(wire.PositionFundingsResp)
        self._dec_rates = msgspec.json.Decoder(wire.FundingRatesResp)
        self._dec_env = msgspec.json.Decoder(wire.Envelope)

    def _open(self) -> httpx.AsyncClient:
        if self._http is not None:
            raise RuntimeError("LighterRest is already open")
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            transport=self._transport,
            timeout=httpx.Timeout(self._timeout_s, connect=self._connect_timeout_s),
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=60),
            headers={"user-agent": self._user_agent},
        )
        return self._http

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> LighterRest:
        self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with trio.CancelScope(shield=True):
            await self.aclose()

    async def _request(
        self,
        method: str,
        endpoint: str,
        decoder: msgspec.json.Decoder,
        *,
        params: dict[str, str | int] | None = None,
        data: dict[str, str] | None = None,
        token: str | None = None,
        is_tx: bool = False,
        budgeted: bool = False,
        priority: bool = False,
    ):
        http = self._http
        if http is None or http.is_closed:
            raise TransportError(V, f"{endpoint}: not sent (client not running)")
        if not budgeted:
            limiter = self.sendtx_limiter if is_tx else self.rest_limiter
            await limiter.acquire(self.budgets.cost(endpoint), priority=priority or on_hedge_path())
            if self._http is not http or http.is_closed:
                # The limiter outlives a run of the service: the run this request was made for ended
                # (and closed its client) while it waited. Nothing was sent.
                raise TransportError(V, f"{endpoint}: not sent (client closed while it waited for its budget)")
        unsure = AmbiguousOutcome if is_tx else TransportError
        headers = {"authorization": token} if token else None
        try:
            # httpx timeouts are not applied by in-memory transports; the Trio deadline always is.
            with trio.fail_after(self._timeout_s + 1.0):
                resp = await http.request(method, API + "/" + endpoint, params=params, data=data, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransportError(V, f"{endpoint}: {type(exc).__name__}") from None
        except (httpx.TransportError, trio.TooSlowError) as exc:
            raise unsure(V, f"{endpoint}: no reply ({type(exc).__name__})") from None
        if resp.status_code >= 500:
            raise unsure(V, f"{endpoint}: HTTP {resp.status_code}")
        if resp.status_code in (429, 405):
            retry = resp.headers.get("retry-after")
            raise RateLimited(V, f"{endpoint}: HTTP {resp.status_code}", retry_after_s=_float(retry))
        try:
            body = decoder.decode(resp.content)
        except msgspec.DecodeError:
            env = _try(self._dec_env, resp.content)
            if env is not None and env.code != 200:
                raise classify(env.code, env.message, http_status=resp.status_code) from None
            if resp.status_code != 200:
                raise classify(None, None, http_status=resp.status_code) from None
            raise unsure(V, f"{endpoint}: undecodable reply") from None
        if resp.status_code != 200 or body.code != 200:
            raise classify(body.code, body.message, http_status=resp.status_code)
        return body

    async def order_books(self) -> list[wire.OrderBookInfo]:
        return (await self._request("GET", "orderBooks", self._dec_books)).order_books

    async def next_nonce(self, account_index: int, api_key_index: int) -> int:
        params = {"account_index": account_index, "api_key_index": api_key_index}
        # Priority: a refetch happens under the nonce lock, with a hedge waiting for it.
        nonce = (await self._request("GET", "nextNonce", self._dec_nonce, params=params, priority=True)).nonce
        if nonce < 0:
            # Never pass a negative nonce on: the signer would then fetch one itself, inside C.
            raise TransportError(V, "nextNonce reply without a nonce")
        return nonce

    async def send_tx(self, tx_type: int, tx_info: str, *, budgeted: bool = False,
                      priority: bool = False) -> wire.SendTxResp:
        """`budgeted=True`: the caller already took this tx's share of the budget (before the nonce lock)."""
        data = {"tx_type": str(tx_type), "tx_info": tx_info}
        return await self._request("POST", "sendTx", self._dec_send, data=data, is_tx=True, budgeted=budgeted,
                                   priority=priority)

    async def account(self, account_index: int) -> wire.DetailedAccount:
        params = {"by": "index", "value": str(account_index)}
        accounts = (await self._request("GET", "account", self._dec_account, params=params)).accounts
        if not accounts:
            raise OrderRejected(V, f"unknown account {account_index}", code="21100")
        return accounts[0]

    async def active_orders(self, account_index: int, market_id: int, token: str) -> list[wire.WireOrder]:
        params = {"account_index": account_index, "market_id": market_id}
        return (await self._request("GET", "accountActiveOrders", self._dec_orders, params=params, token=token)).orders

    async def orders_by_client_index(self, account_index: int, indexes: list[int], token: str) -> list[wire.WireOrder]:
        out: list[wire.WireOrder] = []
        for start in range(0, len(indexes), 20):  # the endpoint takes at most 20 per call
            chunk = ",".join(str(i) for i in indexes[start : start + 20])
            params = {"account_index": account_index, "client_order_indexes": chunk}
            out += (await self._request("GET", "accountOrders", self._dec_orders, params=params, token=token)).orders
        return out


    async def trades(self, account_index: int, market_id: int, token: str, *, cursor: str | None = None,
                     limit: int = 100) -> tuple[list[wire.WireTrade], str | None]:
        """One page of the account's trades on a market, newest first (`sort_dir=desc`, the only
        direction the venue documents), and the next page's cursor (None on the last page)."""
        params: dict[str, str | int] = {"account_index": account_index, "market_id": market_id,
                                        "sort_by": "timestamp", "sort_dir": "desc", "limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = await self._request("GET", "trades", self._dec_trades, params=params, token=token)
        return body.trades, (body.next_cursor or None)

    async def recent_trades(self, market_id: int, *, limit: int = 100) -> list[wire.WireTrade]:
        """`GET /api/v1/recentTrades` (public: no token): the market's last `limit` trades, every account's."""
        body = await self._request("GET", "recentTrades", self._dec_trades, params={"market_id": market_id,
                                                                                 "limit": limit})
        return body.trades

    async def position_funding(self, account_index: int, market_id: int, token: str, *, start_s: int = 0,
                               cursor: str | None = None, limit: int = 100) -> tuple[list[wire.WireFunding], str | None]:
        """One page of `GET /api/v1/positionFunding` (with auth) and the next page's cursor."""
        params: dict[str, str | int] = {"account_index": account_index, "market_ids": str(market_id), "limit": limit}
        if start_s:
            params["start_timestamp"] = start_s
        if cursor:
            params["cursor"] = cursor
        body = await self._request("GET", "positionFunding", self._dec_fundings, params=params, token=token)
        return body.position_fundings, (body.next_cursor or None)

    async def funding_rates(self) -> list[wire.FundingRate]:
        return (await self._request("GET", "funding-rates", self._dec_rates)).funding_rates



def _try(decoder: msgspec.json.Decoder, raw: bytes):
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError:
        return None


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None

