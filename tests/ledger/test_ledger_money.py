"""Money in the journal (issue 14): each fill's fee and liquidity, funding payments once each, the
cycle a fill belongs to, and the v2 -> v3 migration that adds them."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from hedged.ledger import CURRENT_VERSION, Journal, LedgerCore
from hedged.ledger.journal import create_at_version
from hedged.venues.base import FundingPayment, Liquidity, Side, Trade, Venue

from ledger_helpers import D, HEDGE, MAKER, ROLES, state_of, trade, upd
from hedged.venues.base import OrderStatus as S


def fee_trade(leg, tid, oid, side, qty, price, fee, liq, cid=None) -> Trade:
    return Trade(leg.venue, leg.market, tid, oid, cid, side, D(qty), D(price), D(fee), liq, ts_ms=1_000)


def pay(venue: Venue, pid: str, amount: str, market: str = "SOL-USD") -> FundingPayment:
    return FundingPayment(venue, market, pid, D(amount), rate=D("0.0001"), position=D("-1.5"), ts_ms=2_000)


def replayed(path) -> LedgerCore:
    core = LedgerCore(ROLES)
    with Journal.open(path) as j:
        j.load(core)
    return core


def test_a_trade_fill_is_journaled_with_its_fee_and_liquidity_exactly(tmp_path):
    core = LedgerCore(ROLES)
    core.apply(fee_trade(MAKER, "t1", "1", Side.BUY, "0.45", "142.37", "-0.0012811", Liquidity.MAKER, cid="m1"))
    core.apply(fee_trade(HEDGE, "x1", "L1", Side.SELL, "0.45", "142.30", "0.017928", Liquidity.TAKER, cid="h1"))
    with Journal.open(tmp_path / "j.db") as j:
        j.write(core.take_rows())
        rows = j._conn.execute("SELECT venue, fee, liquidity FROM fills ORDER BY id").fetchall()
    assert rows == [("extended", "-0.0012811", "maker"), ("lighter", "0.017928", "taker")]


def test_a_fill_known_only_from_an_order_update_has_no_fee_rather_than_a_zero_one(tmp_path):
    core = LedgerCore(ROLES)
    core.apply(upd(MAKER, "1", "m1", Side.BUY, S.PARTIALLY_FILLED, "2", "0.5", avg_price=D("142")))
    with Journal.open(tmp_path / "j.db") as j:
        j.write(core.take_rows())
        assert j._conn.execute("SELECT fee, liquidity FROM fills").fetchall() == [(None, None)]


def test_a_funding_payment_seen_twice_is_journaled_once_and_survives_a_restart(tmp_path):
    path = tmp_path / "j.db"
    core = LedgerCore(ROLES)
    seen: list = []
    core.on_money = lambda event, cycle: seen.append(event)
    p = pay(Venue.EXTENDED, "f-1", "0.0213")
    core.apply(p)
    core.apply(p)  # the stream and then the history
    assert seen == [p] and core.counters["duplicate_funding"] == 1
    with Journal.open(path) as j:
        j.write(core.take_rows())
    again = replayed(path)
    assert again.knows_funding(Venue.EXTENDED, "f-1")
    assert again.apply_funding(p) is False  # after the restart the history back-fill skips it
    assert again.apply_funding(pay(Venue.LIGHTER, "f-1", "-0.01", market="SOL")) is True  # same id, other venue
    with Journal.open(path) as j:
        j.write(again.take_rows())
        rows = j._conn.execute("SELECT venue, payment_id, amount, rate, position FROM funding ORDER BY venue").fetchall()
    assert rows == [("extended", "f-1", "0.0213", "0.0001", "-1.5"), ("lighter", "f-1", "-0.01", "0.0001", "-1.5")]


def test_fills_carry_the_journal_wide_cycle_number_across_restarts(tmp_path):
    path = tmp_path / "j.db"
    core = LedgerCore(ROLES)
    core.record_cycle("1", "start")
    core.apply(trade(MAKER, "t1", "1", Side.BUY, "0.5", cid="m1"))
    core.record_cycle("1", "done")
    core.apply(trade(MAKER, "t2", "2", Side.SELL, "0.5", cid="m2"))  # between cycles: no cycle
    with Journal.open(path) as j:
        j.write(core.take_rows())
    again = replayed(path)  # a new run numbers its cycles from 1 again; the journal's sequence goes on
    again.record_cycle("1", "start")
    again.apply(trade(MAKER, "t3", "3", Side.BUY, "0.5", cid="m3"))
    with Journal.open(path) as j:
        j.write(again.take_rows())
        fills = j._conn.execute("SELECT trade_id, cycle_seq FROM fills ORDER BY id").fetchall()
        starts = j._conn.execute("SELECT cycle_id, detail FROM cycles WHERE phase = 'start' ORDER BY id").fetchall()
    assert fills == [("t1", 1), ("t2", None), ("t3", 2)]
    assert starts == [("1", "seq=1"), ("1", "seq=2")]


def _v2_file(path) -> None:
    conn = create_at_version(path, 2)
    conn.execute("INSERT INTO orders (key, venue, market, order_id, client_id, side, status, qty, cum, trade_qty, "
                 "counted, avg_price, is_hedge, ts_ms) VALUES "
                 "('o1','extended','SOL-USD','1','m1','buy','filled','0.5','0.5','0.5','0.5','142',0,1)")
    conn.execute("INSERT INTO fills (fill_key, order_key, venue, market, side, qty, price, counted_delta, trade_id, "
                 "ts_ms) VALUES ('extended|t|t1','o1','extended','SOL-USD','buy','0.5','142','0.5','t1',1)")
    conn.close()


def test_migration_from_v2_keeps_fills_and_adds_fee_liquidity_and_funding(tmp_path):
    path = tmp_path / "v2.db"
    _v2_file(path)
    with Journal.open(path) as j:
        assert j.migrated_from == 2
        assert j._conn.execute("PRAGMA user_version").fetchone()[0] == CURRENT_VERSION == 3
        # A v2 fill had no fee recorded: unknown (NULL), not zero.
        assert j._conn.execute("SELECT trade_id, fee, liquidity, cycle_seq FROM fills").fetchall() == [
            ("t1", None, None, None)]
    core = replayed(path)
    assert core.positions[MAKER] == D("0.5")
    core.apply(fee_trade(MAKER, "t1", "1", Side.BUY, "0.5", "142", "0.01", Liquidity.MAKER))  # still a duplicate
    assert core.counters["duplicate_trade"] == 1
    core.apply(fee_trade(MAKER, "t2", "1", Side.BUY, "0.5", "143", "-0.002", Liquidity.MAKER))
    core.apply(pay(Venue.EXTENDED, "f1", "0.5"))
    with Journal.open(path) as j:
        j.write(core.take_rows())
        assert j._conn.execute("SELECT fee, liquidity FROM fills WHERE trade_id = 't2'").fetchone() == (
            "-0.002", "maker")
        assert j._conn.execute("SELECT amount FROM funding").fetchall() == [("0.5",)]
    assert state_of(replayed(path)) == state_of(core)


def test_migrated_v2_file_has_the_same_tables_and_columns_as_a_new_v3_file(tmp_path):
    _v2_file(tmp_path / "old.db")
    Journal.open(tmp_path / "old.db").close()
    Journal.open(tmp_path / "new.db").close()

    def shape(path):
        conn = sqlite3.connect(path)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        out = {t: [(c[1], c[2]) for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        conn.close()
        return out

    assert shape(tmp_path / "old.db") == shape(tmp_path / "new.db")


def test_fee_decimals_round_trip_without_binary_float_loss(tmp_path):
    core = LedgerCore(ROLES)
    fee = "0.000000012345678901234567"
    core.apply(fee_trade(MAKER, "t1", "1", Side.BUY, "0.1", "142.37", fee, Liquidity.TAKER))
    with Journal.open(tmp_path / "j.db") as j:
        j.write(core.take_rows())
        assert Decimal(j._conn.execute("SELECT fee FROM fills").fetchone()[0]) == Decimal(fee)


def test_rows_the_journal_stamps_itself_are_on_the_venues_clock_so_a_restart_back_fills_from_venue_time(tmp_path):
    # A hedge registered but never acknowledged has no venue time; the journal stamps it. Read back at
    # the next start, that stamp is the newest one: the trade back-fill's watermark. On a clock other
    # than the venues' (DST seed 50: the host's clock, 11 months past the simulated venues') every
    # later back-fill asked for trades from the future and found none; their money never reached PnL.
    from hedged.ledger import Ledger

    venue_now_s = 1_767_225_700.0
    ledger = Ledger.open(ROLES, tmp_path / "j.db", wall_clock=lambda: venue_now_s)
    ledger.register_hedge("h1", Side.SELL, D("0.5"))
    ledger.flush()
    ledger.close()
    again = Ledger.open(ROLES, tmp_path / "j.db")
    assert again.core.venue_ts[Venue.LIGHTER] == int(venue_now_s * 1000)
    again.close()
