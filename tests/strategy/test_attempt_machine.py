"""The hedge attempt state machine, driven by events, checked by the actions it returns."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedged.ledger.hedging import HedgePlan
from hedged.strategy.attempt import (Cancel, ErrorKind, Failure, Forget, GiveUp, HedgeAttempts, Lookup, LookupResult,
                                     Modify, Send, Settled)
from hedged.venues.base import Side


def machine(max_attempts=3, **kw) -> HedgeAttempts:
    args = dict(max_attempts=max_attempts, backoff_initial_s=0.2, backoff_max_s=2.0, timeout_s=5.0,
                reprice_after_s=0.0, establish_s=2.0)
    args.update(kw)
    return HedgeAttempts(**args)


def plan(open_delta) -> HedgePlan:
    """The plan the executor hands in: open delta -> hedge side and size (no lot rounding here)."""
    d = D(open_delta)
    if d == 0:
        return HedgePlan(d, None, D(0), d)
    return HedgePlan(d, Side.SELL if d > 0 else Side.BUY, abs(d), D(0))


def test_a_maker_fill_is_sent_at_once_and_settles_after_one_order():
    m = machine()
    (send,) = m.exposure(0.0, plan("1"))
    assert send == Send(1, Side.SELL, D(1), 1, D(0), retry=False)
    assert m.exposure(0.0, plan("0")) == []  # the ledger now counts it in flight
    assert m.placed(1, 0.01) == []
    assert m.observed(1, D(1), D(1), terminal=True, has_id=True, now=0.3) == [Settled(1, True)]
    assert not m.busy


def test_exposure_growing_while_a_hedge_rests_is_sent_at_once_for_the_increment():
    m = machine()
    m.exposure(0.0, plan("1")), m.placed(1, 0.01)
    # a second maker fill of 0.4: the ledger's plan is the increment, the first hedge still rests
    (send,) = m.exposure(0.05, plan("0.4"))
    assert send == Send(2, Side.SELL, D("0.4"), 1, D(0), retry=False)
    assert set(m.orders) == {1, 2}


def test_a_fill_on_the_other_side_shrinks_the_resting_hedge_and_never_sends_the_reverse():
    m = machine()
    m.exposure(0.0, plan("1")), m.placed(1, 0.01)
    m.observed(1, D(0), D(1), terminal=False, has_id=True, now=0.02)
    # the maker sold 0.3 back: open delta -0.3 against a live SELL of 1
    assert m.exposure(0.1, plan("-0.3")) == [Modify(1, 1, D("0.7"))]
    assert m.exposure(0.11, plan("-0.3")) == []  # pending: not asked twice
    m.observed(1, D(0), D("0.7"), terminal=False, has_id=True, now=0.3)  # the modify landed
    assert m.exposure(0.3, plan("0")) == []


def test_a_reverse_fill_larger_than_the_hedge_cancels_it_and_its_remainder_is_no_failure():
    m = machine(max_attempts=1)
    m.exposure(0.0, plan("1")), m.placed(1, 0.01)
    m.observed(1, D(0), D(1), terminal=False, has_id=True, now=0.02)
    assert m.exposure(0.1, plan("-1.5")) == [Cancel(1)]
    assert m.observed(1, D(0), D(1), terminal=True, has_id=True, now=0.3) == [Settled(1, False)]
    assert m.failures == 0
    (send,) = m.exposure(0.3, plan("-0.5"))  # the net, once nothing of the other side is live
    assert send.side is Side.BUY and send.qty == D("0.5")


def test_a_hedge_not_yet_on_the_book_is_not_touched_and_nothing_reverse_is_sent():
    m = machine()
    m.exposure(0.0, plan("1"))  # still placing: no order id to modify
    assert m.exposure(0.05, plan("-0.3")) == []


def test_a_deadline_is_never_a_fill_it_cancels_then_looks_the_order_up():
    m = machine()
    m.exposure(0.0, plan("1")), m.placed(1, 0.0)
    assert m.tick(5.0) == [Failure("deadline"), Cancel(1)]
    assert m.cancel_answered(1, 5.1) == []
    assert m.tick(7.1) == [Lookup(1)]
    assert m.observed(1, D("0.4"), D(1), terminal=True, has_id=True, now=7.2) == [Settled(1, False)]
    assert m.exposure(7.2, plan("0.6")) == []  # backing off
    assert m.tick(7.4) == []
    (send,) = m.exposure(7.4, plan("0.6"))
    assert send == Send(2, Side.SELL, D("0.6"), 2, D(0), retry=True)


def test_a_new_fill_during_a_backoff_does_not_wait_for_it():
    m = machine()
    m.exposure(0.0, plan("1")), m.placed(1, 0.0)
    m.tick(5.0), m.cancel_answered(1, 5.0), m.observed(1, D(0), D(1), terminal=True, has_id=True, now=5.0)
    assert m.exposure(5.0, plan("1")) == []
    (send,) = m.exposure(5.05, plan("1.4"))
    assert send.qty == D("1.4") and send.retry


def test_every_attempt_ending_with_exposure_open_gives_up_after_the_last():
    m = machine(max_attempts=3)
    levels, now = [], 0.0
    for key in (1, 2, 3):
        (send,) = m.exposure(now, plan("1"))
        levels.append(send.level)
        m.placed(key, now), m.tick(now + 5), m.cancel_answered(key, now + 5)
        m.observed(key, D(0), D(1), terminal=True, has_id=True, now=now + 5)
        now += 10
        m.tick(now)
    failure, give_up = m.exposure(now, plan("1"))
    assert levels == [1, 2, 3] and failure == Failure("exhausted")
    assert isinstance(give_up, GiveUp) and "3 attempts" in give_up.reason
    assert m.exposure(now, plan("1")) == []


@pytest.mark.parametrize("kind", [ErrorKind.REJECTED, ErrorKind.SIGNING, ErrorKind.TRANSPORT, ErrorKind.NONCE,
                                  ErrorKind.RATE_LIMITED])
def test_placement_and_signing_errors_use_up_an_attempt(kind):
    m = machine(max_attempts=2)
    m.exposure(0.0, plan("1"))
    assert m.send_failed(1, kind, 0.0, "boom") == [Failure(str(kind)), Forget(1, f"send failed: {kind}")]
    m.tick(0.2)
    (send,) = m.exposure(0.2, plan("1"))
    assert send.retry and send.level == 2
    m.send_failed(2, kind, 0.2, "boom")
    _, give_up = m.exposure(0.2, plan("1"))
    assert isinstance(give_up, GiveUp) and "boom" in give_up.reason


def test_a_rate_limit_backs_off_at_least_its_retry_after():
    m = machine()
    m.exposure(0.0, plan("1"))
    m.send_failed(1, ErrorKind.RATE_LIMITED, 0.0, "429", retry_after_s=3.0)
    assert m.next_timer() == 3.0


def test_an_ambiguous_placement_is_looked_up_not_resent():
    m = machine()
    m.exposure(0.0, plan("1"))
    assert m.send_failed(1, ErrorKind.AMBIGUOUS, 0.0) == [Failure("ambiguous")]
    assert m.exposure(0.1, plan("0")) == []
    assert m.tick(2.0) == [Lookup(1)]


def test_an_order_the_venue_does_not_know_is_asked_again_before_it_is_believed():
    m = machine(max_lookups=3)
    m.exposure(0.0, plan("1"))
    m.send_failed(1, ErrorKind.AMBIGUOUS, 0.0)
    now = 2.0
    for _ in range(2):
        assert m.tick(now) == [Lookup(1)]
        assert m.looked_up(1, LookupResult.UNKNOWN, now) == []  # lookups lag: no verdict yet
        now += 2.0
    assert m.tick(now) == [Lookup(1)]
    assert m.looked_up(1, LookupResult.UNKNOWN, now) == [Forget(1, "unknown at venue"), Settled(1, False)]


def test_an_order_found_still_live_is_cancelled_again_and_then_given_up():
    m = machine(max_lookups=2)
    m.exposure(0.0, plan("1")), m.placed(1, 0.0), m.tick(5.0), m.cancel_answered(1, 5.0)
    m.tick(7.0)
    assert m.looked_up(1, LookupResult.LIVE, 7.0) == [Cancel(1)]
    m.cancel_answered(1, 7.1), m.tick(9.1)
    (give_up,) = m.looked_up(1, LookupResult.LIVE, 9.1)
    assert isinstance(give_up, GiveUp)


def test_an_auth_error_gives_up_at_once():
    m = machine(max_attempts=5)
    m.exposure(0.0, plan("1"))
    assert isinstance(m.send_failed(1, ErrorKind.AUTH, 0.0, "expired")[-1], GiveUp)


def test_reprice_cancels_and_sends_what_is_left_one_level_on_never_a_modify():
    # A modify restates the size, and what fills in its flight is added back on top (DST seed 3197):
    # a reprice is a cancel, and the remainder goes out again once the cancel is established.
    m = machine(reprice_after_s=2.0)
    m.exposure(0.0, plan("1")), m.placed(1, 0.0)
    m.observed(1, D("0.4"), D(1), terminal=False, has_id=True, now=0.1)
    assert m.tick(2.0) == [Cancel(1)]
    assert m.exposure(2.0, plan("0")) == []  # nothing new while the cancel is on its way
    m.cancel_answered(1, 2.1)
    # 0.1 more filled before the cancel landed: only what the venue left goes out again
    assert m.observed(1, D("0.5"), D(1), terminal=True, has_id=True, now=2.2) == [Settled(1, False)]
    (send,) = m.exposure(2.2, plan("0.5"))
    assert (send.qty, send.level, m.failures) == (D("0.5"), 2, 0)  # a reprice is no failed attempt


def _repriced_once(m: HedgeAttempts):
    """A hedge of 1 placed at 0 rests unfilled; its reprice (a cancel) is established at 2.3 and what it
    left goes out again: that send."""
    m.exposure(0.0, plan("1")), m.placed(1, 0.0)
    m.observed(1, D(0), D(1), terminal=False, has_id=True, now=0.1)
    assert m.tick(2.0) == [Cancel(1)]
    m.cancel_answered(1, 2.0), m.observed(1, D(0), D(1), terminal=True, has_id=True, now=2.3)
    (send,) = m.exposure(2.3, plan("1"))
    return send


def test_a_chain_of_reprices_ends_at_the_first_orders_deadline_and_a_retry_continues_the_levels():
    m = machine(reprice_after_s=2.0)  # timeout 5
    send = _repriced_once(m)
    m.placed(send.key, 2.4)
    m.observed(send.key, D(0), D(1), terminal=False, has_id=True, now=2.5)
    assert m.tick(4.4) == [Cancel(send.key)]  # the second reprice, 2 s after its placement
    m.cancel_answered(send.key, 4.4), m.observed(send.key, D(0), D(1), terminal=True, has_id=True, now=4.6)
    (third,) = m.exposure(4.6, plan("1"))
    assert third.level == 3
    m.placed(third.key, 4.7)
    m.observed(third.key, D(0), D(1), terminal=False, has_id=True, now=4.8)
    # the first order's deadline (0 + 5), not 4.7 + 5: reprices never outlast one attempt
    assert m.next_timer() == 5.0
    assert m.tick(5.0) == [Failure("deadline"), Cancel(third.key)]
    m.cancel_answered(third.key, 5.0), m.observed(third.key, D(0), D(1), terminal=True, has_id=True, now=5.2)
    assert m.failures == 1
    m.tick(6.5)
    (retry,) = m.exposure(6.5, plan("1"))
    assert retry.retry and retry.level == 4
    m.placed(retry.key, 6.6)
    assert m.next_timer() == 8.6  # a retry is a new attempt: its own deadline and reprice timer


def test_a_reprice_waits_for_the_venues_order_index():
    m = machine(reprice_after_s=2.0)
    m.exposure(0.0, plan("1")), m.placed(1, 0.0)
    assert m.tick(2.0) == [] and m.reprices == 0
    m.observed(1, D(0), D(1), terminal=False, has_id=True, now=2.5)
    assert m.tick(4.0) == [Cancel(1)]


def test_a_failed_modify_is_handled_like_a_deadline():
    m = machine(reprice_after_s=2.0)
    m.exposure(0.0, plan("1")), m.placed(1, 0.0)
    assert m.modified(1, False, 2.0) == [Failure("modify_failed"), Cancel(1)]


def test_new_exposure_after_a_complete_hedge_starts_fresh_attempts():
    m = machine(max_attempts=1)
    m.exposure(0.0, plan("1")), m.placed(1, 0.0)
    m.observed(1, D(1), D(1), terminal=True, has_id=True, now=0.3)
    (send,) = m.exposure(0.3, plan("0.5"))
    assert not send.retry and send.level == 1


def test_late_updates_after_settling_are_ignored():
    m = machine()
    m.exposure(0.0, plan("1")), m.placed(1, 0.0), m.observed(1, D(1), D(1), terminal=True, has_id=True, now=0.1)
    assert m.observed(1, D(1), D(1), terminal=True, has_id=True, now=0.2) == []
    assert m.tick(10.0) == [] and m.cancel_answered(1, 10.0) == [] and m.placed(1, 10.0) == []


def test_a_delta_left_by_the_failure_path_is_not_retried_until_exposure_changes():
    m = machine()
    m.recovered(D("0.03"))
    assert m.exposure(0.0, plan("0.03")) == []
    (send,) = m.exposure(1.0, plan("0.53"))
    assert send.qty == D("0.53")


def test_a_send_the_hedge_book_cannot_price_is_no_attempt_and_goes_out_first_try_once_a_price_is_there():
    m = machine()
    m.exposure(0.0, plan("1"))
    assert m.unpriced_send(1, 0.0) == [Forget(1, "no price on the hedge book")]
    assert m.busy and m.next_timer() == 5.0  # waiting for a price, within the hedge's timeout
    assert m.exposure(0.2, plan("1")) == [] and m.tick(4.9) == []  # no resend, no attempt used
    assert m.priced(4.9) == []
    assert m.exposure(4.9, plan("1")) == [Send(2, Side.SELL, D(1), 1, D(0), retry=False)]
    assert m.failures == 0


def test_no_price_for_a_whole_hedge_timeout_gives_up_to_the_failure_path_without_spending_attempts():
    m = machine()
    m.exposure(0.0, plan("1")), m.unpriced_send(1, 0.0)
    assert m.tick(4.99) == [] and m.failures == 0
    assert m.tick(5.0) == [Failure("no_price"), GiveUp("no price on the hedge book for 5s")]
    assert m.exposure(5.0, plan("1")) == []  # given up: the failure path owns it now


def test_a_wait_for_a_price_ends_when_the_exposure_is_netted_away_or_turns_to_the_other_side():
    m = machine()
    m.exposure(0.0, plan("1")), m.unpriced_send(1, 0.0)
    assert m.exposure(1.0, plan("0")) == [] and not m.busy  # netted: nothing to wait for
    m.exposure(2.0, plan("1")), m.unpriced_send(2, 2.0)
    assert m.exposure(3.0, plan("-0.5")) == [Send(3, Side.BUY, D("0.5"), 1, D(0), retry=False)]


def test_a_price_that_comes_and_goes_before_each_send_does_not_restart_the_wait_for_a_price():
    # The book shows a price (priced) and pulls it again before the send each time: the wait for a price
    # keeps the deadline of the first unpriced send (0 + 5 s), so the failure path takes over at 5 s.
    m = machine()
    m.exposure(0.0, plan("1")), m.unpriced_send(1, 0.0)
    key = 2
    for t in (1.0, 2.0, 3.0, 4.0):
        assert m.priced(t) == []
        (send,) = m.exposure(t, plan("1"))
        assert send.key == key
        assert m.unpriced_send(key, t) == [Forget(key, "no price on the hedge book")]
        key += 1
    assert m.tick(4.99) == [] and m.next_timer() == 5.0
    assert m.tick(5.0) == [Failure("no_price"), GiveUp("no price on the hedge book for 5s")]
    assert m.failures == 0


def test_once_a_priced_hedge_goes_out_a_later_wait_for_a_price_has_its_own_deadline():
    m = machine()
    m.exposure(0.0, plan("1")), m.unpriced_send(1, 0.0)
    m.priced(4.0)
    (send,) = m.exposure(4.0, plan("1"))
    assert m.placed(send.key, 4.001) == [] and m.tick(5.0) == []  # went out: not waiting for a price now


def test_a_reprice_remainder_that_finds_no_price_keeps_the_chains_deadline_and_a_failure_drops_it():
    m = machine(reprice_after_s=2.0)  # timeout 5
    send = _repriced_once(m)
    m.unpriced_send(send.key, 2.3)  # the book lost that side: nothing went out
    m.priced(2.6)
    (again,) = m.exposure(2.6, plan("1"))
    m.placed(again.key, 2.7)
    assert m.orders[again.key].deadline_at == 5.0  # still the first order's deadline, not 2.7 + 5
    m.observed(again.key, D(0), D(1), terminal=False, has_id=True, now=2.8)
    m.tick(5.0), m.cancel_answered(again.key, 5.0)
    m.observed(again.key, D(0), D(1), terminal=True, has_id=True, now=5.2)
    assert m.failures == 1
    m.tick(6.5)
    (retry,) = m.exposure(6.5, plan("1"))
    m.placed(retry.key, 6.6)
    assert m.orders[retry.key].deadline_at == 11.6  # a new attempt, its own deadline


def test_what_a_reprice_left_is_not_inherited_once_the_exposure_turns():
    m = machine(reprice_after_s=2.0)
    m.exposure(0.0, plan("1")), m.placed(1, 0.0)
    m.observed(1, D(0), D(1), terminal=False, has_id=True, now=0.1)
    m.tick(2.0), m.cancel_answered(1, 2.0)
    m.observed(1, D(0), D(1), terminal=True, has_id=True, now=2.3)
    (other,) = m.exposure(2.3, plan("-0.5"))  # maker fills the other way meanwhile: the other side now
    m.placed(other.key, 2.4), m.observed(other.key, D("0.5"), D("0.5"), terminal=True, has_id=True, now=2.5)
    (later,) = m.exposure(30.0, plan("1"))
    m.placed(later.key, 30.0)
    assert m.orders[later.key].deadline_at == 35.0
