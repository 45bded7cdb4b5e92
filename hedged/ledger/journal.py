"""The durable journal: an append-mostly SQLite file (stdlib sqlite3, WAL).

One `write(rows)` is one transaction, so a crash leaves the journal at a batch
boundary; replay (`load`) rebuilds the core from the last committed state. Every
row is keyed so that writing it again is harmless (upserts and insert-or-ignore),
which makes a re-journaled batch after a restart a no-op.

Every batch also updates the checkpoint (`ledger_state`: each leg's position and the row
watermarks it was taken at). When the checkpoint matches the file, `load` reads only what the
core keeps in memory; `JournalArchive` reads the rest back when an event names a pruned order.
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
from hedged.ledger.orders import OrderRecord
from hedged.ledger.replay import record_of, restore, restore_bounded
from hedged.ledger.schema import CURRENT_VERSION, MIGRATIONS, SCHEMA_CURRENT
from hedged.statefiles import private_file
from hedged.venues.base import OrderStatus, Venue


class JournalError(Exception):
    """The journal cannot be used; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class ReplayInfo:
    path: Path
    fresh: bool  # True: the file was empty or new (a cold start)
    migrated_from: int | None
    orders: int
    fills: int
    bounded: bool = False  # True: only what memory keeps was read (the checkpoint was current)


_SQL = {
    R.ORDER: "INSERT OR REPLACE INTO orders (key, venue, market, order_id, client_id, side, status, qty, cum, "
             "trade_qty, counted, baseline, avg_price, is_hedge, cancel_requested, merged_into, closed_by_reconcile, "
             "ts_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    R.FILL: "INSERT OR IGNORE INTO fills (fill_key, order_key, venue, market, side, qty, price, counted_delta, "
            "trade_id, fee, liquidity, cycle_seq, ts_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    R.FUNDING: "INSERT OR IGNORE INTO funding (venue, payment_id, market, amount, rate, position, cycle_seq, "
               "ts_ms) VALUES (?,?,?,?,?,?,?,?)",
    R.SNAPSHOT: "INSERT INTO snapshots (venue, market, size, ts_ms) VALUES (?,?,?,?)",
    R.ADJUSTMENT: "INSERT OR IGNORE INTO adjustments (adj_id, venue, market, delta, reason, ts_ms) "
                  "VALUES (?,?,?,?,?,?)",
    R.LINK: "INSERT OR REPLACE INTO links (hedge_key, fill_key, qty) VALUES (?,?,?)",
    R.RESIDUAL: "INSERT INTO residuals (qty, reason, cycle_id, ts_ms) VALUES (?,?,?,?)",
    R.CYCLE: "INSERT INTO cycles (cycle_id, phase, detail, ts_ms) VALUES (?,?,?,?)",
    R.POSITION: "INSERT OR REPLACE INTO ledger_state (name, value) VALUES (?,?)",
}
ORDER_COLUMNS = ("key, venue, market, order_id, client_id, side, status, qty, cum, trade_qty, counted, baseline, "
                 "avg_price, is_hedge, cancel_requested, merged_into, closed_by_reconcile, ts_ms")
_LIVE = tuple(str(s) for s in OrderStatus if not s.is_terminal)
_LIVE_SQL = f"status IN ({', '.join(repr(s) for s in _LIVE)}) AND merged_into IS NULL"
# Settled records known by one id only (rare): kept at replay, see memory.MemoryBound._forget.
_HALF_SQL = "(order_id IS NULL OR client_id IS NULL) AND merged_into IS NULL"
# Derived structures, not part of the schema's shape: created if missing on every open (an older
# hedged ignores them and reads the whole file as before; the watermarks tell a newer one that).
_DERIVED = (
    "CREATE TABLE IF NOT EXISTS ledger_state (name TEXT PRIMARY KEY, value)",
    "CREATE INDEX IF NOT EXISTS orders_by_order_id ON orders (venue, order_id) WHERE order_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS orders_by_client_id ON orders (venue, client_id) WHERE client_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS orders_merged ON orders (merged_into) WHERE merged_into IS NOT NULL",
    f"CREATE INDEX IF NOT EXISTS orders_live ON orders (key) WHERE {_LIVE_SQL}",
    f"CREATE INDEX IF NOT EXISTS orders_half ON orders (key) WHERE {_HALF_SQL}",
    "CREATE INDEX IF NOT EXISTS fills_by_order ON fills (order_key)",
    "CREATE INDEX IF NOT EXISTS links_by_fill ON links (fill_key)",
)
_WATERMARKS = ("(SELECT COALESCE(MAX(id), 0) FROM fills) || '|' || (SELECT COALESCE(MAX(rowid), 0) FROM orders) "
               "|| '|' || (SELECT COALESCE(MAX(rowid), 0) FROM adjustments)")
_CHUNK = 500  # keys per IN (...) query
_KINDS = tuple(_SQL)
# Kinds whose last column is ts_ms. The core runs without a wall clock and leaves 0 where the venue
# gave no time; the journal stamps those rows with the wall-clock ms of the write (`hedged status`
# and `hedged ledger` show real times, and `--since` can select them).
_STAMPED = frozenset({R.ORDER, R.FILL, R.SNAPSHOT, R.ADJUSTMENT, R.RESIDUAL, R.CYCLE, R.FUNDING})


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
        self._reader: sqlite3.Connection | None = None

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
        if self._reader is not None:
            self._reader.close()
        self._conn.close()

    def archive(self) -> JournalArchive:
        """Read access for the core's pruned orders, on a connection of its own (the writer thread
        holds the main one): it sees committed rows, which is all a pruned order has."""
        if self._reader is None:
            if str(self.path) == ":memory:":
                self._reader = self._conn
            else:
                self._reader = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                               isolation_level=None, check_same_thread=False)
        return JournalArchive(self._reader)

    def reader(self) -> sqlite3.Connection:
        """The connection, for read-only folds at start (the PnL history) before the writer runs."""
        return self._conn

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
        top = max((int(k[1:]) for k in orders), default=0)
        self._exec("BEGIN IMMEDIATE", ())
        try:
            for kind in _KINDS:
                batch = by_kind.get(kind)
                if batch:
                    self._exec_many(_SQL[kind], batch)
            self._checkpoint(top)
            self._exec("COMMIT", ())
        except BaseException:
            if self._conn.in_transaction:
                self._conn.rollback()
            raise
        self.rows_written += n
        return n

    def load(self, core: LedgerCore) -> ReplayInfo:
        """Replay the committed state into `core`, which must be fresh: only what memory keeps if the
        checkpoint is current, else everything (and then write the checkpoint, if the file is writable)."""
        q = self._conn.execute
        try:
            adjustments = q("SELECT adj_id, venue, market, delta, reason FROM adjustments").fetchall()
            residual = q("SELECT qty FROM residuals ORDER BY id DESC LIMIT 1").fetchone()
            snapshots = q("SELECT venue, market, size, ts_ms FROM snapshots WHERE id IN "
                          "(SELECT MAX(id) FROM snapshots GROUP BY venue, market)").fetchall()
            state = self._state()
            if state is not None:
                orders, fills, links = self._kept(core.keep_last)
                positions = {tuple(k.split("|", 2)[1:]): v for k, v in state.items() if k.startswith("position|")}
                restore_bounded(core, orders, fills, links, adjustments, residual, snapshots, positions,
                                int(state.get("next_order", 0)))
            else:
                orders = q(f"SELECT {ORDER_COLUMNS} FROM orders").fetchall()
                fills = q("SELECT fill_key, order_key, venue, market, side, counted_delta, trade_id FROM fills "
                          "ORDER BY id").fetchall()
                links = q("SELECT hedge_key, fill_key, qty FROM links").fetchall()
                restore(core, orders, fills, links, adjustments, residual, snapshots)
            funding = q("SELECT venue, payment_id FROM funding").fetchall()
            cycles_started = q("SELECT count(*) FROM cycles WHERE phase = 'start'").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise JournalError(f"journal {self.path} cannot be read ({e}); restore it or move it aside") from e
        # Money (issue 14): the funding dedupe keys and the journal-wide cycle count.
        for v, pid in funding:
            core.restore_funding(Venue(v), pid)
        core.cycles_started = cycles_started
        if state is None:
            self._first_checkpoint(core)
        logger.debug("journal_replayed path={} orders={} fills={} bounded={} net_exposure={}", self.path, len(orders),
                     len(fills), state is not None, core.net_exposure)
        return ReplayInfo(self.path, self.fresh, self.migrated_from, len(orders), len(fills), state is not None)

    def _state(self) -> dict[str, object] | None:
        """The checkpoint, if it was written with the rows the file holds now (else None)."""
        q = self._conn.execute
        try:
            state = dict(q("SELECT name, value FROM ledger_state").fetchall())
        except sqlite3.OperationalError:  # no such table: written by a hedged that had none
            return None
        now = q(f"SELECT {_WATERMARKS}").fetchone()[0]
        return state if state.get("seen") == now else None

    def _kept(self, keep_last: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """The orders memory keeps (live ones, the last `keep_last` written, those with fills known by
        one id only, and records merged into them), their fills and the links that name them."""
        q = self._conn.execute
        rows = {r[0]: r for r in q(f"SELECT {ORDER_COLUMNS} FROM orders WHERE {_LIVE_SQL}")}
        for r in q(f"SELECT {ORDER_COLUMNS} FROM orders ORDER BY rowid DESC LIMIT ?", (keep_last,)):
            rows.setdefault(r[0], r)
        for r in q(f"SELECT {ORDER_COLUMNS} FROM orders WHERE {_HALF_SQL}"):
            if r[0] not in rows and Decimal(r[10]):  # with fills: its twin may still come by the other id
                rows[r[0]] = r
        merged: dict[str, list[str]] = {}
        for key, into in q("SELECT key, merged_into FROM orders WHERE merged_into IS NOT NULL"):
            merged.setdefault(into, []).append(key)
        todo = [k for k in rows if k in merged]
        while todo:  # merged records follow their survivor (their fills carry its trade ids)
            for key in merged.get(todo.pop(), ()):
                if key not in rows:
                    rows[key] = q(f"SELECT {ORDER_COLUMNS} FROM orders WHERE key = ?", (key,)).fetchone()
                    todo.append(key)
        keys = list(rows)
        fills = sorted(self._in("SELECT id, fill_key, order_key, venue, market, side, counted_delta, trade_id "
                                "FROM fills WHERE order_key IN ({})", keys))
        hedges = [k for k, r in rows.items() if r[13]]
        links = self._in("SELECT hedge_key, fill_key, qty FROM links WHERE hedge_key IN ({})", hedges)
        links += self._in("SELECT hedge_key, fill_key, qty FROM links WHERE fill_key IN ({})",
                          [f[1] for f in fills])
        return list(rows.values()), [f[1:] for f in fills], list(dict.fromkeys(links))

    def _in(self, sql: str, keys: list[str]) -> list[tuple]:
        out: list[tuple] = []
        for i in range(0, len(keys), _CHUNK):
            part = keys[i:i + _CHUNK]
            out += self._conn.execute(sql.format(",".join("?" * len(part))), part).fetchall()
        return out

    def _checkpoint(self, top: int) -> None:
        if top:
            self._exec("INSERT INTO ledger_state (name, value) VALUES ('next_order', ?) ON CONFLICT (name) "
                       "DO UPDATE SET value = MAX(value, excluded.value)", (top + 1,))
        self._exec(f"INSERT OR REPLACE INTO ledger_state (name, value) VALUES ('seen', {_WATERMARKS})", ())

    def _first_checkpoint(self, core: LedgerCore) -> None:
        """After a whole-file replay: write the checkpoint so the next start reads only what memory keeps."""
        rows = [(R.POSITION, leg.venue, leg.market, size) for leg, size in core.positions.items()]
        try:
            self.write(rows)
        except sqlite3.OperationalError as e:  # a read-only look (hedged status): the next daemon start writes it
            logger.debug("journal_checkpoint_skipped path={} reason={}", self.path, e)
            return
        core.positions_journaled()

    # Every statement goes through these two, so a test can interrupt a write anywhere.
    def _exec(self, sql: str, params: tuple) -> None:
        self._conn.execute(sql, params)

    def _exec_many(self, sql: str, rows: list) -> None:
        self._conn.executemany(sql, rows)


def _params(row: R.Row) -> tuple:
    # Decimal -> text (exact); bools -> 0/1 happen in sqlite3 itself; StrEnums bind as text.
    if row[0] is R.POSITION:
        return f"position|{row[1]}|{row[2]}", str(row[3])
    return tuple(str(x) if type(x) is Decimal else x for x in row[1:])


class JournalArchive:
    """The core's `Archive`: settled orders that left memory, read back by venue id or client id."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def find_order(self, venue: Venue, order_id: str | None, client_id: str | None) -> OrderRecord | None:
        q = self._conn.execute
        row = None
        # The newest record with the id: a venue that reused ids names the latest order.
        if order_id is not None:
            row = q(f"SELECT {ORDER_COLUMNS} FROM orders WHERE venue = ? AND order_id = ? ORDER BY rowid DESC LIMIT 1",
                    (str(venue), order_id)).fetchone()
        if row is None and client_id is not None:
            row = q(f"SELECT {ORDER_COLUMNS} FROM orders WHERE venue = ? AND client_id = ? ORDER BY rowid DESC LIMIT 1",
                    (str(venue), client_id)).fetchone()
        for _ in range(64):  # a merged record stands for its survivor
            if row is None or row[15] is None:
                break
            row = q(f"SELECT {ORDER_COLUMNS} FROM orders WHERE key = ?", (row[15],)).fetchone()
        if row is None:
            return None
        rec = record_of(row)
        family = [t for (t,) in q("WITH RECURSIVE fam(k) AS (SELECT ? UNION SELECT o.key FROM orders AS o "
                                  "JOIN fam ON o.merged_into = fam.k) SELECT f.trade_id FROM fills AS f "
                                  "WHERE f.order_key IN fam AND f.trade_id IS NOT NULL", (rec.key,))]
        rec.trade_ids = set(family)
        return rec


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
            _derive(conn)
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
        _derive(conn)
        empty = conn.execute("SELECT 1 FROM orders LIMIT 1").fetchone() is None
        return empty, (start if start != CURRENT_VERSION else None)
    except sqlite3.DatabaseError as e:
        raise JournalError(f"journal {path} is not a readable hedged journal ({e}); "
                           "restore it from a backup or move it aside") from e


def _derive(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for stmt in _DERIVED:
        conn.execute(stmt)
    conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def create_at_version(path: str | Path, version: int) -> sqlite3.Connection:
    """Create an empty journal at an old schema version (for migration tests and tools)."""
    from hedged.ledger.schema import SCHEMA_V1, SCHEMA_V2

    texts = {1: SCHEMA_V1, 2: SCHEMA_V2}
    if version not in texts:
        raise ValueError(f"no schema text kept for version {version}")
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in _statements(texts[version]):
        conn.execute(stmt)
    conn.execute(f"PRAGMA user_version={version}")
    return conn
