"""Pure parts of the REST layer: the rolling-window limiter, error classification."""


import pytest
import trio

from hedged.venues.base import AuthError, NonceError, OrderRejected, RateLimited
from hedged.venues.lighter.rest import TIERS, Budgets, classify
from hedged.venues.ratelimit import Limiter, RollingBudget


def test_sixty_requests_pass_then_the_sixty_first_waits_for_the_oldest_to_age_out():
    w = RollingBudget(60)
    assert [w.take(float(i) / 10, 1) for i in range(60)] == [None] * 60
    assert w.take(10.0, 1) == pytest.approx(60.0)
    assert w.take(60.0, 1) is None  # the oldest aged out: its place is free
    assert w.take(60.0, 1) == pytest.approx(60.1)


def test_weighted_requests_consume_their_weight():
    w = RollingBudget(600)
    assert w.take(0.0, 300) is None
    assert w.take(1.0, 300) is None
    assert w.take(2.0, 6) == pytest.approx(60.0)


def test_slots_expire_after_the_window():
    w = RollingBudget(2)
    w.take(0.0, 1)
    w.take(0.0, 1)
    assert w.take(61.0, 1) is None


def test_the_reserved_share_is_only_for_priority_requests():
    w = RollingBudget(60, reserved=20)
    assert [w.take(0.0, 1) for _ in range(40)] == [None] * 40
    assert w.take(1.0, 1) == pytest.approx(60.0)  # ordinary traffic stops at 40
    assert [w.take(2.0, 1, priority=True) for _ in range(20)] == [None] * 20  # hedges still have 20
    assert w.take(3.0, 1, priority=True) == pytest.approx(60.0)  # and no more than the venue's 60


def test_standard_shares_one_bucket_and_caps_heavy_endpoints_like_the_venue():
    b = Budgets.for_tier(TIERS["standard"])
    assert b.sendtx is b.rest  # Standard: sendTx is not a bucket of its own
    assert b.cost("sendTx") == b.cost("account") == 400  # 60 requests of 24,000
    assert b.cost("trades") == 600  # 24,000 / 600 = 40 a minute, as the docs cap it
    p = Budgets.for_tier(TIERS["premium"])
    assert p.sendtx is not p.rest and p.cost("sendTx") == 1 and p.cost("account") == 300


def test_a_request_retried_at_the_time_it_was_given_is_granted_whatever_the_float_rounding():
    t = 32756.445238821198  # (t + 61.0) - 61.0 < t in binary floating point
    w = RollingBudget(1, window_s=61.0)
    assert w.take(t, 1) is None
    at = w.take(t + 1.0, 1)
    assert at == t + 61.0
    assert w.take(at, 1) is None


async def test_limiter_counts_the_waits_it_imposes(autojump_clock):
    waits = []
    lim = Limiter("rest", 2, venue="lighter", window_s=60.0, on_wait=waits.append)
    t0 = trio.current_time()
    for _ in range(3):
        await lim.acquire()
    assert trio.current_time() - t0 == pytest.approx(60.0)
    assert lim.waits == 1 and lim.waited_s == pytest.approx(60.0) and waits == [pytest.approx(60.0)]
    assert lim.priority_waits == 0


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
        (21120, "invalid signature", 400, AuthError),
    ],
)
def test_failures_are_typed_by_code_message_and_status(code, message, status, kind):
    err = classify(code, message, http_status=status)
    assert type(err) is kind

