"""The durable journal: an append-mostly SQLite file (stdlib sqlite3, WAL).

One `write(rows)` is one transaction, so a crash leaves the journal at a batch
boundary; replay (`load`) rebuilds the core from the last committed state. Every
row is keyed so that writing it again is harmless (upserts and insert-or-ignore),
which makes a re-journaled batch after a restart a no-op.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from loguru import logger

from hedged.ledger import records as R
from hedged.ledger.core import LedgerCore
from hedged.ledger.replay import restore
from hedged.ledger.schema import CURRENT_VERSION, MIGRATIONS, SCHEMA_CURRENT
from hedged.statefiles import private_file


class JournalError(Exception):
    """The journal cannot be used; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class ReplayInfo:
    path: Path
    fresh: bool  # True: the file was empty or new (a cold start)
    migrated_from: int | None
    orders: int
    fills: int


_SQL = {
    R.ORDER: "INSERT OR REPLACE INTO orders (key, venue, market, order_id, client_id, side, status, qty, cum, "
             "trade_qty, counted, baseline, avg_price, is_hedge, cancel_requested, merged_into, closed_by_reconcile, "
             "ts_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    R.FILL: "INSERT OR IGNORE INTO fills (fill_key, order_key, venue, market, side, qty, price, counted_delta, "
            "trade_id, ts_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
    R.SNAPSHOT: "INSERT INTO snapshots (venue, market, size, ts_ms) VALUES (?,?,?,?)",
    R.ADJUSTMENT: "INSERT OR IGNORE INTO adjustments (adj_id, venue, market, delta, reason, ts_ms) "
                  "VALUES (?,?,?,?,?,?)",
    R.LINK: "INSERT OR REPLACE INTO links (hedge_key, fill_key, qty) VALUES (?,?,?)",
    R.RESIDUAL: "INSERT INTO residuals (qty, reason, cycle_id, ts_ms) VALUES (?,?,?,?)",
    R.CYCLE: "INSERT INTO cycles (cycle_id, phase, detail, ts_ms) VALUES (?,?,?,?)",
}
_KINDS = tuple(_SQL)
# Kinds whose last column is ts_ms. The core runs without a wall clock and leaves 0 where the venue
# gave no time; the journal stamps those rows with the wall-clock ms of the write (`hedged status`
# and `hedged ledger` show real times, and `--since` can select them).
_STAMPED = frozenset({R.ORDER, R.FILL, R.SNAPSHOT, R.ADJUSTMENT, R.RESIDUAL, R.CYCLE})


class Journal:
    """Open with `Journal.open(path)`; `write()` batches; `load(core)` replays into a fresh core."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, fresh: bool, migrated_from: int | None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._conn = conn
        self._wall_clock = wall_clock
        self.fresh = fresh
        self.migrated_from = migrated_from
        self.rows_written = 0

    @classmethod
    def open(cls, path: str | Path, *, synchronous: str = "NORMAL",
             wall_clock: Callable[[], float] = time.time) -> Journal:
        """Open or create the journal; migrate it to the current schema.

        `synchronous` is NORMAL (a power cut may lose the last commits, never corrupt) or
        FULL (every commit is on disk before `write` returns).
        """
        path = Path(path)
        synchronous = synchronous.upper()  # config spells it "normal" / "full"
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        if str(path) != ":memory:":
            private_file(path)  # 0600 before sqlite3 creates it with the umask's mode
        # Threads: the async Ledger writes from a worker thread, one write at a time.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            fresh, migrated_from = _prepare(conn, path, synchronous)
        except BaseException:
            conn.close()
            raise
        logger.debug("journal_opened path={} fresh={} migrated_from={} synchronous={}", path, fresh, migrated_from,
                    synchronous)
        return cls(path, conn, fresh=fresh, migrated_from=migrated_from, wall_clock=wall_clock)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, rows: Iterable[R.Row]) -> int:
        """Append one batch in one transaction. Returns the number of rows given."""
        by_kind: dict[str, list] = {}
        orders: dict[str, tuple] = {}
        n = 0
        now_ms = int(self._wall_clock() * 1000)
        for row in rows:
            n += 1
            kind = row[0]
            if kind in _STAMPED and not row[-1]:
                row = (*row[:-1], now_ms)
            if kind is R.ORDER:
                orders[row[1]] = row  # only the latest state of an order matters
            else:
                by_kind.setdefault(kind, []).append(_params(row))
        if not n:
            return 0
        if orders:
            by_kind[R.ORDER] = [_params(r) for r in orders.values()]
        self._exec("BEGIN IMMEDIATE", ())
        try:
            for kind in _KINDS:
                batch = by_kind.get(kind)
                if batch:
                    self._exec_many(_SQL[kind], batch)
            self._exec("COMMIT", ())
        except BaseException:
            if self._conn.in_transaction:
                self._conn.rollback()
            raise
        self.rows_written += n
        return n

    def load(self, core: LedgerCore) -> ReplayInfo:
        """Replay the committed state into `core`, which must be fresh."""
        q = self._conn.execute
        try:
            orders = q("SELECT key, venue, market, order_id, client_id, side, status, qty, cum, trade_qty, counted, "
                       "baseline, avg_price, is_hedge, cancel_requested, merged_into, closed_by_reconcile, ts_ms "
                       "FROM orders").fetchall()
            fills = q("SELECT fill_key, order_key, venue, market, side, counted_delta, trade_id FROM fills "
                      "ORDER BY id").fetchall()
            links = q("SELECT hedge_key, fill_key, qty FROM links").fetchall()
            adjustments = q("SELECT adj_id, venue, market, delta, reason FROM adjustments").fetchall()
            residual = q("SELECT qty FROM residuals ORDER BY id DESC LIMIT 1").fetchone()
            snapshots = q("SELECT venue, market, size, ts_ms FROM snapshots WHERE id IN "
                          "(SELECT MAX(id) FROM snapshots GROUP BY venue, market)").fetchall()
        except sqlite3.DatabaseError as e:
            raise JournalError(f"journal {self.path} cannot be read ({e}); restore it or move it aside") from e
        restore(core, orders, fills, links, adjustments, residual, snapshots)
        logger.debug("journal_replayed path={} orders={} fills={} net_exposure={}", self.path, len(orders), len(fills),
                    core.net_exposure)
        return ReplayInfo(self.path, self.fresh, self.migrated_from, len(orders), len(fills))

    # Every statement goes through these two, so a test can interrupt a write anywhere.
    def _exec(self, sql: str, params: tuple) -> None:
        self._conn.execute(sql, params)

    def _exec_many(self, sql: str, rows: list) -> None:
        self._conn.executemany(sql, rows)


def _params(row: R.Row) -> tuple:
    # Decimal -> text (exact); bools -> 0/1 happen in sqlite3 itself; StrEnums bind as text.
    return tuple(str(x) if type(x) is Decimal else x for x in row[1:])


def _prepare(conn: sqlite3.Connection, path: Path, synchronous: str) -> tuple[bool, int | None]:
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if version == 0 and tables:
            raise JournalError(f"{path} is an SQLite file but not a hedged journal; move it aside or fix state_dir")
        if version > CURRENT_VERSION:
            raise JournalError(
                f"journal {path} has schema version {version}, newer than this hedged understands "
                f"({CURRENT_VERSION}); run the newer hedged or restore an older journal")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise JournalError(f"journal {path} is corrupt ({check}); restore it from a backup or move it aside")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        if version == 0:
            conn.execute("BEGIN IMMEDIATE")
            # Statement by statement: executescript() would commit on its own, outside our transaction.
            for stmt in _statements(SCHEMA_CURRENT):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version={CURRENT_VERSION}")
            conn.execute("COMMIT")
            return True, None
        start = version
        while version < CURRENT_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in MIGRATIONS[version]:
                conn.execute(stmt)
            version += 1
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
            logger.info("journal_migrated path={} to_version={}", path, version)
        empty = conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
        return empty, (start if start != CURRENT_VERSION else None)
    except sqlite3.DatabaseError as e:
        raise JournalError(f"journal {path} is not a readable hedged journal ({e}); "
                           "restore it from a backup or move it aside") from e


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def create_at_version(path: str | Path, version: int) -> sqlite3.Connection:
    """Create an empty journal at an old schema version (for migration tests and tools)."""
    from hedged.ledger.schema import SCHEMA_V1

    if version != 1:
        raise ValueError(f"no schema text kept for version {version}")
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in _statements(SCHEMA_V1):
        conn.execute(stmt)
    conn.execute("PRAGMA user_version=1")
    return conn
