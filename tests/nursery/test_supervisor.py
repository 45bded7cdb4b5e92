"""Supervision under the autojump clock: restarts, escalation, readiness, stop order and deadline."""

from __future__ import annotations

import random

import pytest
import trio

from hedged.errors import Halted, ServiceFailed
from hedged.nursery import CRITICAL, RestartPolicy, Service, Supervisor


class Boom(Exception):
    pass


def flaky(fail_times: int, starts: list[float], *, then_forever: bool = True):
    """A service that fails its first `fail_times` starts (before readiness), then runs."""

    async def run(*, task_status=trio.TASK_STATUS_IGNORED):
        starts.append(trio.current_time())
        if len(starts) <= fail_times:
            raise Boom(f"start {len(starts)}")
        task_status.started()
        if then_forever:
            await trio.sleep_forever()

    return run


async def test_restart_backoff_doubles_up_to_the_cap(autojump_clock):
    starts: list[float] = []
    policy = RestartPolicy(backoff_initial_s=1, backoff_max_s=4, jitter=0, max_restarts=10, window_s=1000)
    sup = Supervisor(graceful_stop_s=5)
    async with trio.open_nursery() as n:
        n.start_soon(sup.run, [Service("net", flaky(5, starts, then_forever=False), policy)])
        await sup.all_ready.wait()
    gaps = [round(b - a, 6) for a, b in zip(starts, starts[1:])]
    assert gaps == [1, 2, 4, 4, 4]


async def test_jittered_backoff_stays_within_its_band_and_is_seeded(autojump_clock):
    policy = RestartPolicy(backoff_initial_s=1, backoff_max_s=100, jitter=0.2)
    a = [policy.delay(i, random.Random(42)) for i in range(5)]
    b = [policy.delay(i, random.Random(42)) for i in range(5)]
    assert a == b
    for i, d in enumerate(a):
        assert 0.8 * 2**i <= d <= 1.2 * 2**i


async def test_restart_intensity_exceeded_escalates(autojump_clock):
    starts: list[float] = []
    policy = RestartPolicy(backoff_initial_s=1, backoff_max_s=1, jitter=0, max_restarts=3, window_s=60)
    sup = Supervisor(graceful_stop_s=5)
    with pytest.RaisesGroup(pytest.RaisesExc(ServiceFailed, match="more than 3 restarts"), flatten_subgroups=True):
        await sup.run([Service("net", flaky(100, starts), policy)])
    assert len(starts) == 4


async def test_restarts_spread_beyond_the_window_do_not_escalate(autojump_clock):
    failures = 0

    async def fails_every_ten_minutes(*, task_status=trio.TASK_STATUS_IGNORED):
        nonlocal failures
        task_status.started()
        await trio.sleep(600)
        failures += 1
        if failures < 6:
            raise Boom("periodic")

    policy = RestartPolicy(backoff_initial_s=1, jitter=0, max_restarts=2, window_s=60)
    sup = Supervisor(graceful_stop_s=5)
    await sup.run([Service("net", fails_every_ten_minutes, policy)])
    assert failures == 6


async def test_critical_service_escalates_on_first_failure(autojump_clock):
    starts: list[float] = []
    sup = Supervisor(graceful_stop_s=5)
    with pytest.RaisesGroup(pytest.RaisesExc(ServiceFailed, match="critical"), flatten_subgroups=True):
        await sup.run([Service("ledger", flaky(1, starts), CRITICAL)])
    assert len(starts) == 1


async def test_halted_is_never_restarted_whatever_the_policy(autojump_clock):
    runs = 0

    async def halts(*, task_status=trio.TASK_STATUS_IGNORED):
        nonlocal runs
        runs += 1
        task_status.started()
        raise Halted("exposure not recovered", exposure="1.5")

    sup = Supervisor(graceful_stop_s=5)
    with pytest.RaisesGroup(Halted, flatten_subgroups=True):
        await sup.run([Service("executor", halts, RestartPolicy(max_restarts=100))])
    assert runs == 1


async def test_ready_only_after_every_service_is_ready_in_order(autojump_clock):
    order: list[str] = []

    def slow_start(name: str, delay: float):
        async def run(*, task_status=trio.TASK_STATUS_IGNORED):
            await trio.sleep(delay)
            order.append(name)
            task_status.started()
            await trio.sleep_forever()

        return run

    sup = Supervisor(graceful_stop_s=5)
    async with trio.open_nursery() as n:
        n.start_soon(sup.run, [Service("a", slow_start("a", 3)), Service("b", slow_start("b", 1))])
        await sup.all_ready.wait()
        assert order == ["a", "b"]
        assert trio.current_time() == pytest.approx(4)
        sup.request_stop()


async def test_graceful_stop_follows_stop_order_and_waits_for_cooperative_services(autojump_clock):
    events: list[tuple[str, float]] = []
    sup = Supervisor(graceful_stop_s=30)

    def cancellable(name: str):
        async def run(*, task_status=trio.TASK_STATUS_IGNORED):
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                events.append((name, trio.current_time()))

        return run

    async def cycle(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        await sup.stopping.wait()
        await trio.sleep(7)  # e.g. an open hedge finishing
        events.append(("cycle", trio.current_time()))

    services = [
        Service("feeds", cancellable("feeds"), stop_order=30),
        Service("cycle", cycle, stop_order=10, wait_on_stop=True),
        Service("metrics", cancellable("metrics"), stop_order=90),
    ]
    async with trio.open_nursery() as n:
        n.start_soon(sup.run, services)
        await sup.all_ready.wait()
        t0 = trio.current_time()
        sup.request_stop("test")
    assert [name for name, _ in events] == ["cycle", "feeds", "metrics"]
    assert events[0][1] - t0 == pytest.approx(7)


async def test_graceful_deadline_cancels_a_service_that_does_not_finish(autojump_clock):
    sup = Supervisor(graceful_stop_s=20)
    finished_at: list[float] = []

    async def stubborn(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        try:
            await trio.sleep_forever()  # ignores `stopping`
        finally:
            finished_at.append(trio.current_time())

    async with trio.open_nursery() as n:
        n.start_soon(sup.run, [Service("stubborn", stubborn, wait_on_stop=True)])
        await sup.all_ready.wait()
        t0 = trio.current_time()
        sup.request_stop()
    assert finished_at[0] - t0 == pytest.approx(20)


async def test_second_stop_request_stops_at_once(autojump_clock):
    sup = Supervisor(graceful_stop_s=20)

    async def stubborn(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        await trio.sleep_forever()

    async with trio.open_nursery() as n:
        n.start_soon(sup.run, [Service("stubborn", stubborn, wait_on_stop=True)])
        await sup.all_ready.wait()
        t0 = trio.current_time()
        sup.request_stop("SIGTERM")
        await trio.sleep(1)
        sup.request_stop("SIGINT")
    assert trio.current_time() - t0 == pytest.approx(1)


async def test_stop_during_startup_does_not_hang_on_a_service_still_retrying(autojump_clock):
    starts: list[float] = []
    sup = Supervisor(graceful_stop_s=5)
    policy = RestartPolicy(backoff_initial_s=10, jitter=0, max_restarts=1000, window_s=1)
    async with trio.open_nursery() as n:
        n.start_soon(sup.run, [Service("net", flaky(1000, starts), policy)])
        await trio.sleep(35)
        sup.request_stop()
    assert 2 <= len(starts) <= 5


async def test_a_service_failing_as_the_graceful_stop_cancels_it_does_not_fail_the_stop(autojump_clock):
    # The stop cancels the service; one of its tasks raises while being cancelled (a socket that
    # errors as it closes), so its nursery raises Cancelled and the error in one group. That group
    # is no `Exception`: it used to escape the supervisor and a clean stop exited 1 (DST seed 1000041).
    sup = Supervisor(graceful_stop_s=20)
    closed: list[float] = []

    async def fails_on_close() -> None:
        try:
            await trio.sleep_forever()
        finally:
            closed.append(trio.current_time())
            raise Boom("error while closing")

    async def service(*, task_status=trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as n:
            n.start_soon(trio.sleep_forever)
            n.start_soon(fails_on_close)
            task_status.started()

    async with trio.open_nursery() as n:
        n.start_soon(sup.run, [Service("venue", service)])
        await sup.all_ready.wait()
        sup.request_stop("SIGTERM")
    assert len(closed) == 1


async def test_a_service_stopped_before_it_was_ready_is_the_last_one_started(autojump_clock):
    """DST seed 2287: a venue stuck before ready (a book stream frozen before its first snapshot), then a
    graceful stop. At its deadline the stuck start was cancelled and the start sequence went on: the next
    service (the venue-rules check) failed on the venue it needed, and the stop exited 1."""
    later: list[str] = []

    async def stuck(*, task_status=trio.TASK_STATUS_IGNORED):
        await trio.sleep_forever()  # never ready

    async def needs_the_venue(*, task_status=trio.TASK_STATUS_IGNORED):
        later.append("started")
        raise RuntimeError("the venue is not loaded")

    sup = Supervisor(graceful_stop_s=20)
    t0 = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(sup.run, [Service("venue", stuck, CRITICAL, stop_order=50),
                               Service("rules", needs_the_venue, CRITICAL, stop_order=40)])
        await trio.sleep(5)
        sup.request_stop("test")
    assert later == [] and trio.current_time() - t0 == pytest.approx(25)  # the deadline, then out


async def test_a_service_that_becomes_ready_during_a_graceful_stop_lets_the_start_sequence_go_on(autojump_clock):
    """DST seed 104: the start-up after a crash cancels the crashed life's orphan makers (the reconciler).
    A stop that comes while a venue is still connecting must not skip that once the venue is up."""
    later: list[str] = []

    async def slow(*, task_status=trio.TASK_STATUS_IGNORED):
        await trio.sleep(10)  # ready only after the stop was asked for, within its deadline
        task_status.started()
        await trio.sleep_forever()

    async def cleanup(*, task_status=trio.TASK_STATUS_IGNORED):
        later.append("started")
        task_status.started()

    sup = Supervisor(graceful_stop_s=20)
    async with trio.open_nursery() as n:
        n.start_soon(sup.run, [Service("venue", slow, CRITICAL, stop_order=50),
                               Service("reconciler", cleanup, CRITICAL, stop_order=40)])
        await trio.sleep(5)
        sup.request_stop("test")
    assert later == ["started"]
