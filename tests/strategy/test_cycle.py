"""The cycle runner with the executor, the real Ledger and FakeVenues, under the autojump clock."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal as D

import trio

from hedged.venues.base import OrderRejected, Side, Venue

from .fakes import maker_flow
from .rig import cycle_config, hedge_config, rig


def makers(venue):
    return [c for c in venue.calls if c[0] == "place_maker"]


async def start_all(r, *, flow_seed=3, **flow):
    ex = r.executor()
    await r.nursery.start(ex.run)
    r.nursery.start_soon(lambda: maker_flow(r.maker, random.Random(flow_seed), **flow))
    return ex


async def test_a_cycle_opens_holds_closes_and_ends_flat_and_hedged(autojump_clock):
    async with rig() as r:
        ex = await start_all(r)
        cycle = r.cycle(ex)
        await cycle.run()
        await r.until(lambda: r.ledger_matches_venues() and not ex.busy.value, ex.busy)
        assert r.maker.position == 0 and r.hedge.position == 0
        assert r.maker.live_orders() == [] and r.hedge.live_orders() == []
        (report,) = cycle.summary.reports
        assert report.outcome == "completed" and report.opened >= D(1)
        assert report.maker_avg is not None and report.hedge_avg is not None
        assert makers(r.maker)[0][1] is Side.BUY and cycle.stopped.is_set()


async def test_the_cycle_never_adds_maker_exposure_while_a_hedge_is_in_flight(autojump_clock):
    async with rig() as r:
        halves = itertools.cycle([True, False])
        # every other hedge rests half of itself until its deadline; the retry fills
        r.hedge.taker_fill = lambda o: (o.qty / 2).quantize(D("0.001")) if next(halves) else o.qty
        ex = await start_all(r)
        violations = []
        real = r.maker.place_maker

        async def checked(*a, **kw):
            if ex.busy.value or r.ledger.hedge_in_flight() != 0:
                violations.append((trio.current_time(), a))
            return await real(*a, **kw)

        r.maker.place_maker = checked
        r.cycle_cfg = cycle_config(iterations=3)
        cycle = r.cycle(ex)
        await cycle.run()
        assert violations == []
        assert len(makers(r.maker)) > 3  # it did place many orders, just never during a hedge


async def test_the_random_delay_is_skipped_while_a_position_is_open(autojump_clock):
    async with rig() as r:
        r.cycle_cfg = cycle_config(delay_min_s=30.0, delay_max_s=30.0)
        # A hedged position left by an earlier run: the venues hold it, the ledger learns it at startup.
        r.maker.position, r.hedge.position = D(1), D(-1)
        ex = await start_all(r)
        cycle = r.cycle(ex)
        await cycle.sweeper.startup(kind="cold")
        assert r.ledger.position(Venue.EXTENDED) == D(1)
        t0 = trio.current_time()
        await cycle.run_cycle(1, trio.Event())
        first = makers(r.maker)[0]
        assert first[1] is Side.SELL  # closing the leftover long first
        assert r.maker.position == 0
        assert trio.current_time() - t0 < 30.0  # it did not sit out the 30 s pause while exposed


async def test_the_maker_order_chases_a_book_that_moved_away(autojump_clock):
    async with rig() as r:
        ex = r.executor()
        await r.nursery.start(ex.run)
        cycle = r.cycle(ex)
        r.nursery.start_soon(cycle.worker.work, Side.BUY, D(1))
        await r.until(lambda: len(makers(r.maker)) == 1)
        first = makers(r.maker)[0]
        assert first[3] == D("100.01")  # one tick inside the 100 / 100.1 spread
        r.maker.set_book("100.05", "100.1")  # somebody outbids us
        await r.until(lambda: len(makers(r.maker)) == 2, r.maker.top_of_book)
        second = makers(r.maker)[1]
        assert second[3] == D("100.06")
        assert ("cancel", None, first[4]) in r.maker.calls
        assert trio.current_time() >= 1.0  # not before the minimum resting time
        assert len(r.maker.live_orders()) == 1


async def test_stop_during_open_leaves_no_maker_order_and_sets_stopped(autojump_clock):
    async with rig() as r:
        ex = r.executor()
        await r.nursery.start(ex.run)
        cycle = r.cycle(ex)
        stopping = trio.Event()
        r.nursery.start_soon(lambda: cycle.run(stopping=stopping))
        await r.until(lambda: len(r.maker.live_orders()) == 1)
        r.maker.fill(makers(r.maker)[0][4], "0.3")
        stopping.set()
        await cycle.stopped.wait()
        await r.until(lambda: not ex.busy.value and r.ledger_matches_venues(), ex.busy)
        assert r.maker.live_orders() == []
        assert r.venue_net() == 0  # the partial open was hedged, left for the next start to close
        assert cycle.summary.reports[0].outcome == "stopped"


async def test_stop_during_hold_keeps_the_hedged_position_and_stops_at_once(autojump_clock):
    async with rig() as r:
        r.cycle_cfg = cycle_config(hold_min_s=100.0, hold_max_s=100.0)
        ex = await start_all(r)
        cycle = r.cycle(ex)
        stopping = trio.Event()
        r.nursery.start_soon(lambda: cycle.run(stopping=stopping))
        # Hedged: the position is open on both legs (not a fill the executor is still to send).
        await r.until(lambda: r.maker.position >= 1 and r.ledger_matches_venues() and not ex.busy.value
                      and r.venue_net() == 0, ex.busy)
        t = trio.current_time()
        stopping.set()
        await cycle.stopped.wait()
        assert trio.current_time() - t < 1.0
        assert r.maker.live_orders() == [] and r.venue_net() == 0


async def test_the_sweep_lets_the_executor_hedge_exposure_it_reveals(autojump_clock):
    async with rig() as r:
        r.maker.position = D("0.5")  # an unhedged position the venue holds and the ledger does not know
        ex = r.executor()
        await r.nursery.start(ex.run)
        result = await r.sweeper(ex).sweep("test")
        assert result.recovered and not result.flattened
        assert r.hedge.position == D("-0.5") and r.venue_net() == 0
        assert ("sweep_exposure", "warning") in r.alerts.events()


async def test_the_sweep_never_flattens_exposure_the_executor_is_still_working_on(autojump_clock):
    async with rig() as r:
        r.maker.position = D("0.5")
        r.hedge.fail_taker = [OrderRejected(Venue.LIGHTER, "no")] * 10  # the hedge venue refuses everything
        ex = r.executor(cfg=hedge_config(max_attempts=10, backoff_max_s=5.0))
        await r.nursery.start(ex.run)
        # the executor is still retrying when the sweep's settle time ends: the exposure stays its own
        result = await r.sweeper(ex, settle_s=3.0).sweep("test")
        assert not result.flattened and not result.recovered
        assert r.maker.position == D("0.5") and not [c for c in r.maker.calls if c[0] == "place_taker"]
        # its failure path flattens it once, after its last attempt: one owner, one flatten
        await r.until(lambda: r.venue_net() == 0 and not ex.busy.value, ex.busy)
        assert len([c for c in r.maker.calls if c[0] == "place_taker"]) == 1
        assert r.alerts.events() == [("sweep_exposure", "warning"), ("hedge_failed", "critical"),
                                     ("exposure_flattened", "warning")]


async def test_orphan_orders_are_cancelled_at_startup(autojump_clock):
    async with rig() as r:
        await r.maker.place_maker(Side.BUY, D(1), D(99), "old-run-1")
        await r.hedge.place_taker(Side.SELL, D(1), D(200), "old-run-2")
        sweeper = r.sweeper()
        await sweeper.startup(kind="cold")
        assert r.maker.live_orders() == [] and r.hedge.live_orders() == []
        assert ("orphan_orders", "warning") in r.alerts.events()


async def test_fifty_cycles_with_random_partial_fills_stay_within_tolerance_and_match_the_venues(autojump_clock):
    async with rig() as r:
        r.cycle_cfg = cycle_config(direction="random", size_min=D("0.5"), size_max=D(2), iterations=1)
        r.hedge_cfg = hedge_config(max_attempts=6)
        r.hedge.taker_fill = _sometimes_partial(random.Random(8))
        ex = await start_all(r, every_s=0.3)
        cycle = r.cycle(ex)
        stopping = trio.Event()
        for n in range(1, 51):
            await cycle.run_cycle(n, stopping)
            await r.until(lambda: r.ledger_matches_venues() and not ex.busy.value, ex.busy)
            assert abs(r.ledger.net_exposure.value) <= cycle.tolerance(), n
        assert cycle.summary.completed == 50
        assert r.maker.live_orders() == []


def _sometimes_partial(rng):
    def fill(o):
        return o.qty if rng.random() < 0.8 else (o.qty * D(str(round(rng.uniform(0.1, 0.9), 2)))).quantize(D("0.001"))
    return fill


async def test_a_restart_mid_cycle_hedges_what_is_open_first_then_closes_it(autojump_clock):
    async with rig() as r:
        r.maker.position = D("0.8")  # opened by the previous run, its hedge never sent
        ex = await start_all(r)
        cycle = r.cycle(ex)
        await cycle.sweeper.startup(kind="cold")
        await r.until(lambda: r.hedge.position == D("-0.8") and r.ledger_matches_venues())
        assert makers(r.maker) == []  # hedged before any maker order
        await cycle.run_cycle(1, trio.Event())
        await r.until(lambda: r.ledger_matches_venues() and not ex.busy.value, ex.busy)
        assert r.maker.position == 0 and r.hedge.position == 0


async def test_stop_during_the_random_delay_ends_the_cycle_at_once(autojump_clock):
    async with rig() as r:
        r.cycle_cfg = cycle_config(delay_min_s=50.0, delay_max_s=50.0, iterations=0)
        ex = r.executor()
        await r.nursery.start(ex.run)
        cycle = r.cycle(ex)
        stopping = trio.Event()
        r.nursery.start_soon(lambda: cycle.run(stopping=stopping))
        await trio.sleep(10)
        stopping.set()
        await cycle.stopped.wait()
        assert trio.current_time() < 11 and makers(r.maker) == [] and cycle.summary.cycles == 0


async def test_a_hard_cancel_of_the_cycle_mid_open_still_leaves_no_maker_order(autojump_clock):
    async with rig() as r:
        ex = r.executor()
        await r.nursery.start(ex.run)
        cycle = r.cycle(ex)
        with trio.move_on_after(5):  # a second signal: the service is cancelled, not asked to stop
            await cycle.run()
        assert makers(r.maker) and r.maker.live_orders() == []
        assert cycle.stopped.is_set()


# ---- cycle.direction = "funding" (issue 14, point 6) ------------------------------------------

from decimal import Decimal  # noqa: E402

from loguru import logger  # noqa: E402

from hedged.strategy.planning import funding_side  # noqa: E402


def test_funding_side_is_long_where_funding_is_lower_and_short_where_it_is_higher():
    # Rates per hour, > 0 = longs pay shorts.
    d = funding_side(Decimal("0.0001"), Decimal("0.0003"), Decimal("0.00001"), Side.SELL)
    assert (d.side, d.decided_by, d.edge) == (Side.BUY, "funding", Decimal("0.0002"))  # long maker, short hedge
    d = funding_side(Decimal("0.0003"), Decimal("-0.0001"), Decimal("0.00001"), Side.BUY)
    assert (d.side, d.decided_by, d.edge) == (Side.SELL, "funding", Decimal("-0.0004"))


def test_funding_side_below_the_minimum_edge_or_without_a_rate_keeps_the_random_side():
    d = funding_side(Decimal("0.0001"), Decimal("0.000105"), Decimal("0.00001"), Side.SELL)
    assert (d.side, d.decided_by, d.why) == (Side.SELL, "random", "below_min_edge")
    d = funding_side(None, Decimal("0.0003"), Decimal("0.00001"), Side.BUY)
    assert (d.side, d.decided_by, d.why) == (Side.BUY, "random", "rate_unknown")


def _rate(value):
    async def funding_rate():
        return None if value is None else Decimal(value)

    return funding_rate


async def _first_side(maker_rate, hedge_rate, *, seed=11, min_edge="0.00001"):
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO",
                      filter=lambda r: r["message"].startswith("cycle_direction"))
    try:
        async with rig() as r:
            if maker_rate is not False:
                r.maker.funding_rate = _rate(maker_rate)
            if hedge_rate is not False:
                r.hedge.funding_rate = _rate(hedge_rate)
            r.cycle_cfg = cycle_config(direction="funding", funding_min_edge=Decimal(min_edge))
            ex = await start_all(r)
            cycle = r.cycle(ex, seed=seed)
            await cycle.run()
            return makers(r.maker)[0][1], lines
    finally:
        logger.remove(sink)


async def test_a_funding_cycle_opens_on_the_side_both_legs_receive_and_logs_the_rates(autojump_clock):
    side, lines = await _first_side("0.0003", "-0.0001")  # the maker venue's longs pay more: short there
    assert side is Side.SELL
    assert lines and "decided_by=funding" in lines[0] and "maker_rate=0.0003" in lines[0] \
        and "hedge_rate=-0.0001" in lines[0] and "edge=-0.0004" in lines[0]
    side, _ = await _first_side("-0.0002", "0.0001")
    assert side is Side.BUY


async def test_a_funding_cycle_below_the_edge_falls_back_to_the_seeded_random_side(autojump_clock):
    # The same seed gives the same side as direction = "random" would, whatever the rates say.
    async with rig() as r:
        r.cycle_cfg = cycle_config(direction="random")
        ex = await start_all(r)
        await r.cycle(ex, seed=2).run()
        random_side = makers(r.maker)[0][1]
    assert random_side is Side.SELL  # where a positive edge, had it counted, would have bought
    for maker_rate, hedge_rate in (("0.0001", "0.000101"), (False, "0.0003")):  # tiny edge; a venue without it
        side, lines = await _first_side(maker_rate, hedge_rate, seed=2)
        assert side is random_side and "decided_by=random" in lines[0]
