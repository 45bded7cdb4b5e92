"""The fault plan: matching, skip/count, probability with a seed."""

from hedged.sim.common.faults import Fault, FaultKind, FaultPlan


def test_no_rules_means_no_faults():
    plan = FaultPlan()
    assert plan.on_request("POST /user/order") is None
    assert plan.on_frame("account", "ORDER") is None


def test_a_rule_fires_after_skip_for_count_times_then_retires():
    plan = FaultPlan()
    plan.add(Fault(FaultKind.HTTP_ERROR, target="POST /user/order", skip=1, count=2, status=502))
    got = [plan.on_request("POST /user/order") for _ in range(5)]
    assert [g.status if g else None for g in got] == [None, 502, 502, None, None]
    assert plan.pending == []


def test_frame_rules_match_stream_glob_and_frame_type():
    plan = FaultPlan()
    plan.add(Fault(FaultKind.CLOSE_AFTER, target="account", on="TRADE"))
    plan.add(Fault(FaultKind.SEQ_GAP, target="orderbooks/*", count=0))
    assert plan.on_frame("account", "ORDER") is None
    assert plan.on_frame("account", "TRADE").kind is FaultKind.CLOSE_AFTER
    assert plan.on_frame("account", "TRADE") is None
    assert plan.on_frame("orderbooks/SOL-USD", "DELTA").kind is FaultKind.SEQ_GAP
    assert plan.on_frame("orderbooks/SOL-USD", "DELTA").kind is FaultKind.SEQ_GAP
    assert plan.history[0] == ("account", "TRADE", FaultKind.CLOSE_AFTER)


def test_rest_rules_never_fire_on_frames_and_vice_versa():
    plan = FaultPlan()
    plan.add(Fault(FaultKind.DROP, target="*", count=0), Fault(FaultKind.RATE_LIMIT, target="*", count=0))
    assert plan.on_request("GET /x").kind is FaultKind.RATE_LIMIT
    assert plan.on_frame("account", "ORDER").kind is FaultKind.DROP


def test_probabilistic_rules_are_reproducible_with_the_same_seed():
    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan(seed=seed)
        plan.add(Fault(FaultKind.DUPLICATE, count=0, probability=0.3))
        return [plan.on_frame("account", "ORDER") is not None for _ in range(200)]

    assert pattern(1) == pattern(1)
    assert pattern(1) != pattern(2)
    assert 30 < sum(pattern(1)) < 90


def test_faults_can_be_built_from_json_and_unknown_fields_are_refused():
    import pytest

    from hedged.sim.common.faults import fault_from_json

    f = fault_from_json({"kind": "close_after", "target": "account", "on": "TRADE", "count": 2})
    assert f == Fault(FaultKind.CLOSE_AFTER, target="account", on="TRADE", count=2)
    with pytest.raises(ValueError):
        fault_from_json({"kind": "drop", "bogus": 1})
    with pytest.raises(ValueError):
        fault_from_json({"kind": "nope"})
