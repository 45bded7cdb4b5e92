"""REST envelope handling on hand-made HTTP replies (both failure shapes Lighter uses)."""

import httpx
import pytest

from hedged.venues.base import AmbiguousOutcome, AuthError, NonceError, OrderRejected, RateLimited, TransportError
from hedged.venues.lighter.rest import TIERS, LighterRest


def rest_with(handler) -> LighterRest:
    return LighterRest("http://lighter.test", tier=TIERS["premium"], transport=httpx.MockTransport(handler))


def reply(status, body: bytes, headers=None):
    return lambda request: httpx.Response(status, content=body, headers=headers or {})


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, b'{"code":21104,"message":"invalid nonce"}', NonceError),
        (400, b'{"code":21104,"message":"invalid nonce"}', NonceError),
        (400, b'{"code":400,"message":"Invalid nonce"}', NonceError),
        (200, b'{"code":21122,"message":"OrderExpiry is invalid"}', OrderRejected),
        (400, b'{"code":21108,"message":"invalid PublicKey"}', AuthError),
        (429, b"Too Many Requests", RateLimited),
        (405, b"", RateLimited),
        (503, b"upstream", AmbiguousOutcome),
        (200, b"<html>oops</html>", AmbiguousOutcome),
    ],
)
async def test_send_tx_failures_map_to_typed_errors(status, body, kind):
    async with rest_with(reply(status, body)) as rest:
        with pytest.raises(kind):
            await rest.send_tx(14, "{}")


async def test_send_tx_ok_returns_the_hash_even_without_optional_fields():
    async with rest_with(reply(200, b'{"code":200,"tx_hash":"ab12","message":"{\\"ratelimit\\": \\"ok\\"}"}')) as rest:
        resp = await rest.send_tx(14, "{}")
    assert resp.tx_hash == "ab12" and resp.volume_quota_remaining is None


async def test_read_failures_are_transport_errors_and_connect_errors_too():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    async with rest_with(reply(502, b"")) as rest:
        with pytest.raises(TransportError):
            await rest.order_books()
    async with rest_with(refuse) as rest:
        with pytest.raises(TransportError):
            await rest.send_tx(14, "{}")  # never reached the venue: safe to say so even for a tx


async def test_retry_after_header_is_carried_on_rate_limits():
    async with rest_with(reply(429, b"", {"retry-after": "7"})) as rest:
        with pytest.raises(RateLimited) as err:
            await rest.next_nonce(1, 5)
    assert err.value.retry_after_s == 7.0


async def test_a_reply_without_a_nonce_is_refused():
    async with rest_with(reply(200, b'{"code":200}')) as rest:
        with pytest.raises(TransportError):
            await rest.next_nonce(1, 5)


async def test_auth_header_is_sent_on_private_reads_and_orders_are_decoded():
    seen = {}

    def handler(request):
        seen["auth"] = request.headers.get("authorization")
        seen["q"] = dict(request.url.params)
        return httpx.Response(200, content=b'{"code":200,"orders":[{"order_index":5,"client_order_index":9,"status":"open"}]}')

    async with rest_with(handler) as rest:
        orders = await rest.orders_by_client_index(1, [9], "tok")
    assert seen["auth"] == "tok" and seen["q"]["client_order_indexes"] == "9"
    assert orders[0].order_index == 5
