"""The journal: creation, replay, interruption at every write boundary, duplicates, migrations, bad files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from hedged.ledger import CURRENT_VERSION, Journal, JournalError, LedgerCore
from hedged.ledger.journal import create_at_version
from hedged.venues.base import OrderStatus as S
from hedged.venues.base import Side, Venue

from ledger_helpers import D, HEDGE, HEDGE_RULES, MAKER, ROLES, check_invariants, snap, state_of, trade, upd

BUY, SELL = Side.BUY, Side.SELL


def script() -> list:
    """A short trading story: maker fills, a hedge, a cancel with fill, a re-hedge, snapshots, an adjustment."""

    def hedge(cid):
        def step(core):
            if core.find(Venue.LIGHTER, client_id=cid) is None:  # on re-application after a crash
                p = core.hedge_plan(HEDGE_RULES)
                core.register_hedge(cid, p.side, p.qty, residual=p.residual, cycle_id="cy1")
        return step

    return [
        lambda c: c.record_cycle("cy1", "open"),
        lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.OPEN, "2", "0")),
        lambda c: c.apply(trade(MAKER, "t1", "1", BUY, "0.45")),
        lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "2", "0.45")),
        hedge("h1"),
        lambda c: c.apply(upd(HEDGE, "L1", "h1", SELL, S.OPEN, "0.4", "0")),
        lambda c: c.apply(upd(HEDGE, "L1", "h1", SELL, S.CANCELLED, "0.4", "0.3")),
        lambda c: c.apply(upd(MAKER, "1", "m1", BUY, S.CANCELLED, "2", "0.5")),
        hedge("h2"),
        lambda c: c.apply(trade(HEDGE, "x7", "L2", SELL, "0.2", cid="h2")),
        lambda c: c.apply(snap(MAKER, "0.5")),
        lambda c: c.apply(upd(MAKER, "2", None, SELL, S.PARTIALLY_FILLED, "1", "0.1")),
    ]


def run_clean(path: Path) -> list[tuple]:
    """Apply the script, one journal batch per step; return the state after every committed batch."""
    states = [state_of(LedgerCore(ROLES))]
    core = LedgerCore(ROLES)
    with Journal.open(path) as j:
        for step in script():
            step(core)
            j.write(core.take_rows())
            states.append(state_of(core))
    return states


def replayed(path: Path) -> LedgerCore:
    core = LedgerCore(ROLES)
    with Journal.open(path) as j:
        j.load(core)
    check_invariants(core)
    return core


def test_missing_state_dir_is_created(tmp_path):
    path = tmp_path / "a" / "b" / "ledger.db"
    with Journal.open(path) as j:
        assert j.fresh
    assert path.exists()


def test_replay_restores_orders_positions_links_and_residual(tmp_path):
    states = run_clean(tmp_path / "j.db")
    core = replayed(tmp_path / "j.db")
    assert state_of(core) == states[-1]
    assert core.positions[MAKER] == D("0.4") and core.positions[HEDGE] == D("-0.5")
    assert core.residual == D("0.00")


class Crash(Exception):
    pass


class CrashingJournal(Journal):
    """Dies at the n-th statement of its writes (BEGIN, each insert batch, COMMIT)."""

    budget = 0

    def _exec(self, sql, params):
        self._tick()
        super()._exec(sql, params)

    def _exec_many(self, sql, rows):
        self._tick()
        super()._exec_many(sql, rows)

    def _tick(self):
        if CrashingJournal.budget == 0:
            raise Crash
        CrashingJournal.budget -= 1


def test_interruption_at_every_write_boundary_replays_to_a_committed_prefix(tmp_path):
    clean = run_clean(tmp_path / "clean.db")
    final = replayed(tmp_path / "clean.db")
    n = 0
    while True:
        path = tmp_path / f"crash{n}.db"
        CrashingJournal.budget = n
        core = LedgerCore(ROLES)
        crashed = False
        with CrashingJournal.open(path) as j:
            for step in script():
                step(core)
                try:
                    j.write(core.take_rows())
                except Crash:
                    crashed = True
                    break
        after = replayed(path)
        # Consistent: exactly the state after some committed batch, never a torn one.
        assert state_of(after) in clean
        # Exactly once across the restart: the venues restate everything, nothing counts twice.
        for step in script():
            step(after)
        assert (after.positions, after.hedge_in_flight, after.open_hedge_delta) == \
               (final.positions, final.hedge_in_flight, final.open_hedge_delta)
        if not crashed:
            break
        n += 1
    assert n > len(script())  # several boundaries per batch were exercised


def test_process_killed_mid_transaction_loses_only_the_open_batch(tmp_path):
    path = tmp_path / "killed.db"
    child = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from hedged.ledger import Journal, LedgerCore
        from ledger_helpers import ROLES, MAKER, upd
        from hedged.venues.base import OrderStatus as S, Side
        core = LedgerCore(ROLES)
        j = Journal.open({str(path)!r}, synchronous="FULL")
        core.apply(upd(MAKER, "1", "m1", Side.BUY, S.PARTIALLY_FILLED, "2", "0.5"))
        j.write(core.take_rows())
        core.apply(upd(MAKER, "1", "m1", Side.BUY, S.PARTIALLY_FILLED, "2", "0.9"))
        class Die(Journal):
            def _exec(self, sql, params):
                if sql == "COMMIT":
                    os._exit(9)  # no rollback, no close: as if the power went
                super()._exec(sql, params)
        j.__class__ = Die
        j.write(core.take_rows())
    """)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr.decode()
    assert replayed(path).positions[MAKER] == D("0.5")


def test_writing_a_batch_twice_and_replaying_twice_change_nothing(tmp_path):
    path = tmp_path / "dup.db"
    core = LedgerCore(ROLES)
    with Journal.open(path) as j:
        for step in script():
            step(core)
            rows = core.take_rows()
            j.write(rows)
            j.write(rows)  # e.g. a batch retried after an error it actually survived
        j._conn.execute("INSERT INTO snapshots (venue, market, size, ts_ms) SELECT venue, market, size, ts_ms "
                        "FROM snapshots")
        j._conn.execute("INSERT INTO residuals (qty, reason, cycle_id, ts_ms) SELECT qty, reason, cycle_id, ts_ms "
                        "FROM residuals")
    first, second = replayed(path), replayed(path)
    assert state_of(first) == state_of(second) == state_of(core)


def test_replay_refuses_a_core_that_already_has_state(tmp_path):
    run_clean(tmp_path / "j.db")
    core = replayed(tmp_path / "j.db")
    with Journal.open(tmp_path / "j.db") as j, pytest.raises(ValueError, match="fresh"):
        j.load(core)


def _v1_file(path: Path) -> None:
    conn = create_at_version(path, 1)
    conn.executemany(
        "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [("o1", "extended", "SOL-USD", "1", "m1", "buy", "partially_filled", "2", "0.5", "0.5", "0.5", "142", 0,
          None, 1),
         ("o2", "lighter", "SOL", "L1", "h1", "sell", "filled", "0.5", "0.5", "0", "0.5", "141", 1, None, 2)])
    fill = ("o1", "extended", "SOL-USD", "buy", "0.5", "142", "0.5", "t1", "0.5", 1)
    conn.executemany("INSERT INTO fills (order_key, venue, market, side, qty, price, counted_delta, trade_id, "
                     "cum_qty, ts_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     [fill, fill,  # v1 could store a replayed fill twice
                      ("o2", "lighter", "SOL", "sell", "0.5", "141", "0.5", None, "0.5", 2),
                      ("o2", "lighter", "SOL", "sell", "0.5", "141", "0.5", None, "0.5", 2)])
    conn.execute("INSERT INTO residuals (qty, reason, ts_ms) VALUES ('0.03', 'hedge h1', 2)")
    conn.execute("INSERT INTO adjustments VALUES ('a1', 'lighter', 'SOL', '-0.1', 'cold_start_baseline', 0)")
    conn.close()


def test_migration_from_v1_keeps_state_and_folds_duplicate_fills(tmp_path):
    path = tmp_path / "old.db"
    _v1_file(path)
    with Journal.open(path) as j:
        assert j.migrated_from == 1
        assert j._conn.execute("PRAGMA user_version").fetchone()[0] == CURRENT_VERSION
        keys = [r[0] for r in j._conn.execute("SELECT fill_key FROM fills ORDER BY id")]
        assert keys == ["extended|t|t1", "lighter|o|L1|0.5"]
    core = replayed(path)
    assert core.positions[MAKER] == D("0.5") and core.positions[HEDGE] == D("-0.6")
    assert core.residual == D("0.03")
    assert core.coverage.uncovered() == [("extended|t|t1", D("0.5"))]
    # The migrated journal takes new rows of the current shape, and a duplicate trade is still refused.
    core.register_hedge("h2", SELL, D("0.5"))
    core.apply(trade(MAKER, "t1", "1", BUY, "0.5"))
    with Journal.open(path) as j:
        j.write(core.take_rows())
    assert state_of(replayed(path)) == state_of(core)


def test_interrupted_migration_leaves_the_old_version_intact(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    _v1_file(path)
    from hedged.ledger import schema
    monkeypatch.setitem(schema.MIGRATIONS, 1, schema.MIGRATIONS[1][:5] + ["THIS IS NOT SQL"])
    with pytest.raises(JournalError, match="old.db"):
        Journal.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM fills").fetchone()[0] == 4
    conn.close()


def test_journal_from_a_newer_schema_stops_the_start_naming_the_file(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE x (y)")
    conn.execute(f"PRAGMA user_version={CURRENT_VERSION + 1}")
    conn.close()
    with pytest.raises(JournalError, match=rf"{path}.*schema version {CURRENT_VERSION + 1}.*newer"):
        Journal.open(path)


def test_garbage_file_stops_the_start_naming_the_file(tmp_path):
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(JournalError, match=rf"{path}.*not a readable hedged journal"):
        Journal.open(path)


def test_damaged_pages_stop_the_start_naming_the_file(tmp_path):
    path = tmp_path / "ledger.db"
    run_clean(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page + 8: 3 * page] = b"\xff" * (2 * page - 8)  # smash b-tree pages after the header
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match=str(path)):
        Journal.open(path)


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (t)")
    conn.close()
    with pytest.raises(JournalError, match="not a hedged journal"):
        Journal.open(path)


def test_synchronous_full_is_applied_and_bad_values_refused(tmp_path):
    with Journal.open(tmp_path / "f.db", synchronous="FULL") as j:
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert j._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Journal.open(tmp_path / "n.db") as j:
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    with Journal.open(tmp_path / "c.db", synchronous="full") as j:  # as the config spells it
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    with pytest.raises(ValueError, match="synchronous"):
        Journal.open(tmp_path / "x.db", synchronous="OFF")


def test_decimal_values_survive_the_journal_exactly(tmp_path):
    core = LedgerCore(ROLES)
    core.apply(upd(MAKER, "1", "m1", BUY, S.PARTIALLY_FILLED, "1.000000001", "0.123456789"))
    with Journal.open(tmp_path / "d.db") as j:
        j.write(core.take_rows())
    assert replayed(tmp_path / "d.db").positions[MAKER] == Decimal("0.123456789")


def test_rows_without_a_venue_time_are_stamped_with_the_wall_clock_at_write(tmp_path):
    path = tmp_path / "j.sqlite3"
    core = LedgerCore(ROLES)
    with Journal.open(path, wall_clock=lambda: 1_800_000_000.25) as journal:
        core.record_cycle("cy1", "open")  # the core has no clock: ts_ms=0
        core.apply(upd(MAKER, "1", "m1", BUY, S.OPEN, "2", "0"))  # no venue time either
        core.apply(upd(MAKER, "2", "m2", BUY, S.OPEN, "2", "0", ts_ms=1_700_000_000_000))
        journal.write(core.take_rows())
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT ts_ms FROM cycles").fetchall() == [(1_800_000_000_250,)]
    assert dict(conn.execute("SELECT client_id, ts_ms FROM orders").fetchall()) == {
        "m1": 1_800_000_000_250, "m2": 1_700_000_000_000}
