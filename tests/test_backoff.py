"""The one backoff (hedged/backoff.py) gives every caller, to the bit and with the same RNG draws, the delays of
the code it replaced (supervisor restarts, hedge attempts, the guard's re-reads, alert deliveries, both venues'
reconnects): DST seeds replay the same schedule. The reference formulas below are the former implementations."""

from __future__ import annotations

import math
import random

import pytest

from hedged.alerts.policy import backoff_delay as alert_delay
from hedged.alerts.settings import AlertSettings
from hedged.backoff import Backoff, Retries
from hedged.nursery.supervisor import RestartPolicy
from hedged.strategy.guard import RECONCILE_BACKOFF


def _restart_before(attempt, rng, initial, maximum, jitter):
    base = min(maximum, initial * math.pow(2, attempt))
    return max(0.0, base * (1 + rng.uniform(-jitter, jitter)))


def _hedge_attempt_before(failures, initial, maximum):
    return 0.0 if failures < 1 else min(maximum, initial * (2 ** (failures - 1)))


def _reconnect_before(attempt, initial, maximum, rng):
    base = min(maximum, initial * (2**attempt))
    return base / 2 + rng.random() * base / 2


def test_supervisor_restarts_keep_their_delays_and_draws():
    policy = RestartPolicy(backoff_initial_s=1.0, backoff_max_s=30.0, jitter=0.2)
    a, b = random.Random(42), random.Random(42)
    assert [policy.delay(i, a) for i in range(12)] == [_restart_before(i, b, 1.0, 30.0, 0.2) for i in range(12)]
    assert a.random() == b.random()  # one draw per delay, as before


def test_hedge_attempts_keep_their_pauses():
    # attempt.py pauses after failure number `failures` (>= 1): Backoff.delay(failures - 1).
    for failures in range(1, 40):
        assert Backoff(0.2, 2.0).delay(failures - 1) == _hedge_attempt_before(failures, 0.2, 2.0)


def test_the_guard_re_reads_double_from_half_a_second_to_eight():
    pause, before = 0.5, []
    for _ in range(8):
        before.append(pause)
        pause = min(pause * 2, 8.0)
    assert [RECONCILE_BACKOFF.delay(k) for k in range(8)] == before


@pytest.mark.parametrize(("attempts", "retry_after", "expected"),
                         [(1, None, 1.0), (2, None, 2.0), (3, None, 4.0), (7, None, 60.0), (500, None, 60.0),
                          (1, 30.0, 30.0), (1, 999.0, 60.0)])  # fmt: skip
def test_alert_deliveries_double_up_to_the_cap_and_honour_retry_after(attempts, retry_after, expected):
    settings = AlertSettings(backoff_initial_s=1.0, backoff_factor=2.0, backoff_max_s=60.0)
    assert alert_delay(attempts, settings, retry_after) == expected


def test_reconnects_keep_their_equal_jitter_and_draws_for_lighter_and_extended():
    backoff = Backoff(0.5, 30.0, jitter="equal")
    a, b = random.Random(3), random.Random(3)
    assert [backoff.delay(n, a) for n in range(1000)] == [_reconnect_before(n, 0.5, 30.0, b) for n in range(1000)]
    # Extended's stateful form: the same delays, and back to the first after a success.
    retries, ref = Retries(Backoff(1.0, 8.0, jitter="equal"), random.Random(5)), random.Random(5)
    got = [retries.next() for _ in range(6)]
    assert got == [_reconnect_before(n, 1.0, 8.0, ref) for n in range(6)]
    retries.reset()
    assert retries.next() == _reconnect_before(0, 1.0, 8.0, ref)


def test_a_long_outage_stays_at_the_cap_and_a_jittered_backoff_needs_the_seeded_rng():
    retries = Retries(Backoff(0.2, 30.0, jitter="equal"), random.Random(1))
    delays = [retries.next() for _ in range(5000)]
    assert 15.0 <= delays[-1] <= 30.0
    with pytest.raises(ValueError, match="seeded rng"):
        Backoff(1.0, 2.0, jitter="equal").delay(0)
