"""The hedge attempt state machine, driven by lists of events."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedged.strategy.attempt import (
    Backoff,
    Cancel,
    Done,
    ErrorKind,
    Establish,
    GiveUp,
    HedgeAttempts,
    Modify,
    Phase,
    Reread,
    Send,
    Wait,
)


def machine(max_attempts=3) -> HedgeAttempts:
    return HedgeAttempts(max_attempts=max_attempts, backoff_initial_s=0.2, backoff_max_s=2.0)


def test_a_hedge_that_fills_at_once_is_done_after_one_send():
    m = machine()
    assert m.begin() == Send(1, 1)
    assert m.placed() == Wait()
    assert m.order_update(D(1), D(1), terminal=True) == Reread(True)
    assert m.after_settled(still_open=False) == Done()
    assert m.phase is Phase.DONE


def test_partial_fills_keep_the_order_resting_until_it_is_complete():
    m = machine()
    m.begin(), m.placed()
    assert m.order_update(D("0.3"), D(1), terminal=False) == Wait()
    assert m.phase is Phase.RESTING
    assert m.order_update(D(1), D(1), terminal=False) == Reread(True)


def test_a_deadline_is_never_a_fill_it_cancels_then_establishes_the_truth():
    m = machine()
    m.begin(), m.placed()
    assert m.deadline() == Cancel()
    assert m.cancel_sent() == Establish()
    assert m.established(D("0.4"), D(1), known=True) == Reread(False)
    assert m.after_settled(still_open=True) == Backoff(0.2)
    assert m.backoff_elapsed() == Send(2, 2)


def test_an_order_found_fully_filled_after_the_deadline_counts_as_complete():
    m = machine()
    m.begin(), m.placed(), m.deadline(), m.cancel_sent()
    assert m.established(D(1), D(1), known=True) == Reread(True)
    assert m.after_settled(still_open=False) == Done()


def test_a_fill_arriving_while_the_cancel_is_pending_settles_the_order():
    m = machine()
    m.begin(), m.placed(), m.deadline()
    assert m.order_update(D(1), D(1), terminal=True) == Reread(True)
    assert m.cancel_sent() == Wait()  # the late cancel reply changes nothing


def test_every_attempt_ending_with_exposure_open_gives_up_after_the_last():
    m = machine(max_attempts=3)
    actions = [m.begin()]
    for _ in range(3):
        m.placed(), m.deadline(), m.cancel_sent()
        m.established(D(0), D(1), known=True)
        action = m.after_settled(still_open=True)
        actions.append(action)
        if isinstance(action, Backoff):
            actions.append(m.backoff_elapsed())
    assert actions == [Send(1, 1), Backoff(0.2), Send(2, 2), Backoff(0.4), Send(3, 3), GiveUp(actions[-1].reason)]
    assert isinstance(actions[-1], GiveUp) and "3 attempts" in actions[-1].reason
    assert m.phase is Phase.FAILED


@pytest.mark.parametrize("kind", [ErrorKind.REJECTED, ErrorKind.SIGNING, ErrorKind.TRANSPORT, ErrorKind.NONCE, ErrorKind.RATE_LIMITED])
def test_placement_and_signing_errors_use_up_an_attempt(kind):
    m = machine(max_attempts=2)
    m.begin()
    assert m.error(kind, "boom") == Reread(False)
    assert m.after_settled(still_open=True) == Backoff(0.2)
    assert m.backoff_elapsed() == Send(2, 2)
    m.error(kind, "boom")
    give_up = m.after_settled(still_open=True)
    assert isinstance(give_up, GiveUp) and "boom" in give_up.reason


def test_an_ambiguous_placement_is_looked_up_not_resent():
    m = machine()
    m.begin()
    assert m.error(ErrorKind.AMBIGUOUS) == Establish()
    assert m.established(D(0), D(1), known=False) == Reread(False)


def test_an_auth_error_gives_up_at_once():
    m = machine(max_attempts=5)
    m.begin()
    assert isinstance(m.error(ErrorKind.AUTH, "expired"), GiveUp)


def test_reprice_modifies_in_place_each_time_more_aggressive_and_retry_continues_the_levels():
    m = machine()
    m.begin(), m.placed()
    assert m.reprice_due() == Modify(2)
    assert m.reprice_due() == Modify(3)
    m.deadline(), m.cancel_sent(), m.established(D(0), D(1), known=True)
    m.after_settled(still_open=True)
    assert m.backoff_elapsed() == Send(2, 4)


def test_a_failed_modify_is_handled_like_a_deadline():
    m = machine()
    m.begin(), m.placed()
    assert m.modify_failed() == Cancel()


def test_new_exposure_after_a_complete_hedge_starts_fresh_attempts():
    m = machine(max_attempts=1)
    m.begin(), m.placed()
    m.order_update(D(1), D(1), terminal=True)
    assert m.after_settled(still_open=True) == Send(1, 1)


def test_late_updates_after_settling_are_ignored():
    m = machine()
    m.begin(), m.placed(), m.order_update(D(1), D(1), terminal=True)
    assert m.order_update(D(1), D(1), terminal=True) == Wait()
    assert m.deadline() == Wait() and m.reprice_due() == Wait()


def test_events_out_of_order_are_programming_errors():
    m = machine()
    with pytest.raises(RuntimeError):
        m.placed()
