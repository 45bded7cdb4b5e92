"""REST envelope and error mapping (httpx.MockTransport: decoding and HTTP shapes only)."""

from __future__ import annotations

import httpx
import pytest
import trio
from adapter_fixtures import MARKET, envelope, market_json, order_json

from hedged.venues.base import AmbiguousOutcome, AuthError, OrderRejected, RateLimited, TransportError, VenueError
from hedged.venues.extended.rest import ExtendedRest, NotFound, open_http_client
from hedged.venues.ratelimit import Limiter

API_KEY = "test-api-key-not-real"


def rest_with(handler, *, deadline_s: float = 5.0) -> tuple[httpx.AsyncClient, ExtendedRest]:
    http = open_http_client(rest_url="http://sim/api/v1", timeout=httpx.Timeout(5.0),
                            transport=httpx.MockTransport(handler))
    return http, ExtendedRest(http, API_KEY, Limiter("rest", 1000, venue="extended"), deadline_s=deadline_s)


async def test_user_requests_carry_api_key_and_user_agent_but_info_requests_no_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/info/markets"):
            return httpx.Response(200, content=envelope([market_json()]))
        return httpx.Response(200, content=envelope([order_json()]))

    http, rest = rest_with(handler)
    async with http:
        market, raw = await rest.market(MARKET)
        orders = await rest.open_orders(MARKET)
    assert str(market.trading_config.min_price_change) == raw["tradingConfig"]["minPriceChange"]
    assert str(market.l2_config.synthetic_resolution) == "1000" and orders[0].external_id == "hd-1"
    info, user = seen
    assert "x-api-key" not in info.headers and user.headers["x-api-key"] == API_KEY
    assert info.headers["user-agent"] and user.headers["user-agent"]
    assert user.url.params["market"] == MARKET
    assert API_KEY not in repr(rest) and API_KEY not in repr(http)


@pytest.mark.parametrize(("status", "body", "exc", "code"), [
    (400, envelope(status="ERROR", error={"code": 1121, "message": "step"}), OrderRejected, "1121"),
    (422, envelope(status="ERROR", error={"code": "INVALID", "message": "x"}), OrderRejected, "INVALID"),
    (200, envelope(status="ERROR", error={"code": 1140, "message": "cost"}), OrderRejected, "1140"),
    (401, b"", AuthError, None),
    (429, b"", RateLimited, None),
    (503, b"oops", AmbiguousOutcome, None),
    (200, b"{not json", AmbiguousOutcome, None),
    (200, envelope({"unexpected": True}), AmbiguousOutcome, None),
])
async def test_placement_errors_are_typed(status: int, body: bytes, exc: type, code: str | None) -> None:
    http, rest = rest_with(lambda r: httpx.Response(status, content=body, headers={"retry-after": "2"}))
    async with http:
        with pytest.raises(exc) as info:
            await rest.place(b"{}")
    if code is not None:
        assert info.value.code == code
    if exc is RateLimited:
        assert info.value.retry_after_s == 2.0


async def test_read_5xx_is_a_transport_error_and_404_is_empty_or_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "external" in request.url.path or request.url.path.endswith("/balance"):
            return httpx.Response(404, content=envelope(status="ERROR", error={"code": "NOT_FOUND", "message": "-"}))
        if request.url.path.endswith("/orders/5"):
            return httpx.Response(404)
        return httpx.Response(502)

    http, rest = rest_with(handler)
    async with http:
        assert await rest.orders_by_external_id("hd/with slash") == []
        assert await rest.order_by_id("5") is None
        assert await rest.balance() is None
        with pytest.raises(TransportError):
            await rest.positions(MARKET)


async def test_cancel_of_unknown_order_raises_not_found() -> None:
    http, rest = rest_with(lambda r: httpx.Response(404))
    async with http:
        with pytest.raises(NotFound):
            await rest.cancel_by_external_id("hd-x")


async def test_connect_failure_is_transport_error_and_read_failure_after_send_is_ambiguous() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset", request=request)

    for handler, exc in ((refuse, TransportError), (drop, AmbiguousOutcome)):
        http, rest = rest_with(handler)
        async with http:
            with pytest.raises(exc):
                await rest.place(b"{}")


async def test_a_hanging_write_ends_at_the_trio_deadline_as_ambiguous(autojump_clock) -> None:
    class Hang(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await trio.sleep_forever()

    http = open_http_client(rest_url="http://sim/api/v1", timeout=httpx.Timeout(5.0), transport=Hang())
    rest = ExtendedRest(http, API_KEY, Limiter("rest", 1000, venue="extended"), deadline_s=3.0)
    async with http:
        start = trio.current_time()
        with pytest.raises(AmbiguousOutcome):
            await rest.mass_cancel(MARKET)
        with pytest.raises(TransportError):
            await rest.open_orders(MARKET)
        assert trio.current_time() - start == pytest.approx(6.0)


async def test_business_error_on_read_is_venue_error_with_code() -> None:
    http, rest = rest_with(lambda r: httpx.Response(400, content=envelope(status="ERROR",
                                                                           error={"code": 1001, "message": "m"})))
    async with http:
        with pytest.raises(VenueError) as info:
            await rest.fees(MARKET)
    assert info.value.code == "1001" and not isinstance(info.value, OrderRejected)


async def test_the_rest_budget_is_the_venues_rolling_minute_and_no_minute_exceeds_it(autojump_clock) -> None:
    # extended.md section 8: 1,000 requests per minute. The whole minute may go at once; the next
    # request waits until the first has aged out of the (one second longer) window, and is counted.
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(trio.current_time())
        return httpx.Response(200, content=envelope([market_json()]))

    waits: list[float] = []
    http = open_http_client(rest_url="http://sim/api/v1", timeout=httpx.Timeout(5.0),
                            transport=httpx.MockTransport(handler))
    limiter = Limiter("rest", 1000, venue="extended", on_wait=waits.append)
    rest = ExtendedRest(http, API_KEY, limiter)
    async with http:
        start = trio.current_time()
        for _ in range(2500):
            await rest.market(MARKET)
    assert sum(1 for t in sent if t == start) == 1000
    j = 0
    for i, t in enumerate(sent):
        while sent[j] <= t - 60:
            j += 1
        assert i - j + 1 <= 1000
    stats = limiter.stats()
    assert stats.acquired == 2500 and stats.waits == len(waits) >= 2
    assert sent[1000] - start == pytest.approx(61.0) and sum(waits) == pytest.approx(stats.waited_s)
