"""Cost independent of history (issue 12 point 12): settled orders leave memory, the journal keeps
them, and an event that names one later is answered from the journal, never counted twice or lost."""

from __future__ import annotations

import dataclasses
import sqlite3

from hedged.ledger import Journal, Ledger, LedgerCore
from hedged.venues.base import OrderStatus as S
from hedged.venues.base import Side, Venue

from ledger_helpers import D, HEDGE, MAKER, ROLES, check_invariants, state_of, trade, upd

BUY, SELL = Side.BUY, Side.SELL
SETTLE_MS = 1_000
KEEP = 3


def cycle(ledger: Ledger, i: int, ts: int) -> None:
    """One maker fill of 0.5 and its hedge, both settled, with venue times `ts`."""
    ledger.register_order(MAKER, f"m{i}", BUY, D("0.5"))
    ledger.apply(upd(MAKER, f"x{i}", f"m{i}", BUY, S.OPEN, "0.5", "0", ts_ms=ts))
    ledger.apply(_trade(MAKER, f"tx{i}", f"x{i}", BUY, f"m{i}", ts))
    ledger.apply(upd(MAKER, f"x{i}", f"m{i}", BUY, S.FILLED, "0.5", "0.5", ts_ms=ts))
    ledger.register_hedge(f"h{i}", SELL, D("0.5"))
    ledger.apply(upd(HEDGE, f"y{i}", f"h{i}", SELL, S.FILLED, "0.5", "0.5", ts_ms=ts))
    ledger.apply(_trade(HEDGE, f"ty{i}", f"y{i}", SELL, f"h{i}", ts))


def _trade(leg, tid, oid, side, cid, ts):
    return dataclasses.replace(trade(leg, tid, oid, side, "0.5", cid=cid), ts_ms=ts)


def open_ledger(path) -> Ledger:
    return Ledger.open(ROLES, path, settle_ms=SETTLE_MS, keep_last=KEEP)


def run_cycles(ledger: Ledger, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        cycle(ledger, i, ts=10_000 + 1_000 * i)
        ledger.flush()  # commits, then prunes what may leave memory


def test_settled_orders_leave_memory_once_committed_and_older_than_the_settle_window(tmp_path):
    ledger = open_ledger(tmp_path / "l.db")
    for i in range(40):
        cycle(ledger, i, ts=10_000 + 1_000 * i)
    core = ledger.core
    assert len(core.orders) == 80  # nothing committed yet: nothing may leave
    ledger.flush()
    # Kept: the last KEEP settled, plus those within SETTLE_MS of the newest venue time (49,000).
    assert len(core.orders) <= KEEP + 4 and core.statistics().pruned >= 76
    assert len(core._trades) <= len(core.orders) and len(core._by_oid) <= len(core.orders)
    assert len(core.coverage._entries) <= len(core.orders) and len(core.coverage.links) <= len(core.orders)
    assert core.positions == {MAKER: D("20.0"), HEDGE: D("-20.0")}
    check_invariants(core)
    ledger.close()


def test_a_pruned_orders_replayed_trades_and_updates_are_not_counted_again(tmp_path):
    ledger = open_ledger(tmp_path / "l.db")
    run_cycles(ledger, 30)
    core = ledger.core
    assert ledger.order(Venue.EXTENDED, order_id="x0") is not None  # read back from the journal...
    assert core.statistics().recalled == 1
    restarted = open_ledger(tmp_path / "l.db")
    core2 = restarted.core
    assert len(core2.orders) <= KEEP + 1
    for c in (core, core2):
        run = c.statistics().recalled
        before = dict(c.positions)
        # A restated stream replays the oldest orders' fills, by trade and by cumulative quantity.
        assert c.apply(_trade(MAKER, "tx1", "x1", BUY, "m1", 11_000)) == 0
        assert c.apply(upd(MAKER, "x2", "m2", BUY, S.FILLED, "0.5", "0.5", ts_ms=12_000)) == 0
        assert c.apply(_trade(HEDGE, "ty3", "y3", SELL, "h3", 13_000)) == 0
        assert c.apply(upd(HEDGE, "y4", None, SELL, S.FILLED, "0.5", "0.5", ts_ms=14_000)) == 0
        assert c.positions == before and c.counters["duplicate_trade"] >= 2
        assert c.statistics().recalled == run + 4
        check_invariants(c)
    ledger.close()
    restarted.close()


def test_a_real_late_fill_on_a_pruned_order_counts_exactly_once(tmp_path):
    ledger = open_ledger(tmp_path / "l.db")
    run_cycles(ledger, 30)
    core = ledger.core
    assert (Venue.EXTENDED, "x5") not in core._by_oid  # long gone from memory
    late = core.counters["late_fill"]
    # The venue reports one more trade on a long-settled maker order (a correction after the fact).
    assert ledger.apply(_trade(MAKER, "tx5b", "x5", BUY, "m5", 40_000)) == D("0.5")
    assert ledger.apply(_trade(MAKER, "tx5b", "x5", BUY, "m5", 40_000)) == 0
    assert core.positions[MAKER] == D("15.5") and core.counters["late_fill"] == late + 1
    check_invariants(core)
    ledger.flush()
    ledger.close()
    again = open_ledger(tmp_path / "l.db")
    assert again.apply(_trade(MAKER, "tx5b", "x5", BUY, "m5", 40_000)) == 0  # and after a restart
    assert again.core.positions[MAKER] == D("15.5")
    again.close()


def test_nothing_leaves_memory_before_its_rows_are_committed(tmp_path):
    ledger = open_ledger(tmp_path / "l.db")
    for i in range(20):
        cycle(ledger, i, ts=10_000 + 1_000 * i)
    core = ledger.core
    rows = core.take_rows()
    core.prune()  # a write is in flight: its epoch is not durable
    assert len(core.orders) == 40
    ledger.journal.write(rows)
    core.committed(core.last_taken)
    assert len(core.orders) < 40
    ledger.close()


def test_restart_on_a_big_journal_reads_only_what_memory_keeps_and_agrees_with_a_full_replay(tmp_path):
    path = tmp_path / "l.db"
    ledger = open_ledger(path)
    run_cycles(ledger, 600)
    ledger.register_order(MAKER, "live", SELL, D("1"))  # one order still working
    ledger.apply(upd(MAKER, "xl", "live", SELL, S.PARTIALLY_FILLED, "1", "0.2", ts_ms=700_000))
    ledger.flush()
    memory = state_of(ledger.core)
    ledger.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM fills").fetchone()[0] == 1801

    bounded = Ledger.open(ROLES, path)
    assert bounded.replay.bounded and bounded.replay.orders <= 1000 + 1
    full = LedgerCore(ROLES)
    with sqlite3.connect(path) as conn:  # the whole file, as a hedged without the checkpoint reads it
        conn.execute("DELETE FROM ledger_state")
        Journal(path, conn, fresh=False, migrated_from=None).load(full)
    core = bounded.core
    assert core.positions == full.positions == {MAKER: D("299.8"), HEDGE: D("-300.0")}
    assert core.open_hedge_delta == full.open_hedge_delta and core.statistics().live_orders == 1
    assert [r.client_id for r in bounded.live_orders(Venue.EXTENDED)] == ["live"]
    assert state_of(core)[1:4] == memory[1:4]
    check_invariants(core)
    # Old fills replayed after the restart (orders not in memory) are still recognised.
    assert bounded.apply(_trade(MAKER, "tx3", "x3", BUY, "m3", 13_000)) == 0
    assert bounded.apply(upd(HEDGE, "y7", "h7", SELL, S.FILLED, "0.5", "0.5", ts_ms=17_000)) == 0
    assert bounded.apply(upd(MAKER, "xl", "live", SELL, S.FILLED, "1", "1", ts_ms=700_001)) == D("-0.8")
    assert core.positions == {MAKER: D("299.0"), HEDGE: D("-300.0")}
    bounded.close()


def test_a_checkpoint_the_file_moved_past_is_not_trusted(tmp_path):
    path = tmp_path / "l.db"
    ledger = open_ledger(path)
    run_cycles(ledger, 10)
    ledger.close()
    with sqlite3.connect(path) as conn:  # an older hedged wrote one more fill and knew no checkpoint
        conn.execute("INSERT INTO fills (fill_key, order_key, venue, market, side, qty, price, counted_delta, "
                     "trade_id, ts_ms) VALUES ('extended|t|late', 'o1', 'extended', 'SOL-USD', 'buy', '0.1', "
                     "'1', '0.1', 'late', 1)")
        conn.execute("UPDATE orders SET trade_qty = '0.6', counted = '0.6' WHERE key = 'o1'")
    again = Ledger.open(ROLES, path)
    assert not again.replay.bounded and again.core.positions[MAKER] == D("5.1")
    again.close()
    third = Ledger.open(ROLES, path)  # the full replay wrote a fresh checkpoint
    assert third.replay.bounded and third.core.positions[MAKER] == D("5.1")
    third.close()


def test_an_order_known_by_one_id_only_is_still_matched_by_its_other_id_after_pruning_and_a_restart(tmp_path):
    ledger = open_ledger(tmp_path / "l.db")
    ledger.register_order(MAKER, "solo", BUY, D("1"))
    ledger.apply(dataclasses.replace(trade(MAKER, "ts1", None, BUY, "1", cid="solo"), ts_ms=9_000))
    ledger.apply(upd(MAKER, None, "solo", BUY, S.FILLED, "1", "1", ts_ms=9_000))
    run_cycles(ledger, 20)
    assert (Venue.EXTENDED, "solo") not in ledger.core._by_cid
    ledger.close()
    again = open_ledger(tmp_path / "l.db")
    before = dict(again.core.positions)
    # The venue restates the same fill by its venue id alone, then with both ids.
    assert again.apply(dataclasses.replace(trade(MAKER, "ts1", "vsolo", BUY, "1"), ts_ms=9_000)) == 0
    assert again.apply(upd(MAKER, "vsolo", None, BUY, S.FILLED, "1", "1", ts_ms=9_000)) == D("1")  # a twin, for now
    run_cycles(again, 10, start=20)  # both records settle out of memory
    assert again.apply(upd(MAKER, "vsolo", "solo", BUY, S.FILLED, "1", "1", ts_ms=9_000)) == 0
    # The merge takes the twin's count back: the fill is in the position once (plus the 10 new cycles).
    assert again.core.positions == {MAKER: before[MAKER] + 5, HEDGE: before[HEDGE] - 5}
    assert again.core.counters["orders_merged"] == 1
    check_invariants(again.core)
    again.close()
