"""The Lighter client as a restartable service, and the venue's rate budget on the hedge path."""

import math
import random
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing
from loguru import logger

from hedged.venues.base import OrderStatus, OrderUpdate, Side, VenueEvent
from hedged.venues.lighter.client import LighterClient
from hedged.venues.ratelimit import Limiter

sys.path.insert(0, str(Path(__file__).parent))
from lighter_harness import ACCOUNT, running, settings_for  # noqa: E402
from test_lighter_client_faults import away, through  # noqa: E402


@pytest.fixture
def log_lines() -> list[str]:
    lines: list[str] = []
    sink_id = logger.add(lambda m: lines.append(str(m)), level="TRACE", format="{level} {message}")
    yield lines
    logger.remove(sink_id)


async def test_the_client_runs_again_after_its_run_ended_as_a_supervisor_restart_does(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        # A second life of the same client object, the way the supervisor restarts a venue service.
        sim = h.sim
        (tmp_path / "again").mkdir()
        again = LighterClient(settings_for(tmp_path / "again"), rng=random.Random(2), http_transport=sim.http_transport(),
                              ws_connect=sim.connect_ws, wall_clock=sim.wall_clock)
        send, recv = trio.open_memory_channel[VenueEvent](1000)
        for life in (1, 2):
            async with trio.open_nursery() as n:
                await n.start(again.run, send)
                cid = again.new_client_id()
                await again.place_taker(Side.BUY, Decimal("0.100"), through(h, Side.BUY), cid)
                with trio.fail_after(10):
                    async for ev in recv:
                        if isinstance(ev, OrderUpdate) and ev.client_id == cid and ev.status is OrderStatus.FILLED:
                            break
                n.cancel_scope.cancel()  # the run ends (a failure or a stop): it must close what it opened
            assert sim.position(ACCOUNT) == Decimal("0.100") * life
        assert again.statistics().counters["credential_refusals"] == 0


async def test_a_hedge_goes_out_at_once_while_ordinary_traffic_waits_for_the_budget(tmp_path, autojump_clock):
    async with running(tmp_path, tier="standard") as h:
        budget = h.client.budgets.rest.budget
        cost = h.client.budgets.cost("account")
        # Reconciliation-style reads use up the share that is not reserved for hedges.
        while budget.used + cost <= budget.capacity - budget.reserved:
            await h.client.positions()
        maker_done = trio.Event()

        async def ordinary_tx() -> None:
            await h.client.place_maker(Side.BUY, Decimal("0.100"), away(h), h.client.new_client_id())
            maker_done.set()

        # Freeze the clock until the ordinary tx is parked on the budget (60 s away), then let it run.
        autojump_clock.autojump_threshold = math.inf
        h.nursery.start_soon(ordinary_tx)
        await trio.testing.wait_all_tasks_blocked()
        autojump_clock.autojump_threshold = 0
        assert not maker_done.is_set()

        t0 = trio.current_time()
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h, Side.BUY), cid)
        # Not behind the waiting tx: it waits before the nonce lock, and hedges have their own share.
        assert trio.current_time() - t0 < 1.0
        assert not maker_done.is_set()
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        with trio.fail_after(120):
            await maker_done.wait()
        assert h.client.budgets.rest.priority_waits == 0 and h.client.budgets.rest.waits >= 1


async def test_a_hedge_waits_only_when_hedges_spent_the_whole_budget_and_says_so(autojump_clock, log_lines):
    lim = Limiter("sendtx", 3, venue="lighter", reserved=1, window_s=60.0)
    t0 = trio.current_time()
    await lim.acquire()
    await lim.acquire()
    with trio.move_on_after(1.0) as ordinary:
        await lim.acquire()  # the last slot is the hedges'
    assert ordinary.cancelled_caught
    await lim.acquire(priority=True)  # granted at once
    assert trio.current_time() - t0 == pytest.approx(1.0)
    await lim.acquire(priority=True)  # the venue's 3 per minute are spent: it waits, loudly
    assert trio.current_time() - t0 == pytest.approx(60.0)
    assert lim.priority_waits == 1 and lim.priority_waited_s == pytest.approx(59.0)
    assert any("priority=hedge" in m and "WARNING" in m for m in log_lines)


async def test_a_hedge_reaches_the_signer_without_a_scheduler_pass_of_its_own(tmp_path, autojump_clock):
    """Budget, readiness and nonce lock are taken without yielding when free; the only pass left
    before signing is the signer hop itself (a worker thread in production, a checkpoint here)."""
    async with running(tmp_path) as h:
        me = trio.lowlevel.current_task()
        steps: list[int] = []

        class CountSteps(trio.abc.Instrument):
            n = 0

            def before_task_step(self, task) -> None:
                if task is me:
                    CountSteps.n += 1

        real = h.client._sign_call

        async def spy(fn, *args, **kw):
            steps.append(CountSteps.n)  # how often this task was rescheduled before the signer hop
            return await real(fn, *args, **kw)

        h.client._sign_call = spy
        cid = h.client.new_client_id()
        price = through(h, Side.BUY)
        inst = CountSteps()
        trio.lowlevel.add_instrument(inst)
        try:
            await h.client.place_taker(Side.BUY, Decimal("0.100"), price, cid)
        finally:
            trio.lowlevel.remove_instrument(inst)
        assert steps == [0]
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
