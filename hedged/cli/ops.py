"""Operator commands: `hedged status`, `hedged incidents`, `hedged ledger fills|orders`, `hedged pnl`,
`hedged flatten`.

Every command takes `--config PATH` and prints a table for people by default, JSON with
`--json`. Read commands open the state dir's SQLite files read-only (`mode=ro`): they never
create, migrate or lock them, so they are safe while the daemon runs.

Exit codes:

| command | 0 | 1 | 2 |
|---|---|---|---|
| `status` | reported (from the running daemon, or from the state dir) | nothing to report (no daemon, no journal) | - |
| `incidents` | listed (possibly none) | the incident store is missing or unreadable | bad `--since` / `--limit` |
| `ledger fills\\|orders` | listed (possibly none) | the journal is missing, unreadable or at an old schema | bad `--since` / `--limit` |
| `pnl` | printed (possibly no rows) | the journal is missing, unreadable or at an old schema | bad `--since` |
| `flatten` | both legs flat (within the venue's minimum size) and no order open | did not run: no `--yes` for a live venue, a daemon is running, a venue unreachable | ran, but a position or an open order remains |

Config errors keep the CLI's own codes (66 unreadable, 78 invalid). Printing is allowed in
the `hedged/cli/` modules and nowhere else in the package besides the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from hedged.alerts.cli import add_incidents_arguments, cmd_incidents, parse_since
from hedged.cli.state import (EXIT_ERROR, EXIT_OK, EXIT_USAGE, INCIDENTS_FILE, JOURNAL_FILE, StateError, iso_ms,
                              open_journal_readonly, render_table)
from hedged.config import Config

COMMANDS = frozenset({"status", "incidents", "ledger", "flatten", "pnl"})


# ---- argument parsing -------------------------------------------------------------------------


def add_parsers(sub: Any, add_run_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the operator subcommands on the CLI's subparsers (`add_run_options` adds --config etc.)."""
    status = sub.add_parser("status", help="the daemon's positions, exposure, last cycle and health")
    add_run_options(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of text")

    inc = sub.add_parser("incidents", help="incidents from the durable incident store")
    add_run_options(inc)
    add_incidents_arguments(inc)

    led = sub.add_parser("ledger", help="fills or orders from the journal (read-only)")
    led_sub = led.add_subparsers(dest="ledger_command", required=True)
    for name, what in (("fills", "fills, oldest first"), ("orders", "orders by last update, oldest first")):
        p = led_sub.add_parser(name, help=what)
        add_run_options(p)
        p.add_argument("--since", metavar="WHEN", help="only rows since an age (30m, 6h, 2d) or an ISO date/time")
        p.add_argument("--limit", type=int, metavar="N", help="only the newest N rows")
        p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
        if name == "fills":
            p.add_argument("--raw", action="store_true",
                           help="the journal's fill rows as stored (a fill can have an order row and a trade row)")

    from hedged.cli.pnl import add_parser as add_pnl

    add_pnl(sub, add_run_options)

    fl = sub.add_parser("flatten", help="one shot: reconcile, cancel all orders, flatten both legs, verify")
    add_run_options(fl)
    fl.add_argument("--yes", action="store_true", help="really trade (required unless both venues are simulated)")
    fl.add_argument("--json", action="store_true", help="print the report as JSON")


def dispatch(args: argparse.Namespace, cfg: Config) -> int:
    try:
        return _dispatch(args, cfg)
    except BrokenPipeError:
        # `hedged ledger fills | head`: the reader has gone, which is not an error worth a traceback.
        # Point stdout at /dev/null so the interpreter's flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _dispatch(args: argparse.Namespace, cfg: Config) -> int:
    state = Path(cfg.daemon.state_dir)
    if args.command == "incidents":
        return cmd_incidents(args, state / INCIDENTS_FILE)
    if args.command == "ledger":
        return cmd_ledger(args, state / JOURNAL_FILE)
    if args.command == "status":
        from hedged.cli.status import cmd_status

        return cmd_status(args, cfg)
    if args.command == "pnl":
        from hedged.cli.pnl import cmd_pnl

        return cmd_pnl(args, cfg)
    if args.command == "flatten":
        from hedged.cli.flatten import cmd_flatten

        return cmd_flatten(args, cfg)
    raise ValueError(f"not an operator command: {args.command}")


# ---- hedged ledger fills|orders ---------------------------------------------------------------

# (column, header) pairs; Decimal columns are TEXT in the journal and are printed as stored, so exact.
FILL_COLUMNS = (("id", "ID"), ("ts_ms", "TIME (UTC)"), ("venue", "VENUE"), ("market", "MARKET"), ("side", "SIDE"),
                ("qty", "QTY"), ("price", "PRICE"), ("fee", "FEE"), ("liquidity", "LIQ"), ("order_key", "ORDER"),
                ("trade_id", "TRADE ID"), ("counted_delta", "COUNTED"), ("fill_key", "FILL KEY"), ("cycle_seq", "CYCLE"))
ORDER_COLUMNS = (("key", "KEY"), ("ts_ms", "UPDATED (UTC)"), ("venue", "VENUE"), ("market", "MARKET"),
                 ("side", "SIDE"), ("status", "STATUS"), ("qty", "QTY"), ("cum", "FILLED"), ("avg_price", "AVG PRICE"),
                 ("is_hedge", "HEDGE"), ("order_id", "ORDER ID"), ("client_id", "CLIENT ID"),
                 ("counted", "COUNTED"), ("trade_qty", "TRADE QTY"),
                 ("baseline", "BASELINE"), ("cancel_requested", "CANCEL REQ"), ("merged_into", "MERGED INTO"),
                 ("closed_by_reconcile", "RECONCILE CLOSED"))
_BOOL_COLUMNS = frozenset({"is_hedge", "cancel_requested", "closed_by_reconcile"})
_TABLE_COLUMNS = {"fills": 11, "raw fills": 13, "orders": 12}  # the table shows the first N columns; --json all


def read_rows(conn: sqlite3.Connection, kind: str, *, since_ms: int | None, limit: int | None) -> list[dict[str, Any]]:
    columns = FILL_COLUMNS if kind == "fills" else ORDER_COLUMNS
    names = [c for c, _ in columns]
    order = "id" if kind == "fills" else "ts_ms, key"
    where, params = ("WHERE ts_ms >= ?", [since_ms]) if since_ms is not None else ("", [])
    sql = f"SELECT {', '.join(names)} FROM {kind} {where} ORDER BY {order}"
    if limit is not None:
        # The newest N, printed oldest first like the rest.
        desc = "id DESC" if kind == "fills" else "ts_ms DESC, key DESC"
        sql = f"SELECT * FROM (SELECT {', '.join(names)} FROM {kind} {where} ORDER BY {desc} LIMIT ?) ORDER BY {order}"
        params.append(limit)
    out = []
    for row in conn.execute(sql, params).fetchall():
        doc = dict(zip(names, row, strict=True))
        for b in _BOOL_COLUMNS & doc.keys():
            doc[b] = bool(doc[b])
        out.append(doc)
    return out


def one_row_per_fill(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal may record one fill twice: once from the order's cumulative filled quantity (a row
    without a trade id, which moves the position) and once from the venue's trade record (a row with the
    trade id, `counted_delta` 0 when the order row already counted it; Extended sends both). Show the
    trade rows, plus order rows only for filled quantity that no trade row of that order accounts for."""
    by_order: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_order.setdefault(r["order_key"], []).append(r)
    out = []
    for group in by_order.values():
        trades = [r for r in group if r["trade_id"]]
        cumulative = [r for r in group if not r["trade_id"]]
        out += trades
        uncovered = sum((Decimal(r["qty"]) for r in cumulative), Decimal(0)) - sum(
            (Decimal(r["qty"]) for r in trades), Decimal(0))
        for r in reversed(cumulative):  # the latest order rows are the ones whose trade has not come (yet)
            if uncovered <= 0:
                break
            qty = Decimal(r["qty"])
            out.append(r if qty <= uncovered else {**r, "qty": str(uncovered)})
            uncovered -= qty
    out.sort(key=lambda r: r["id"])
    for r in out:
        del r["counted_delta"]  # per journal row; in this view the fill is one row whichever row counted it
        r["source"] = "trade" if r["trade_id"] else "order"
    return out


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "ts_ms":
        return iso_ms(value)
    if name in _BOOL_COLUMNS:
        return "yes" if value else ""
    return str(value)


def cmd_ledger(args: argparse.Namespace, db_path: Path, *, now: Callable[[], float] = time.time,
               out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    kind = args.ledger_command
    since_ms = None
    if args.since:
        try:
            since_ms = int(parse_since(args.since, now()) * 1000)
        except ValueError as exc:
            print(f"hedged ledger: {exc}", file=err)
            return EXIT_USAGE
    if args.limit is not None and args.limit < 1:
        print("hedged ledger: --limit: must be >= 1", file=err)
        return EXIT_USAGE
    collapse = kind == "fills" and not getattr(args, "raw", False)
    try:
        conn = open_journal_readonly(db_path)
        try:
            rows = read_rows(conn, kind, since_ms=since_ms, limit=None if collapse else args.limit)
        finally:
            conn.close()
    except (StateError, sqlite3.Error) as exc:
        print(f"hedged ledger: {exc}", file=err)
        return EXIT_ERROR
    if collapse:
        rows = one_row_per_fill(rows)
        if args.limit is not None:
            rows = rows[-args.limit:]
    if args.json:
        for doc in rows:
            doc["time"] = iso_ms(doc["ts_ms"])
        print(json.dumps(rows, indent=2), file=out)
        return EXIT_OK
    if not rows:
        print(f"no {kind}" + (" in that period" if since_ms is not None else ""), file=out)
        return EXIT_OK
    view = "fills" if collapse else ("raw fills" if kind == "fills" else kind)
    columns = (FILL_COLUMNS if kind == "fills" else ORDER_COLUMNS)[: _TABLE_COLUMNS[view]]
    table = [tuple(_cell(c, r[c]) for c, _ in columns) for r in rows]
    print(render_table([h for _, h in columns], table), file=out)
    return EXIT_OK
