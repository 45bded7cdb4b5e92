"""Pure policy: de-duplication window, per-event rate limit, backoff schedule."""

from __future__ import annotations

import pytest

from hedged.alerts.policy import Suppressor, Verdict, backoff_delay
from hedged.alerts.settings import AlertSettings


def test_same_event_and_key_within_the_window_is_a_duplicate_of_the_first() -> None:
    s = Suppressor(dedup_window_s=60, rate_limit_count=10, rate_limit_period_s=600)
    assert s.decide("hedge_failed", "k", 0.0).verdict is Verdict.SEND
    s.record("hedge_failed", "k", 0.0, 7, Verdict.SEND)
    d = s.decide("hedge_failed", "k", 59.9)
    assert d.verdict is Verdict.DUPLICATE and d.original_id == 7
    assert s.decide("hedge_failed", "other", 1.0).verdict is Verdict.SEND
    assert s.decide("halted", "k", 1.0).verdict is Verdict.SEND


def test_same_key_after_the_window_is_a_new_incident() -> None:
    s = Suppressor(dedup_window_s=60, rate_limit_count=10, rate_limit_period_s=600)
    s.record("e", "k", 0.0, 1, Verdict.SEND)
    assert s.decide("e", "k", 60.0).verdict is Verdict.SEND


def test_rate_limit_counts_per_event_kind_and_slides() -> None:
    s = Suppressor(dedup_window_s=0, rate_limit_count=2, rate_limit_period_s=100)
    for i, t in enumerate((0.0, 10.0)):
        assert s.decide("feed_stale", f"k{i}", t).verdict is Verdict.SEND
        s.record("feed_stale", f"k{i}", t, i, Verdict.SEND)
    assert s.decide("feed_stale", "k9", 50.0).verdict is Verdict.RATE_LIMITED
    assert s.decide("other_event", "k9", 50.0).verdict is Verdict.SEND
    # The first one leaves the window at t=100.
    assert s.decide("feed_stale", "k9", 100.0).verdict is Verdict.SEND


def test_rate_limited_incidents_do_not_use_up_the_budget() -> None:
    s = Suppressor(dedup_window_s=0, rate_limit_count=1, rate_limit_period_s=100)
    s.record("e", "a", 0.0, 1, Verdict.SEND)
    s.record("e", "b", 1.0, 2, Verdict.RATE_LIMITED)
    assert s.decide("e", "c", 100.0).verdict is Verdict.SEND


@pytest.mark.parametrize(
    ("attempts", "retry_after", "expected"),
    [(1, None, 1.0), (2, None, 2.0), (3, None, 4.0), (7, None, 60.0), (500, None, 60.0), (1, 30.0, 30.0), (1, 999.0, 60.0)],
)
def test_backoff_doubles_up_to_the_cap_and_honours_retry_after(
    attempts: int, retry_after: float | None, expected: float
) -> None:
    settings = AlertSettings(backoff_initial_s=1.0, backoff_factor=2.0, backoff_max_s=60.0)
    assert backoff_delay(attempts, settings, retry_after) == expected


def test_settings_reject_nonsense_with_the_key_path() -> None:
    with pytest.raises(ValueError, match="alerts.backoff_max_s"):
        AlertSettings(backoff_initial_s=10, backoff_max_s=1)
    with pytest.raises(ValueError, match="alerts.rate_limit_count"):
        AlertSettings(rate_limit_count=0)
