"""Lighter REST: one keep-alive httpx client, typed errors, client-side rate limits per tier.

Failure mapping (the strategy branches on these):

| what happened | raised |
|---|---|
| connect refused / connect timeout / pool timeout | `TransportError` (never reached the venue) |
| read-only request: read timeout, 5xx, broken reply | `TransportError` (safe to retry) |
| `sendTx`: read timeout, our deadline, 5xx, broken reply | `AmbiguousOutcome` (look it up; never resend blindly) |
| HTTP 429 / 405 (edge firewall) | `RateLimited` |
| HTTP 401/403, code 21504/21108, "auth"/"token" text | `AuthError` |
| code 21104 or "invalid nonce" text | `NonceError` |
| any other `code != 200` (HTTP 400 or 200) | `OrderRejected` (with the venue code) |
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import msgspec
import trio
from loguru import logger

from hedged.venues.base import (
    AmbiguousOutcome,
    AuthError,
    NonceError,
    OrderRejected,
    RateLimited,
    TransportError,
    Venue,
    VenueError,
)
from hedged.venues.lighter import wire

V = Venue.LIGHTER
API = "/api/v1"


# ---- rate limits -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """Budgets per rolling minute. `weighted=False` counts every request as 1 (Standard)."""

    rest_per_min: int
    sendtx_per_min: int
    weighted: bool


TIERS: dict[str, Tier] = {
    "standard": Tier(rest_per_min=60, sendtx_per_min=60, weighted=False),  # sendTx bucket UNCONFIRMED
    "premium": Tier(rest_per_min=24_000, sendtx_per_min=4_000, weighted=True),
    "plus": Tier(rest_per_min=120_000, sendtx_per_min=8_000, weighted=True),
}

WEIGHTS = {"sendTx": 6, "sendTxBatch": 6, "nextNonce": 6, "accountInactiveOrders": 100, "trades": 600}
DEFAULT_WEIGHT = 300


class RollingWindow:
    """Pure rolling-window budget: `reserve(now, w)` returns when a request of weight w may go.

    Reserving records the slot immediately, so concurrent callers never share one.
    """

    def __init__(self, capacity: int, window_s: float = 60.0) -> None:
        self.capacity = capacity
        self.window_s = window_s
        self._slots: deque[tuple[float, int]] = deque()
        self._used = 0

    def reserve(self, now: float, weight: int = 1) -> float:
        weight = min(weight, self.capacity)
        while self._slots and self._slots[0][0] <= now - self.window_s:
            self._used -= self._slots.popleft()[1]
        at = now
        used = self._used
        for t, w in self._slots:
            if used + weight <= self.capacity:
                break
            used -= w
            at = t + self.window_s
        self._slots.append((max(at, self._slots[-1][0]) if self._slots else at, weight))
        self._used += weight
        return max(at, now)


class Limiter:
    """A `RollingWindow` on the Trio clock that counts how often and how long it made a request wait."""

    def __init__(
        self, name: str, capacity: int, *, window_s: float = 61.0, on_wait: Callable[[float], None] | None = None
    ) -> None:
        # One second more than the venue's minute: our slot time precedes the request's arrival there.
        self.name = name
        self._on_wait = on_wait
        self._window = RollingWindow(capacity, window_s)
        self.waits = 0
        self.waited_s = 0.0

    async def acquire(self, weight: int = 1) -> None:
        now = trio.current_time()
        at = self._window.reserve(now, weight)
        if at > now:
            self.waits += 1
            self.waited_s += at - now
            logger.info("lighter_rate_limit_wait bucket={} wait_s={:.3f} waits={}", self.name, at - now, self.waits)
            if self._on_wait is not None:
                self._on_wait(at - now)
            await trio.sleep_until(at)
        else:
            await trio.lowlevel.checkpoint()


# ---- errors ------------------------------------------------------------------


def classify(code: int | None, message: str | None, *, http_status: int) -> VenueError:
    text = (message or "").lower()
    c = str(code) if code is not None else None
    if http_status in (429, 405) or code == 429:
        return RateLimited(V, f"rate limited (HTTP {http_status})", code=c)
    if code == 21104 or "invalid nonce" in text:
        return NonceError(V, "invalid nonce", code=c)
    if http_status in (401, 403) or code in (21504, 21108) or "auth" in text or "token" in text:
        return AuthError(V, _short(message) or "auth refused", code=c)
    return OrderRejected(V, _short(message) or "rejected", code=c)


def _short(message: str | None) -> str | None:
    return message[:200] if message else message


# ---- the client --------------------------------------------------------------


class LighterRest:
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
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=60),
            headers={"user-agent": user_agent},
        )
        self._tier = tier
        self._timeout_s = timeout_s
        self.rest_limiter = Limiter("rest", tier.rest_per_min, on_wait=on_rate_limit_wait)
        self.sendtx_limiter = Limiter("sendtx", tier.sendtx_per_min, on_wait=on_rate_limit_wait)
        self._dec_books = msgspec.json.Decoder(wire.OrderBooksResp)
        self._dec_nonce = msgspec.json.Decoder(wire.NextNonceResp)
        self._dec_send = msgspec.json.Decoder(wire.SendTxResp)
        self._dec_orders = msgspec.json.Decoder(wire.OrdersResp)
        self._dec_account = msgspec.json.Decoder(wire.AccountResp)
        self._dec_trades = msgspec.json.Decoder(wire.TradesResp)
        self._dec_env = msgspec.json.Decoder(wire.Envelope)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LighterRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _weight(self, endpoint: str) -> int:
        return WEIGHTS.get(endpoint, DEFAULT_WEIGHT) if self._tier.weighted else 1

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
    ):
        limiter = self.sendtx_limiter if is_tx else self.rest_limiter
        await limiter.acquire(self._weight(endpoint))
        unsure = AmbiguousOutcome if is_tx else TransportError
        headers = {"authorization": token} if token else None
        try:
            # httpx timeouts are not applied by in-memory transports; the Trio deadline always is.
            with trio.fail_after(self._timeout_s + 1.0):
                resp = await self._http.request(method, API + "/" + endpoint, params=params, data=data, headers=headers)
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
        nonce = (await self._request("GET", "nextNonce", self._dec_nonce, params=params)).nonce
        if nonce < 0:
            # Never pass a negative nonce on: the signer would then fetch one itself, inside C.
            raise TransportError(V, "nextNonce reply without a nonce")
        return nonce

    async def send_tx(self, tx_type: int, tx_info: str) -> wire.SendTxResp:
        data = {"tx_type": str(tx_type), "tx_info": tx_info}
        return await self._request("POST", "sendTx", self._dec_send, data=data, is_tx=True)

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

