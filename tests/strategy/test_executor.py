"""HedgeExecutor on the real LedgerCore and FakeVenues, under the autojump clock."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import trio

from hedged.errors import Halted
from hedged.venues.base import AmbiguousOutcome, OrderRejected, Side, TimeInForce, Venue, VenueError

from .rig import hedge_config, rig



def takers(venue):
    return [c for c in venue.calls if c[0] == "place_taker"]


async def test_a_maker_fill_is_hedged_at_once_on_the_hedge_venue(autojump_clock):
    async with rig() as r:
        ex = r.executor()
        await r.nursery.start(ex.run)
        t0 = trio.current_time()
        await r.maker_fill(Side.BUY, "1.0")
        await r.until(lambda: r.hedge.position == D("-1.0"))
        (call,) = takers(r.hedge)
        assert call[1] is Side.SELL and call[2] == D("1.000")
        assert call[3] == D("99.96")  # best bid 100.02 - 5 bps = 99.96999, rounded down to the tick
        assert call[5] is TimeInForce.GTT
        assert trio.current_time() - t0 < 0.01
        await ex.wait_flat()
        assert r.venue_net() == 0 and r.ledger_matches_venues()
        assert ex.statistics().filled_orders == 1


async def test_partial_fill_leaves_the_rest_resting_until_it_fills(autojump_clock):
    async with rig() as r:
        r.hedge.taker_fill = lambda o: D("0.4")
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.SELL, "1")
        await r.until(lambda: r.hedge.position == D("0.4"))
        (call,) = takers(r.hedge)
        await trio.sleep(3)  # still inside the 5 s deadline: nothing new is sent
        assert len(takers(r.hedge)) == 1 and ex.busy.value
        r.hedge.fill(call[4], "0.6")
        await r.until(lambda: not ex.busy.value, ex.busy)
        assert r.venue_net() == 0 and len(takers(r.hedge)) == 1


async def test_timeout_cancels_finds_the_partial_fill_reprices_and_succeeds(autojump_clock):
    async with rig() as r:
        fills = iter([D("0.4"), D("0.6")])
        r.hedge.taker_fill = lambda o: next(fills)
        ex = r.executor()
        await r.nursery.start(ex.run)
        t0 = trio.current_time()
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: r.hedge.position == D("-1"))
        first, second = takers(r.hedge)
        assert ("cancel", None, first[4]) in [(c[0], None, c[2]) for c in r.hedge.calls if c[0] == "cancel"]
        assert second[2] == D("0.6")  # only what is still open, never the 0.4 that filled
        assert second[3] < first[3]  # a SELL reprice is lower: more aggressive
        assert trio.current_time() - t0 >= 5.0 + 0.2  # the deadline, then the first backoff
        await ex.wait_flat()
        assert r.venue_net() == 0 and r.ledger_matches_venues()


async def _hedge_never_fills_until_halted(r, ex) -> None:
    """The hedge venue never fills and the maker venue refuses the flatten: run to the halt."""
    r.hedge.taker_fill = lambda o: D(0)
    r.maker.fail_taker = [OrderRejected(Venue.EXTENDED, "flatten refused")]
    async with trio.open_nursery() as n:
        n.start_soon(r.maker_fill, Side.BUY, "1")
        with pytest.raises(Halted):
            await ex.run()


async def test_a_timeout_is_never_counted_as_a_fill(autojump_clock):
    async with rig(hedge_cfg=hedge_config(max_attempts=1)) as r:
        await _hedge_never_fills_until_halted(r, r.executor())
        assert r.ledger.position(Venue.LIGHTER) == 0 and r.hedge.position == 0
        assert r.ledger.net_exposure.value == D(1)


async def test_a_fill_arriving_while_its_cancel_is_pending_is_counted_and_not_rehedged(autojump_clock):
    async with rig() as r:
        r.hedge.taker_fill = lambda o: D(0)
        r.hedge.cancel_gate = trio.Event()
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.hedge.cancel_started.wait()  # the deadline fired and the cancel is on its way
        (call,) = takers(r.hedge)
        r.hedge.fill(call[4], "1")  # the venue fills it before it processes the cancel
        r.hedge.cancel_gate.set()
        await r.until(lambda: not ex.busy.value, ex.busy)
        assert len(takers(r.hedge)) == 1
        assert r.venue_net() == 0 and r.ledger_matches_venues()


async def test_a_fill_after_an_already_filled_answer_is_established_by_rest_and_counted_once(autojump_clock):
    async with rig() as r:
        r.hedge.hold_updates = True  # the private stream lags: the venue fills, we hear nothing
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: r.ledger.position(Venue.LIGHTER) == D(-1))
        assert ("order_status", takers(r.hedge)[0][4]) in r.hedge.calls  # learned from REST
        assert any(c[0] == "cancel" for c in r.hedge.calls)  # "already final" answer to the cancel
        r.hedge.hold_updates = False
        r.hedge.release()  # the stream catches up with the same fill
        await trio.sleep(1)
        assert r.ledger.position(Venue.LIGHTER) == D(-1) and r.ledger_matches_venues()
        assert len(takers(r.hedge)) == 1


async def test_every_attempt_failing_flattens_and_halts_when_exposure_stays_open(autojump_clock):
    async with rig(hedge_cfg=hedge_config(max_attempts=3)) as r:
        await _hedge_never_fills_until_halted(r, r.executor())
        assert len(takers(r.hedge)) == 3
        levels = [c[3] for c in takers(r.hedge)]
        assert levels == sorted(levels, reverse=True) and len(set(levels)) == 3
        assert ("cancel_all",) in r.maker.calls and ("cancel_all",) in r.hedge.calls
        assert r.alerts.events() == [("hedge_failed", "critical"), ("exposure_unrecovered", "critical")]


async def test_flatten_that_recovers_alerts_and_keeps_hedging(autojump_clock):
    async with rig(hedge_cfg=hedge_config(max_attempts=2)) as r:
        r.hedge.taker_fill = lambda o: D(0)
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1", resting=D(2))
        await r.until(lambda: r.maker.position == 0 and not ex.busy.value, ex.busy)
        flatten = takers(r.maker)
        assert len(flatten) == 1 and flatten[0][1] is Side.SELL and flatten[0][5] is TimeInForce.IOC
        assert r.alerts.events() == [("hedge_failed", "critical"), ("exposure_flattened", "warning")]
        await ex.wait_flat()
        # still running: the next maker fill is hedged as usual
        r.hedge.taker_fill = r.hedge._crossing_fill
        await r.maker_fill(Side.SELL, "0.5")
        await r.until(lambda: r.hedge.position == D("0.5") and r.ledger_matches_venues())
        assert r.venue_net() == 0


async def test_placement_and_signing_errors_count_as_attempts_and_the_next_one_succeeds(autojump_clock):
    async with rig(hedge_cfg=hedge_config(max_attempts=3)) as r:
        r.hedge.fail_taker = [OrderRejected(Venue.LIGHTER, "bad price"), VenueError(Venue.LIGHTER, "signer failed")]
        failures: list[str] = []
        ex = r.executor(on_failure=failures.append)
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: r.hedge.position == D(-1) and r.ledger_matches_venues())
        assert len(takers(r.hedge)) == 3
        assert failures == ["rejected", "signing"]  # each failure is reported with its reason (a metric label)
        assert r.venue_net() == 0 and r.ledger_matches_venues() and r.ledger.hedge_in_flight() == 0


async def test_placement_errors_on_every_attempt_end_in_the_failure_path(autojump_clock):
    async with rig(hedge_cfg=hedge_config(max_attempts=2)) as r:
        r.hedge.fail_taker = [OrderRejected(Venue.LIGHTER, "x"), OrderRejected(Venue.LIGHTER, "y")]
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: r.maker.position == 0)  # flattened on the maker leg, the larger one
        assert r.alerts.events()[0] == ("hedge_failed", "critical")


async def test_an_ambiguous_placement_is_looked_up_not_resent(autojump_clock):
    async with rig() as r:
        real = r.hedge.place_taker

        async def lost_reply(*a, **kw):
            await real(*a, **kw)  # the order reached the venue and filled...
            raise AmbiguousOutcome(Venue.LIGHTER, "reply lost")  # ...but we never heard back

        r.hedge.place_taker = lost_reply
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: not ex.busy.value and r.hedge.position == D(-1), ex.busy)
        assert len(takers(r.hedge)) == 1 and r.venue_net() == 0


async def test_a_resting_hedge_is_repriced_by_a_cancel_and_a_tighter_order_for_what_is_left(autojump_clock):
    async with rig(hedge_cfg=hedge_config(reprice_after_s=2.0, timeout_s=5.0)) as r:
        r.hedge.taker_fill = lambda o: D("0.4")
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: len(takers(r.hedge)) == 2)
        first, second = takers(r.hedge)
        assert [c[0] for c in r.hedge.calls].count("cancel") == 1 and not any(c[0] == "modify" for c in r.hedge.calls)
        assert second[3] < first[3]  # tighter
        assert second[2] == D("0.6")  # what the cancel left, never re-adding the 0.4 that filled
        r.hedge.fill(second[4], "0.6")
        await r.until(lambda: not ex.busy.value, ex.busy)
        assert r.venue_net() == 0


async def test_cancelling_the_executor_mid_hedge_cancels_the_resting_hedge(autojump_clock):
    async with rig() as r:
        r.hedge.taker_fill = lambda o: D(0)
        ex = r.executor()
        async with trio.open_nursery() as n:  # the executor runs in here, so the cancel reaches it
            n.start_soon(ex.run)
            await r.maker_fill(Side.BUY, "1")
            await r.until(lambda: ex.busy.value and r.hedge.live_orders(), ex.busy)
            await trio.sleep(1)
            n.cancel_scope.cancel()
        await r.until(lambda: not r.hedge.live_orders(), timeout=10)
        assert r.hedge.live_orders() == []


async def test_a_delta_the_failure_path_leaves_within_tolerance_is_not_retried_in_a_loop(autojump_clock):
    async with rig(hedge_cfg=hedge_config(max_attempts=2)) as r:
        # the venue refuses a size our rules allow (as Lighter does under its minimum notional)
        r.hedge.fail_taker = [OrderRejected(Venue.LIGHTER, "below the market minimum")] * 100
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "0.03")  # hedgeable by the rules, inside the 0.05 tolerance
        await r.until(lambda: ex.statistics().failures == 1 and not ex.busy.value, ex.busy)
        with trio.fail_after(1):
            await ex.wait_flat()  # the cycle must not block on it
        await trio.sleep(60)
        assert len(takers(r.hedge)) == 2 and ex.statistics().failures == 1
        assert r.alerts.events() == [("hedge_failed", "critical"), ("exposure_within_tolerance", "warning")]
        await r.maker_fill(Side.BUY, "0.5")  # new exposure: a fresh episode hedges the whole delta
        r.hedge.fail_taker = []
        await r.until(lambda: r.hedge.position == D("-0.53") and r.ledger_matches_venues())
