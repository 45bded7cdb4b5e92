"""The async Ledger: AsyncValues first, journal after; the channel-fed owner task."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import trio

from hedged.ledger import Journal, Ledger, LedgerCore, ReconcileKind
from hedged.venues.base import OrderStatus as S
from hedged.venues.base import Side, Venue

from ledger_helpers import D, HEDGE, HEDGE_RULES, MAKER, ROLES, snap, state_of, upd

BUY, SELL = Side.BUY, Side.SELL


class GatedJournal(Journal):
    """A journal whose commits wait for the test to open a gate: a very slow disk."""

    gate: threading.Event

    def write(self, rows):
        self.gate.wait(timeout=30)
        return super().write(rows)


def replay_file(path) -> LedgerCore:
    core = LedgerCore(ROLES)
    with Journal.open(path) as j:
        j.load(core)
    return core


def test_apply_publishes_exposure_at_once_and_leaves_rows_for_the_journal(tmp_path):
    ledger = Ledger.open(ROLES, tmp_path / "l.db")
    ledger.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.4"))
    assert ledger.open_hedge_delta.value == D("0.4")
    assert ledger.net_exposure.value == D("0.4")
    assert ledger.positions.value[MAKER] == D("0.4")
    assert ledger.journal_backlog > 0
    assert replay_file(tmp_path / "l.db").positions[MAKER] == 0  # nothing on disk yet
    ledger.flush()
    assert ledger.journal_backlog == 0
    assert replay_file(tmp_path / "l.db").positions[MAKER] == D("0.4")
    ledger.close()


async def test_hedge_task_sees_a_fill_while_the_journal_write_is_still_blocked(tmp_path):
    journal = GatedJournal.open(tmp_path / "l.db")
    journal.gate = threading.Event()
    ledger = Ledger(LedgerCore(ROLES), journal)
    send, receive = trio.open_memory_channel(100)
    seen: list[tuple[Decimal, int]] = []

    async def hedge_executor():
        delta = await ledger.open_hedge_delta.wait_value(lambda v: v != 0)
        seen.append((delta, journal.rows_written))
        plan = ledger.hedge_plan(HEDGE_RULES)
        ledger.register_hedge("h1", plan.side, plan.qty, residual=plan.residual)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hedge_executor)
            await nursery.start(ledger.run, receive)
            await send.send(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1", "0.47"))
            await ledger.open_hedge_delta.wait_value(lambda v: v == D("0.07"))  # hedge registered
            assert seen == [(D("0.47"), 0)]  # the hedge decision came before any commit
            assert ledger.in_flight.value == D("-0.4")
            journal.gate.set()
            await ledger.wait_journaled()
            await send.aclose()
    core = replay_file(tmp_path / "l.db")
    assert core.find(Venue.LIGHTER, client_id="h1").qty == D("0.4")
    assert core.open_hedge_delta == D("0.07") and core.residual == D("0.07")
    journal.close()


async def test_run_applies_the_channel_and_journals_everything_when_it_closes(tmp_path):
    ledger = Ledger.open(ROLES, tmp_path / "l.db")
    send, receive = trio.open_memory_channel(1000)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(ledger.run, receive)
            async with send:
                for i in range(1, 201):
                    await send.send(upd(MAKER, str(i), f"m{i}", BUY, S.FILLED, "0.1", "0.1"))
                    await send.send(upd(MAKER, str(i), f"m{i}", BUY, S.FILLED, "0.1", "0.1"))  # duplicate
    assert ledger.positions.value[MAKER] == D("20.0")
    assert state_of(replay_file(tmp_path / "l.db")) == state_of(ledger.core)
    ledger.close()


async def test_a_registration_alone_reaches_the_journal(tmp_path):
    ledger = Ledger.open(ROLES, tmp_path / "l.db")
    send, receive = trio.open_memory_channel(10)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(ledger.run, receive)
            ledger.register_hedge("h1", SELL, D("0.3"))
            await ledger.wait_journaled()
            assert replay_file(tmp_path / "l.db").hedge_in_flight == D("-0.3")
            await send.aclose()
    ledger.close()


async def test_cancelled_ledger_task_still_writes_what_it_applied(tmp_path):
    ledger = Ledger.open(ROLES, tmp_path / "l.db")
    send, receive = trio.open_memory_channel(10)
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run, receive)
        await send.send(upd(MAKER, "1", "m1", SELL, S.FILLED, "0.2", "0.2"))
        await ledger.net_exposure.wait_value(D("-0.2"))
        nursery.cancel_scope.cancel()
    assert replay_file(tmp_path / "l.db").positions[MAKER] == D("-0.2")
    ledger.close()


async def test_wait_hedged_returns_once_the_hedge_fills(tmp_path):
    ledger = Ledger(LedgerCore(ROLES))
    ledger.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.5", "0.5"))
    ledger.register_hedge("h1", SELL, D("0.5"))
    ledger.apply(upd(HEDGE, "L1", "h1", SELL, S.CANCELLED, "0.5", "0.2"))
    assert ledger.open_hedge_delta.value == D("0.3")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ledger.wait_hedged, D("0.01"))
            await trio.sleep(0)
            ledger.register_hedge("h2", SELL, D("0.3"))
    assert ledger.open_hedge_delta.value == 0


def test_restart_replays_the_journal_into_the_published_values(tmp_path):
    first = Ledger.open(ROLES, tmp_path / "l.db")
    assert first.replay.fresh
    first.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.5", "0.5"))
    first.register_hedge("h1", SELL, D("0.5"))
    first.close()
    second = Ledger.open(ROLES, tmp_path / "l.db")
    assert not second.replay.fresh
    assert second.net_exposure.value == D("0.5")
    assert second.in_flight.value == D("-0.5")
    assert second.open_hedge_delta.value == 0
    second.close()


def test_reconcile_publishes_the_venues_truth(tmp_path):
    ledger = Ledger(LedgerCore(ROLES))
    plan = ledger.reconcile([snap(MAKER, "1.0"), snap(HEDGE, "-0.7")], [], kind=ReconcileKind.COLD)
    assert plan.net_exposure == D("0.3")
    assert ledger.net_exposure.value == D("0.3")
    assert ledger.open_hedge_delta.value == D("0.3")
    assert ledger.positions.value == {MAKER: D("1.0"), HEDGE: D("-0.7")}


def test_plan_below_the_size_step_records_residual_and_registers_nothing():
    ledger = Ledger(LedgerCore(ROLES))
    ledger.apply(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.05", "0.05"))
    assert ledger.register_plan(ledger.hedge_plan(HEDGE_RULES), "h1") is None
    assert ledger.residual.value == D("0.05")
    assert ledger.open_hedge_delta.value == D("0.05")


async def test_an_order_waiter_wakes_on_version_when_its_order_settles():
    ledger = Ledger(LedgerCore(ROLES))
    ledger.register_order(Venue.LIGHTER, "h9", SELL, D("0.2"))
    assert ledger.order(Venue.LIGHTER, "h9").is_hedge
    got = []

    async def waiter():
        await ledger.version.wait_value(lambda _: ledger.order(Venue.LIGHTER, "h9").status.is_terminal)
        got.append(ledger.order(Venue.LIGHTER, "h9").counted)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.sleep(0)
            ledger.note_cancel_requested(Venue.LIGHTER, "h9")
            ledger.apply(upd(HEDGE, "L9", "h9", SELL, S.CANCELLED, "0.2", "0.1"))
    assert got == [D("0.1")]
    assert ledger.position(Venue.LIGHTER) == D("-0.1") and ledger.position(Venue.EXTENDED) == 0
    assert ledger.hedge_in_flight() == 0
    assert ledger.statistics().counters["fill_while_cancel_pending"] == 1


def test_warm_restart_after_losing_the_last_batch_recovers_the_truth_once(tmp_path):
    path = tmp_path / "l.db"
    first = Ledger.open(ROLES, path)
    first.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "2", "0.5"))
    first.register_hedge("h1", SELL, D("0.5"))
    first.flush()
    # Applied and published, then the process dies before the journal writes them.
    first.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "2", "0.8"))
    first.apply(upd(HEDGE, "L1", "h1", SELL, S.FILLED, "0.5", "0.5"))
    first.journal.close()

    second = Ledger.open(ROLES, path)
    assert not second.replay.fresh
    assert second.position(Venue.EXTENDED) == D("0.5") and second.hedge_in_flight() == D("-0.5")
    # Startup reconciliation against the venues: maker order still open at 0.8, hedge filled and gone
    # (its own status, asked for because it is no longer listed, says so): both are fills, not drift.
    h1 = second.order(Venue.LIGHTER, "h1").key
    plan = second.reconcile([snap(MAKER, "0.8"), snap(HEDGE, "-0.5")],
                            [upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "2", "0.8")], kind=ReconcileKind.WARM,
                            statuses={h1: upd(HEDGE, "L1", "h1", SELL, S.FILLED, "0.5", "0.5")})
    assert plan.adjustments == () and plan.close == ()
    assert second.order(Venue.LIGHTER, "h1").status is S.FILLED
    # The streams then restate what the journal lost: nothing counts twice.
    second.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "2", "0.8"))
    second.apply(upd(HEDGE, "L1", "h1", SELL, S.FILLED, "0.5", "0.5"))
    assert second.positions.value == {MAKER: D("0.8"), HEDGE: D("-0.5")}
    assert second.open_hedge_delta.value == D("0.3")
    second.close()


class BrokenDiskJournal(Journal):
    def write(self, rows):
        raise OSError("disk full")


async def test_a_failing_journal_stops_the_task_and_keeps_the_rows_in_memory(tmp_path):
    journal = BrokenDiskJournal.open(tmp_path / "l.db")
    ledger = Ledger(LedgerCore(ROLES), journal)
    send, receive = trio.open_memory_channel(10)
    with trio.fail_after(5), pytest.RaisesGroup(pytest.RaisesExc(OSError, match="disk full"),
                                                flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await nursery.start(ledger.run, receive)
            await send.send(upd(MAKER, "1", "m1", BUY, S.FILLED, "0.2", "0.2"))
            await trio.sleep_forever()
    assert ledger.positions.value[MAKER] == D("0.2")  # memory is still right
    assert ledger.journal_backlog > 0  # and the rows wait for a retry
    journal.close()
