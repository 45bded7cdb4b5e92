"""Extended REST: one keep-alive httpx client, the envelope, typed errors, the rate limit (`hedged/venues/ratelimit.py`).

Error mapping (what the caller can rely on):

| what happened                                         | raised            |
|-------------------------------------------------------|-------------------|
| could not connect / pool timeout (nothing was sent)   | TransportError    |
| timeout or broken connection after sending, write     | AmbiguousOutcome  |
| 5xx on a write (POST/DELETE)                          | AmbiguousOutcome  |
| 5xx on a read                                         | TransportError    |
| undecodable 2xx reply to a write                      | AmbiguousOutcome  |
| 401 / 403                                             | AuthError (reported to `on_refused`) |
| 1100 / 1101 / 1102 (Stark key, signature, vault)      | OrderRejected (reported to `on_refused`: a credential, not an order, is wrong) |
| 429                                                   | RateLimited       |
| 404                                                   | NotFound          |
| other non-2xx, or 2xx with status != OK, on a write   | OrderRejected     |
| the same on a read                                    | VenueError        |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import trio

from hedged.venues.base import (
    AmbiguousOutcome,
    AuthError,
    OrderRejected,
    RateLimited,
    TransportError,
    Venue,
    VenueError,
)
from hedged.venues.extended import wire
from hedged.venues.ratelimit import Limiter

VENUE = Venue.EXTENDED
USER_AGENT = "hedged/0.1 (+x10-python-trading-starknet 2.6.0 compatible)"


# InvalidStarknetPublicKey / InvalidStarknetSignature / InvalidStarknetVault (extended.md §7): every
# order will be refused the same way until the configuration is fixed.
CREDENTIAL_CODES = frozenset({"1100", "1101", "1102"})


class NotFound(VenueError):
    """HTTP 404: callers turn it into None / [] / "look it up"."""


def open_http_client(
    *,
    rest_url: str,
    timeout: httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 8,
) -> httpx.AsyncClient:
    """The one client per venue; X-Api-Key is added per request on /user/* only."""
    return httpx.AsyncClient(
        base_url=rest_url.rstrip("/"),
        timeout=timeout,
        transport=transport,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                            keepalive_expiry=60.0),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Content-Type": "application/json"},
    )


class ExtendedRest:
    def __init__(self, http: httpx.AsyncClient, api_key: str, limiter: Limiter, *, deadline_s: float = 10.0,
                 on_refused: Callable[[str, VenueError], None] | None = None) -> None:
        self._http = http
        self._on_refused = on_refused  # the venue refused our credentials (API key, Stark key, signature)
        self._auth = {"X-Api-Key": api_key}
        self.limiter = limiter
        # A Trio deadline on top of httpx's own timeouts: custom transports (the
        # in-memory simulator) ignore httpx timeouts, and a Trio deadline works under MockClock.
        self.deadline_s = deadline_s
        self.requests = 0

    def __repr__(self) -> str:
        return "ExtendedRest()"

    async def request(
        self, method: str, path: str, *, params: Any = None, body: bytes | None = None, write: bool = False
    ) -> wire.Envelope:
        if not await self.limiter.acquire():
            # A REST call here has always been a scheduling point, budget or not (DST seeds replay it so).
            await trio.lowlevel.checkpoint()
        self.requests += 1
        headers = self._auth if path.startswith("/user") else None
        what = f"{method} {path.split('?')[0]}"
        if self._http.is_closed:
            # The venue service's run() ended (stop, failure, restart): typed, so callers treat it as
            # "not sent" instead of crashing on httpx's RuntimeError.
            raise TransportError(VENUE, f"{what}: not sent (client closed; the venue service is not running)")
        resp = None
        try:
            with trio.move_on_after(self.deadline_s):
                resp = await self._http.request(method, path, params=params, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransportError(VENUE, f"{what}: not sent ({type(exc).__name__})") from None
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            if write:
                raise AmbiguousOutcome(VENUE, f"{what}: reply lost ({type(exc).__name__})") from None
            raise TransportError(VENUE, f"{what}: reply lost ({type(exc).__name__})") from None
        if resp is None:
            if write:
                raise AmbiguousOutcome(VENUE, f"{what}: no reply within {self.deadline_s:g} s")
            raise TransportError(VENUE, f"{what}: no reply within {self.deadline_s:g} s")
        try:
            return self._interpret(resp, what, write)
        except AuthError as exc:
            self._refused(what, exc)
            raise
        except OrderRejected as exc:
            if exc.code in CREDENTIAL_CODES:
                self._refused(what, exc)
            raise

    def _refused(self, what: str, exc: VenueError) -> None:
        if self._on_refused is not None:
            self._on_refused(what, exc)

    @staticmethod
    def _interpret(resp: httpx.Response, what: str, write: bool) -> wire.Envelope:
        status = resp.status_code
        if status in (401, 403):
            raise AuthError(VENUE, f"{what}: HTTP {status}")
        if status == 429:
            raise RateLimited(VENUE, f"{what}: HTTP 429", retry_after_s=_retry_after(resp))
        if status >= 500:
            cls = AmbiguousOutcome if write else TransportError
            raise cls(VENUE, f"{what}: HTTP {status}", code=_code_or_none(resp.content))
        if status == 404:
            raise NotFound(VENUE, f"{what}: HTTP 404", code=_code_or_none(resp.content))
        try:
            env = wire.decode_envelope(resp.content)
        except wire.WireError as exc:
            if 200 <= status < 300 and write:
                raise AmbiguousOutcome(VENUE, f"{what}: undecodable reply ({exc})") from None
            raise VenueError(VENUE, f"{what}: HTTP {status}, undecodable reply ({exc})") from None
        if 200 <= status < 300 and env.ok:
            return env
        code = env.error.code_text if env.error else None
        message = (env.error.message if env.error else None) or f"HTTP {status}"
        cls = OrderRejected if write else VenueError
        raise cls(VENUE, f"{what}: {message[:200]}", code=code)

    # ---- endpoints -------------------------------------------------------

    async def market(self, name: str) -> tuple[wire.Market, dict[str, Any]]:
        """The market's config and its raw JSON object (the signer needs the whole object)."""
        env = await self.request("GET", "/info/markets", params={"market": name})
        items = wire.decode_data(env.data, list[dict[str, Any]], "markets")
        for item in items:
            if item.get("name") == name:
                try:
                    return msgspec.convert(item, wire.Market), item
                except msgspec.ValidationError as exc:
                    raise VenueError(VENUE, f"bad market config: {exc}") from None
        raise VenueError(VENUE, f"market {name} not listed", code="MARKET_NOT_FOUND")

    async def fees(self, market: str) -> wire.FeeRates:
        env = await self.request("GET", "/user/fees", params={"market": market})
        for fee in wire.decode_data(env.data, list[wire.FeeRates], "fees"):
            if fee.market == market:
                return fee
        raise VenueError(VENUE, f"no fee rates for {market}", code="FEES_NOT_FOUND")

    async def place(self, body: bytes) -> wire.PlacedOrder:
        env = await self.request("POST", "/user/order", body=body, write=True)
        try:
            return wire.decode_data(env.data, wire.PlacedOrder, "placed order")
        except wire.WireError as exc:
            raise AmbiguousOutcome(VENUE, f"POST /user/order: {exc}") from None

    async def cancel_by_id(self, order_id: str) -> None:
        await self.request("DELETE", f"/user/order/{quote(order_id, safe='')}", write=True)

    async def cancel_by_external_id(self, external_id: str) -> None:
        await self.request("DELETE", "/user/order", params={"externalId": external_id}, write=True)

    async def mass_cancel(self, market: str) -> None:
        body = msgspec.json.encode({"markets": [market]})
        await self.request("POST", "/user/order/massCancel", body=body, write=True)

    async def open_orders(self, market: str) -> list[wire.Order]:
        env = await self.request("GET", "/user/orders", params={"market": market})
        return wire.decode_data(env.data, list[wire.Order], "open orders") if wire.has_data(env.data) else []

    async def orders_by_external_id(self, external_id: str) -> list[wire.Order]:
        try:
            env = await self.request("GET", f"/user/orders/external/{quote(external_id, safe='')}")
        except NotFound:
            return []
        if not wire.has_data(env.data):
            return []
        return wire.decode_data(env.data, list[wire.Order], "orders by external id")

    async def order_by_id(self, order_id: str) -> wire.Order | None:
        try:
            env = await self.request("GET", f"/user/orders/{quote(order_id, safe='')}")
        except NotFound:
            return None
        return wire.decode_data(env.data, wire.Order, "order")

    async def positions(self, market: str) -> list[wire.Position]:
        env = await self.request("GET", "/user/positions", params={"market": market})
        return wire.decode_data(env.data, list[wire.Position], "positions") if wire.has_data(env.data) else []

    async def trades(self, market: str, *, cursor: int | None = None,
                     limit: int = 100) -> tuple[list[wire.AccountTrade], int | None]:
        """One page of our fills (`GET /user/trades`) and the cursor of the next page (None: no more)."""
        params: dict[str, str | int] = {"market": market, "limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        env = await self.request("GET", "/user/trades", params=params)
        rows = wire.decode_data(env.data, list[wire.AccountTrade], "trades") if wire.has_data(env.data) else []
        return rows, (env.pagination.cursor if env.pagination is not None and rows else None)

    async def funding_history(self, market: str, *, since_ms: int = 0, cursor: int | None = None,
                              limit: int = 100) -> tuple[list[wire.FundingRow], int | None]:
        """One page of our funding payments (`GET /user/funding/history`) and the next page's cursor.
        The docs name the lower bound `fromTime`; ccxt sends `startTime`: both go out."""
        params: dict[str, str | int] = {"market": market, "limit": limit, "fromTime": since_ms, "startTime": since_ms}
        if cursor is not None:
            params["cursor"] = cursor
        env = await self.request("GET", "/user/funding/history", params=params)
        rows = wire.decode_data(env.data, list[wire.FundingRow], "funding") if wire.has_data(env.data) else []
        return rows, (env.pagination.cursor if env.pagination is not None and rows else None)

    async def balance(self) -> wire.Balance | None:
        """None when the venue says 404, which it does for a zero balance."""
        try:
            env = await self.request("GET", "/user/balance")
        except NotFound:
            return None
        return wire.decode_data(env.data, wire.Balance, "balance")


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _code_or_none(body: bytes) -> str | None:
    try:
        env = wire.decode_envelope(body)
    except wire.WireError:
        return None
    return env.error.code_text if env.error else None
