"""Issue 12 review: interleavings of concurrent hedge orders on the simulators (real adapters, real
ledger, Lighter's standard 300 ms taker hold, autojump clock). The checker reads the simulators'
truth, never the executor's view."""

from __future__ import annotations

import contextlib
import random
from functools import partial
from decimal import Decimal as D

import trio

from hedged.config import HedgeConfig
from hedged.errors import Halted
from hedged.strategy.executor import HedgeExecutor
from hedged.strategy.backfill import backfill
from hedged.venues.base import Side
from hedged.sim.lighter.server import Latency
from hedged.sim.common.faults import Fault, FaultKind

from .sims import LIGHTER_ACCOUNT, sim_world


def _executor(w, alerts: list, **cfg) -> HedgeExecutor:
    async def alert(event, severity, **details):
        alerts.append(event)
        await trio.lowlevel.checkpoint()

    return HedgeExecutor(ledger=w.ledger, maker=w.ext, hedge=w.lig, cfg=HedgeConfig(**cfg),
                         tolerance=lambda: D("0.05"), rng=random.Random(1), alert=alert,
                         new_client_id=w.new_client_id)


async def _until(w, pred, timeout=30.0):
    with trio.fail_after(timeout):
        await w.ledger.version.wait_value(lambda _: pred())


async def test_a_hedge_still_in_lighters_taker_hold_when_the_failure_path_runs_is_cancelled_not_left_to_trade(
        autojump_clock, tmp_path):
    # H1 is acked, then refused by Lighter's sequencer after the 300 ms hold: the only attempt fails and
    # the executor gives up. H2 (a second maker fill, sent 250 ms after H1) is still in the hold when the
    # failure path cancels everything and reads the venues, so the cancel-all misses it and the read does
    # not see it; it then executes and fills. The failure path must not leave it to trade behind its back.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        alerts: list[str] = []
        ex = _executor(w, alerts, max_attempts=1, timeout_s=30.0)
        await w.nursery.start(ex.run)
        a, b = await w.rest_maker(Side.BUY, D("0.5")), await w.rest_maker(Side.BUY, D("0.3"))
        w.lig_sim.reject_next_orders(1)
        w.ext_sim.force_fill(a, D("0.5"))
        await _until(w, lambda: len(ex.hedge_orders) == 1)
        await trio.sleep(0.25)
        w.ext_sim.force_fill(b, D("0.3"))
        await _until(w, lambda: len(ex.hedge_orders) == 2)
        await _until(w, lambda: "exposure_flattened" in alerts or "exposure_unrecovered" in alerts)
        await trio.sleep(5.0)  # everything the venues were asked to do has been done
        assert w.lig_sim.open_orders(LIGHTER_ACCOUNT) == []
        ext_pos, lig_pos = w.truth()
        assert abs(ext_pos + lig_pos) <= D("0.05"), (ext_pos, lig_pos, alerts)


async def _resting_hedge(w, ex, qty: D):
    """A SELL hedge of `qty` resting on Lighter with its order index known (the book is pulled)."""
    w.lig_sim.freeze_feed()  # the adapter keeps the last book: the hedge is priced...
    w.lig_sim.pull_book()  # ...and rests on a book with no liquidity
    a = await w.rest_maker(Side.BUY, qty)
    w.ext_sim.force_fill(a, qty)
    await _until(w, lambda: len(ex.hedge_orders) == 1)
    cid = ex.hedge_orders[0]
    await _until(w, lambda: w.ledger.order(w.lig.venue, cid).order_id is not None)
    return cid


async def test_a_hedge_fill_landing_while_its_downward_modify_is_in_flight_never_leads_to_a_reverse_hedge(
        autojump_clock, tmp_path):
    # Lighter's ModifyOrder sets the new *remaining* size: a fill that lands between the modify's send
    # and its execution is added back on top. Netting must stay exact: no BUY is ever sent, and the
    # venues end flat.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        alerts: list[str] = []
        ex = _executor(w, alerts, timeout_s=60.0, reprice_after_s=100.0)
        await w.nursery.start(ex.run)
        cid = await _resting_hedge(w, ex, D("1.0"))
        index = int(w.ledger.order(w.lig.venue, cid).order_id)
        sell = await w.rest_maker(Side.SELL, D("0.4"))
        executed = w.lig_sim.executed.value
        w.ext_sim.force_fill(sell, D("0.4"))  # the maker sold 0.4 back: the hedge should shrink to 0.6
        await _until(w, lambda: w.ledger.position(w.ext.venue) == D("0.6"))
        await trio.sleep(0.05)  # the modify is on its way (Lighter applies it 200 ms after it arrives)
        assert w.lig_sim.executed.value == executed
        w.lig_sim.force_fill(index, D("0.3"))  # another trader takes 0.3 of the hedge meanwhile
        for _ in range(4):  # whatever the hedge rests with afterwards, other traders take it all
            await trio.sleep(1.0)
            if w.lig_sim.open_orders(LIGHTER_ACCOUNT):
                w.lig_sim.force_fill(index)
        await trio.sleep(5.0)
        assert len(ex.hedge_orders) == 1, "a reverse hedge was sent"
        ext_pos, lig_pos = w.truth()
        assert abs(ext_pos + lig_pos) <= D("0.05"), (ext_pos, lig_pos)


async def test_a_second_opposite_fill_while_a_downward_modify_is_in_flight_shrinks_the_hedge_at_once(
        autojump_clock, tmp_path):
    # Two maker fills on the other side, 50 ms apart: the second must not wait for the first modify to
    # land (200 ms on a standard account) before the hedge is shrunk again. If it does, another trader
    # taking the resting hedge in between over-hedges, and a reverse hedge has to be sent.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        ex = _executor(w, [], timeout_s=60.0, reprice_after_s=100.0)
        await w.nursery.start(ex.run)
        cid = await _resting_hedge(w, ex, D("1.0"))
        index = int(w.ledger.order(w.lig.venue, cid).order_id)
        first, second = await w.rest_maker(Side.SELL, D("0.3")), await w.rest_maker(Side.SELL, D("0.3"))
        w.ext_sim.force_fill(first, D("0.3"))
        await _until(w, lambda: w.ledger.position(w.ext.venue) == D("0.7"))
        await trio.sleep(0.05)
        w.ext_sim.force_fill(second, D("0.3"))
        await _until(w, lambda: w.ledger.position(w.ext.venue) == D("0.4"))
        await trio.sleep(0.3)  # both modifies had time to land, had they been sent at once
        w.lig_sim.force_fill(index)  # another trader takes whatever rests
        await trio.sleep(5.0)
        assert len(ex.hedge_orders) == 1, "a reverse hedge was sent"
        ext_pos, lig_pos = w.truth()
        assert (ext_pos, lig_pos) == (D("0.4"), D("-0.4"))


async def test_on_stop_flatten_with_the_hedge_book_pulled_keeps_the_legs_hedged_instead_of_closing_only_one(
        autojump_clock, tmp_path):
    # on_stop = "flatten" closes both legs; when one cannot trade (its book pulled), closing the other
    # alone turns a hedged position into a naked one. The legs stay as they are, and the stop halts.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        alerts: list[str] = []
        ex = _executor(w, alerts)
        stopping = trio.Event()
        a = await w.rest_maker(Side.BUY, D("0.5"))
        outcome: list[BaseException | None] = []
        done = trio.Event()

        async def run() -> None:
            try:
                await ex.run(stopping=stopping, graceful_s=5.0, flatten_s=10.0, on_stop="flatten")
                outcome.append(None)
            except Exception as exc:  # noqa: BLE001 (the test reads what it was)
                outcome.append(exc)
            done.set()

        w.nursery.start_soon(run)
        w.ext_sim.force_fill(a, D("0.5"))
        await _until(w, lambda: w.ledger.position(w.lig.venue) == D("-0.5"))
        await ex.wait_flat()
        w.lig_sim.freeze_feed()
        w.lig_sim.pull_book()  # the hedge leg cannot be traded away now
        stopping.set()
        with trio.fail_after(60):
            await done.wait()
        assert type(outcome[0]).__name__ == "Halted"  # the legs could not be closed: that is said
        ext_pos, lig_pos = w.truth()
        assert abs(ext_pos + lig_pos) <= D("0.05"), (ext_pos, lig_pos)  # but nothing was left naked


async def test_concurrent_hedges_that_time_out_together_use_one_attempt_not_one_each(autojump_clock, tmp_path):
    # Two maker fills 10 ms apart get two concurrent hedges; the hedge book is empty for a moment, so
    # both reach their deadline together. That is one failed attempt (one market condition), not two:
    # with max_attempts = 2 the executor retries once (and the retry fills) instead of giving up at
    # once and trading the maker leg away.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        alerts: list[str] = []
        ex = _executor(w, alerts, max_attempts=2, timeout_s=2.0, reprice_after_s=100.0)
        await w.nursery.start(ex.run)
        w.lig_sim.freeze_feed()
        w.lig_sim.pull_book()
        a, b = await w.rest_maker(Side.BUY, D("0.5")), await w.rest_maker(Side.BUY, D("0.3"))
        w.ext_sim.force_fill(a, D("0.5"))
        await _until(w, lambda: len(ex.hedge_orders) == 1)
        await trio.sleep(0.01)
        w.ext_sim.force_fill(b, D("0.3"))
        await _until(w, lambda: len(ex.hedge_orders) == 2)
        first, second = ex.hedge_orders
        await _until(w, lambda: all(w.ledger.order(w.lig.venue, c).status.is_terminal for c in (first, second)))
        w.lig_sim.restore_book()  # the book is back before the retry's backoff is over
        w.lig_sim.freeze_feed(False)
        await _until(w, lambda: w.ledger.position(w.lig.venue) == D("-0.8") or "hedge_failed" in alerts)
        await ex.wait_flat()
        assert "hedge_failed" not in alerts
        assert w.truth() == (D("0.8"), D("-0.8"))


async def test_a_hedge_fill_while_its_reprice_is_in_flight_is_never_added_back_on_top(autojump_clock, tmp_path):
    # DST seed 3197: a reprice by ModifyOrder restated the remaining size while part of it was filling;
    # Lighter applies a modify 200 ms later and the filled part stays filled, so the repriced order,
    # aggressive enough to cross at once, filled the restated size on top (0.927 of a 0.55 hedge),
    # before the correction sent on seeing the fill could land. A reprice is a cancel and a new order for
    # what the cancel left: whatever fills in its flight, the hedge adds up to the maker fill exactly.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        ex = _executor(w, [], timeout_s=60.0, reprice_after_s=1.0)
        await w.nursery.start(ex.run)
        t_sent = trio.current_time()
        cid = await _resting_hedge(w, ex, D("1.0"))
        index = int(w.ledger.order(w.lig.venue, cid).order_id)
        executed = w.lig_sim.executed.value
        await trio.sleep_until(t_sent + 1.05)  # the reprice is on its way
        assert w.lig_sim.executed.value == executed
        w.lig_sim.force_fill(index, D("0.4"))  # another trader takes 0.4 meanwhile
        await w.lig_sim.executed.wait_value(lambda n: n > executed)  # the reprice lands...

        def take_all() -> None:
            for o in w.lig_sim.open_orders(LIGHTER_ACCOUNT):
                w.lig_sim.force_fill(o.order_index)

        take_all()  # ...and what rests is taken at once, before any correction can land
        await trio.sleep(0.5)
        take_all()  # the remainder's new order, once it rests
        await trio.sleep(5.0)
        trades = w.lig_sim.exchange.account_trades(LIGHTER_ACCOUNT)
        assert all(t.ask_account == LIGHTER_ACCOUNT for t in trades), "an over-hedge was hedged back"
        assert w.truth() == (D("1.0"), D("-1.0"))
        assert len(ex.hedge_orders) == 2  # the first (0.4 filled, the rest cancelled) and the remainder
        assert w.ledger.order(w.lig.venue, ex.hedge_orders[1]).qty == D("0.6")


async def test_a_fill_while_the_lighter_service_is_down_is_hedged_once_its_book_is_back_with_one_attempt(
        autojump_clock, tmp_path):
    # Fault scenario 53's case: the Lighter venue service is between two runs (a supervisor restart's
    # backoff), so the hedge book is gone, when a maker fill lands. No price is no attempt: the executor
    # waits for the book within the hedge's timeout and sends the hedge, first try, once it is back.
    # (Before: all four attempts went in 1.4 s on "no book yet", then the failure path.)
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        alerts: list[str] = []
        failures: list[str] = []
        ex = _executor(w, alerts, max_attempts=4, timeout_s=5.0, reprice_after_s=100.0)
        ex.on_failure = failures.append
        await w.nursery.start(ex.run)
        a = await w.rest_maker(Side.BUY, D("0.5"))
        await w.stop_lighter()
        w.ext_sim.force_fill(a, D("0.5"))
        await _until(w, lambda: w.ledger.position(w.ext.venue) == D("0.5"))
        await trio.sleep(3.0)  # down longer than the four attempts' backoffs (0.2 + 0.4 + 0.8 s)
        assert ex.hedge_orders == [] and failures == [] and alerts == []
        assert ex.busy.value  # waiting for the book: not idle, not given up
        await w.start_lighter()
        await _until(w, lambda: w.ledger.position(w.lig.venue) == D("-0.5"))
        await ex.wait_flat()
        assert len(ex.hedge_orders) == 1 and failures == [] and alerts == []
        assert w.truth() == (D("0.5"), D("-0.5"))


async def test_a_lighter_book_away_for_a_whole_hedge_timeout_hands_the_fill_to_the_failure_path_then(
        autojump_clock, tmp_path):
    # The other half of the wait for the book: it lasts one hedge timeout (virtual time really passes:
    # no spin), spends no attempt, and then the failure path owns the naked fill.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        failed = trio.Event()
        failures: list[str] = []

        async def alert(event, severity, **details):
            if event == "hedge_failed":
                failed.set()
            await trio.lowlevel.checkpoint()

        ex = HedgeExecutor(ledger=w.ledger, maker=w.ext, hedge=w.lig, cfg=HedgeConfig(timeout_s=5.0),
                           tolerance=lambda: D("0.05"), rng=random.Random(1), alert=alert,
                           new_client_id=w.new_client_id, on_failure=failures.append)

        async def run_executor(*, task_status=trio.TASK_STATUS_IGNORED):
            with contextlib.suppress(Halted):  # the failure path cannot verify with Lighter down
                await ex.run(task_status=task_status)

        await w.nursery.start(run_executor)
        a = await w.rest_maker(Side.BUY, D("0.5"))
        await w.stop_lighter()
        w.ext_sim.force_fill(a, D("0.5"))
        await _until(w, lambda: w.ledger.position(w.ext.venue) == D("0.5"))
        filled_at = trio.current_time()
        with trio.fail_after(30):
            await failed.wait()
        assert 5.0 <= trio.current_time() - filled_at < 5.1
        assert failures == ["no_price"] and ex.hedge_orders == []


async def test_a_hedge_fill_no_stream_delivered_is_journaled_when_a_graceful_stop_ends_before_it_is_established(
        autojump_clock, tmp_path):
    # DST seed 3392: Lighter's account channels are frozen (open, silent); the resting hedge fills at the
    # venue unseen; the graceful stop's grace ends before REST establishes it, and the failure path reads
    # flat venues and returns: the journal held the maker fill without its hedge, and exited like that.
    # What the failure path acted on must be in the journal: it back-fills trade history at the end.
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0) as w:
        ex = _executor(w, [], timeout_s=60.0, reprice_after_s=100.0)
        ex.backfill = partial(backfill, w.ledger, (w.ext, w.lig))  # as the strategy graph wires it
        stopping = trio.Event()
        async with trio.open_nursery() as n:
            n.start_soon(partial(ex.run, stopping=stopping, graceful_s=1.0, flatten_s=10.0))
            cid = await _resting_hedge(w, ex, D("1.0"))
            index = int(w.ledger.order(w.lig.venue, cid).order_id)
            w.lig_sim.add_fault(Fault(FaultKind.FREEZE, target="account_*"))
            w.lig_sim.force_fill(index)  # fills at the venue; no frame of it reaches us
            await trio.sleep(0.5)
            assert w.ledger.position(w.lig.venue) == 0  # unseen
            stopping.set()
        assert w.truth() == (D("1.0"), D("-1.0"))
        assert w.ledger.position(w.lig.venue) == D("-1.0")
