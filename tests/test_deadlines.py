"""Issue 16 point 4 / issue 12 point 3: every stop deadline comes from one `StopBudget`, and its ordering
leaves a hedge that never fills the whole flatten budget before the supervisor cancels."""

from __future__ import annotations

from hypothesis import given, strategies as st

from hedged.deadlines import StopBudget
from hedged.nursery import Supervisor


@given(st.floats(min_value=0.001, max_value=30 * 86400.0, allow_nan=False, allow_infinity=False))
def test_the_executors_grace_ends_before_the_supervisors_deadline_less_the_flatten_budget(total_s):
    b = StopBudget.of(total_s)
    assert 0 < b.hedge_grace_s < b.total_s - b.flatten_s
    assert b.flatten_s > 0 and b.total_s == total_s


def test_the_supervisors_deadline_is_the_budgets_total():
    sup = Supervisor(graceful_stop_s=20.0)
    assert sup.budget == StopBudget.of(20.0)
    assert not hasattr(sup, "graceful_stop_s")  # no second copy of the deadline to drift from the budget
