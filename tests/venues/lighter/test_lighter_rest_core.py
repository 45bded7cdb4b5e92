"""Pure parts of the REST layer: the rolling-window limiter, error classification, backoff."""

import random

import pytest
import trio

from hedged.venues.base import AuthError, NonceError, OrderRejected, RateLimited
from hedged.venues.lighter.rest import Limiter, RollingWindow, classify
from hedged.venues.lighter.streams import backoff_delay


def test_sixty_requests_pass_then_the_sixty_first_waits_for_the_oldest_to_age_out():
    w = RollingWindow(60)
    assert [w.reserve(float(i) / 10) for i in range(60)] == [float(i) / 10 for i in range(60)]
    assert w.reserve(10.0) == pytest.approx(60.0)
    assert w.reserve(10.0) == pytest.approx(60.1)


def test_weighted_requests_consume_their_weight():
    w = RollingWindow(600)
    assert w.reserve(0.0, 300) == 0.0
    assert w.reserve(1.0, 300) == 1.0
    assert w.reserve(2.0, 6) == pytest.approx(60.0)


def test_slots_expire_after_the_window():
    w = RollingWindow(2)
    w.reserve(0.0)
    w.reserve(0.0)
    assert w.reserve(61.0) == 61.0


async def test_limiter_counts_the_waits_it_imposes(autojump_clock):
    waits = []
    lim = Limiter("rest", 2, window_s=60.0, on_wait=waits.append)
    t0 = trio.current_time()
    for _ in range(3):
        await lim.acquire()
    assert trio.current_time() - t0 == pytest.approx(60.0)
    assert lim.waits == 1 and lim.waited_s == pytest.approx(60.0) and waits == [pytest.approx(60.0)]


@pytest.mark.parametrize(
    ("code", "message", "status", "kind"),
    [
        (21104, "invalid nonce", 400, NonceError),
        (400, "Invalid Nonce for account", 200, NonceError),
        (21504, "auth required", 400, AuthError),
        (21108, "invalid PublicKey", 400, AuthError),
        (None, None, 401, AuthError),
        (None, None, 429, RateLimited),
        (21122, "OrderExpiry is invalid", 400, OrderRejected),
        (21728, "client order index already exists", 200, OrderRejected),
    ],
)
def test_failures_are_typed_by_code_message_and_status(code, message, status, kind):
    err = classify(code, message, http_status=status)
    assert type(err) is kind


def test_backoff_grows_exponentially_with_bounded_jitter():
    rng = random.Random(3)
    delays = [backoff_delay(a, 0.5, 30.0, rng) for a in range(10)]
    for a, d in enumerate(delays):
        base = min(30.0, 0.5 * 2**a)
        assert base / 2 <= d <= base
    assert delays[-1] <= 30.0
