"""Journal schema versions and the migrations between them.

The version lives in SQLite's `PRAGMA user_version`. `MIGRATIONS[n]` turns version n
into n+1 and runs inside one transaction together with the version bump, so a start
interrupted mid-migration finds the old version intact.

History:
  v1  first journal: fills had no unique key (a replayed stream could store a fill twice),
      no hedge links, no adoption baseline, residuals without cycle.
  v2  fills keyed by `fill_key` (venue+trade id, or venue+order id+cumulative qty) with
      duplicates from v1 folded; orders gain `baseline`, `cancel_requested`, `closed_by_reconcile`; hedge
      `links` table; residuals gain `cycle_id`.
  v3  money (issue 14): fills gain `fee` (quote currency, > 0 paid, < 0 rebate; NULL where the row
      came from an order's cumulative fill, which carries no fee) and `liquidity` (maker/taker), and
      `cycle_seq` (the journal-wide number of the cycle the fill happened in, NULL outside a cycle);
      a `funding` table keyed by venue + payment id (insert-or-ignore, like fills), with the cycle
      that was open when the payment was journaled.
"""

from __future__ import annotations

CURRENT_VERSION = 3

_COMMON = """
CREATE TABLE snapshots (id INTEGER PRIMARY KEY, venue TEXT NOT NULL, market TEXT NOT NULL, size TEXT NOT NULL,
                        ts_ms INTEGER NOT NULL);
CREATE TABLE adjustments (adj_id TEXT PRIMARY KEY, venue TEXT NOT NULL, market TEXT NOT NULL, delta TEXT NOT NULL,
                          reason TEXT NOT NULL, ts_ms INTEGER NOT NULL);
CREATE TABLE cycles (id INTEGER PRIMARY KEY, cycle_id TEXT NOT NULL, phase TEXT NOT NULL, detail TEXT NOT NULL,
                     ts_ms INTEGER NOT NULL);
"""

# Kept verbatim so tests (and old files) can be created at v1 and migrated.
SCHEMA_V1 = _COMMON + """
CREATE TABLE orders (key TEXT PRIMARY KEY, venue TEXT NOT NULL, market TEXT NOT NULL, order_id TEXT, client_id TEXT,
                     side TEXT NOT NULL, status TEXT NOT NULL, qty TEXT NOT NULL, cum TEXT NOT NULL,
                     trade_qty TEXT NOT NULL, counted TEXT NOT NULL, avg_price TEXT, is_hedge INTEGER NOT NULL,
                     merged_into TEXT, ts_ms INTEGER NOT NULL);
CREATE TABLE fills (id INTEGER PRIMARY KEY AUTOINCREMENT, order_key TEXT NOT NULL, venue TEXT NOT NULL,
                    market TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT,
                    counted_delta TEXT NOT NULL, trade_id TEXT, cum_qty TEXT NOT NULL, ts_ms INTEGER NOT NULL);
CREATE TABLE residuals (id INTEGER PRIMARY KEY, qty TEXT NOT NULL, reason TEXT NOT NULL, ts_ms INTEGER NOT NULL);
"""

_FILLS_V2 = """
CREATE TABLE {name} (id INTEGER PRIMARY KEY, fill_key TEXT NOT NULL UNIQUE, order_key TEXT NOT NULL,
                     venue TEXT NOT NULL, market TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT,
                     counted_delta TEXT NOT NULL, trade_id TEXT, ts_ms INTEGER NOT NULL);
"""

_V2_REST = """
CREATE TABLE orders (key TEXT PRIMARY KEY, venue TEXT NOT NULL, market TEXT NOT NULL, order_id TEXT, client_id TEXT,
                     side TEXT NOT NULL, status TEXT NOT NULL, qty TEXT NOT NULL, cum TEXT NOT NULL,
                     trade_qty TEXT NOT NULL, counted TEXT NOT NULL, baseline TEXT NOT NULL DEFAULT '0',
                     avg_price TEXT, is_hedge INTEGER NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0,
                     merged_into TEXT, closed_by_reconcile INTEGER NOT NULL DEFAULT 0, ts_ms INTEGER NOT NULL);
CREATE TABLE links (hedge_key TEXT NOT NULL, fill_key TEXT NOT NULL, qty TEXT NOT NULL,
                    PRIMARY KEY (hedge_key, fill_key));
CREATE TABLE residuals (id INTEGER PRIMARY KEY, qty TEXT NOT NULL, reason TEXT NOT NULL, cycle_id TEXT,
                        ts_ms INTEGER NOT NULL);
"""

# Kept verbatim, as v1 is, so a v2 file can be made for the v2 -> v3 migration test.
SCHEMA_V2 = _COMMON + _FILLS_V2.format(name="fills") + _V2_REST

_FUNDING = """
CREATE TABLE funding (venue TEXT NOT NULL, payment_id TEXT NOT NULL, market TEXT NOT NULL, amount TEXT NOT NULL,
                      rate TEXT, position TEXT, cycle_seq INTEGER, ts_ms INTEGER NOT NULL,
                      PRIMARY KEY (venue, payment_id));
"""

# v3 = v2 with the fill columns appended (ALTER TABLE ADD COLUMN appends; inserts name their columns).
SCHEMA_CURRENT = _COMMON + _FILLS_V2.format(name="fills").replace(
    "ts_ms INTEGER NOT NULL);", "ts_ms INTEGER NOT NULL, fee TEXT, liquidity TEXT, cycle_seq INTEGER);") \
    + _V2_REST + _FUNDING

_V2_TO_V3 = [
    "ALTER TABLE fills ADD COLUMN fee TEXT",
    "ALTER TABLE fills ADD COLUMN liquidity TEXT",
    "ALTER TABLE fills ADD COLUMN cycle_seq INTEGER",
    _FUNDING.strip().rstrip(";"),
]

_V1_TO_V2 = [
    # Column order of v2 `orders` matters for positional inserts, so rebuild rather than ALTER.
    """CREATE TABLE orders_v2 (key TEXT PRIMARY KEY, venue TEXT NOT NULL, market TEXT NOT NULL, order_id TEXT,
        client_id TEXT, side TEXT NOT NULL, status TEXT NOT NULL, qty TEXT NOT NULL, cum TEXT NOT NULL,
        trade_qty TEXT NOT NULL, counted TEXT NOT NULL, baseline TEXT NOT NULL DEFAULT '0', avg_price TEXT,
        is_hedge INTEGER NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0, merged_into TEXT,
        closed_by_reconcile INTEGER NOT NULL DEFAULT 0, ts_ms INTEGER NOT NULL)""",
    """INSERT INTO orders_v2 (key, venue, market, order_id, client_id, side, status, qty, cum, trade_qty, counted,
        avg_price, is_hedge, merged_into, ts_ms)
       SELECT key, venue, market, order_id, client_id, side, status, qty, cum, trade_qty, counted, avg_price,
        is_hedge, merged_into, ts_ms FROM orders""",
    "DROP TABLE orders",
    "ALTER TABLE orders_v2 RENAME TO orders",
    _FILLS_V2.format(name="fills_v2"),
    # v1 could hold the same fill twice; the key folds duplicates, first row wins.
    """INSERT OR IGNORE INTO fills_v2 (fill_key, order_key, venue, market, side, qty, price, counted_delta,
        trade_id, ts_ms)
       SELECT CASE WHEN f.trade_id IS NOT NULL THEN f.venue || '|t|' || f.trade_id
                   ELSE f.venue || '|o|' || COALESCE(o.order_id, 'c:' || o.client_id, f.order_key) || '|' || f.cum_qty
              END,
              f.order_key, f.venue, f.market, f.side, f.qty, f.price, f.counted_delta, f.trade_id, f.ts_ms
       FROM fills AS f LEFT JOIN orders AS o ON o.key = f.order_key ORDER BY f.id""",
    "DROP TABLE fills",
    "ALTER TABLE fills_v2 RENAME TO fills",
    """CREATE TABLE links (hedge_key TEXT NOT NULL, fill_key TEXT NOT NULL, qty TEXT NOT NULL,
        PRIMARY KEY (hedge_key, fill_key))""",
    "ALTER TABLE residuals ADD COLUMN cycle_id TEXT",
]

MIGRATIONS: dict[int, list[str]] = {1: _V1_TO_V2, 2: _V2_TO_V3}
