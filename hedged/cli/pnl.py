"""`hedged pnl [--since WHEN] [--by cycle|day] [--json|--csv]`: the PnL table from the journal.

Read-only (the journal is opened `mode=ro`, never migrated), so it is safe while the daemon
runs. Every row is one cycle (the journal-wide cycle number; fills outside any cycle, such as a
sweep or a flatten, form the row `-`) or one UTC day, with each venue's price PnL, fees (net of
rebates), funding and the net. The total line adds the open positions valued at the last trade
price of each venue (the journal holds no mark price; the daemon's `hedged status` uses the
venue's mark). Amounts are exact Decimals in the quote currency; the table rounds them to 6
places for reading, `--json` and `--csv` print them exactly.

Exit codes: 0 printed (possibly no rows), 1 the journal is missing or unreadable, 2 bad `--since`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import time
from collections.abc import Callable, Hashable
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from hedged.alerts.cli import parse_since
from hedged.cli.state import (EXIT_ERROR, EXIT_OK, EXIT_USAGE, JOURNAL_FILE, StateError, iso_ms,
                              open_journal_readonly, render_table)
from hedged.config import Config
from hedged.pnl.core import PnlBook, PnlReport
from hedged.pnl.history import cycle_starts, day_of, fold
from hedged.venues.base import Venue

_SHOWN = Decimal("0.000001")
VENUES = (Venue.EXTENDED, Venue.LIGHTER)


def add_parser(sub: Any, add_run_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("pnl", help="PnL by cycle or day from the journal (read-only): price, fees, funding, net")
    add_run_options(p)
    p.add_argument("--since", metavar="WHEN", help="only money since an age (30m, 6h, 2d) or an ISO date/time")
    p.add_argument("--by", choices=("cycle", "day"), default="cycle", help="one row per cycle (default) or UTC day")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON (exact decimals as strings)")
    fmt.add_argument("--csv", action="store_true", help="print CSV (exact decimals)")


def compute(conn: sqlite3.Connection, cfg: Config, *, by: str, since_ms: int | None) -> dict[str, Any]:
    """The whole answer as plain data (the three output formats render it)."""
    from hedged.cli.status import roles_of

    book = PnlBook(VENUES)
    period_keys: list[Hashable] = []

    def buckets(kind: str, ts_ms: int, cycle_seq: int | None) -> tuple[Hashable, ...]:
        if since_ms is not None and ts_ms < since_ms:
            return ()  # still moves the positions (their cost basis), but is not in the period
        # A payment belongs to the cycle that was open when it was journaled (as on the cycle line).
        key = ("cycle", cycle_seq) if by == "cycle" else ("day", day_of(ts_ms))
        if key not in book.buckets:
            period_keys.append(key)
        return ("total", key)

    folded = fold(conn, roles_of(cfg), book, buckets)
    starts = cycle_starts(conn) if by == "cycle" else {}
    for seq, (_, ts) in starts.items():  # every cycle gets its row, one that moved no money too
        if ("cycle", seq) not in period_keys and (since_ms is None or ts >= since_ms):
            period_keys.append(("cycle", seq))
    rows = []
    ordered = sorted(period_keys, key=lambda k: (k[1] is None, k[1] if k[1] is not None else 0))
    for key in ordered:
        report = book.report(key, unrealised=False)
        row: dict[str, Any] = {by: "-" if key[1] is None else key[1]}
        if by == "cycle":
            run_n, ts = starts.get(key[1], ("-", 0)) if key[1] is not None else ("-", 0)
            row["run_cycle"] = run_n
            row["start"] = iso_ms(ts)
        row.update(_components(report))
        rows.append(row)
    marks = {v: folded.last_price.get(v) for v in VENUES}
    total = book.report("total", marks)
    return {"by": by, "since": iso_ms(since_ms) if since_ms else None, "rows": rows,
            "total": {**_components(total), "unrealised": total.unrealised if total.marked else None},
            "positions": {str(leg.venue): leg.position for leg in total.legs},
            "marks_last_trade": {str(v): m for v, m in marks.items()},
            "unpriced_qty": {str(v): q for v, q in folded.unpriced.items()},
            "adjustments": _adjustments(conn)}


def _adjustments(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Position changes reconciliation made without a trade (drift, a venue that lost our position):
    they move the ledger's positions but carry no price, so PnL cannot include them; shown so the
    positions from trades are not mistaken for the venue's."""
    out: dict[str, dict[str, Any]] = {}
    for venue, delta in conn.execute("SELECT venue, delta FROM adjustments ORDER BY rowid"):
        a = out.setdefault(venue, {"qty": Decimal(0), "count": 0})
        a["qty"] += Decimal(delta)
        a["count"] += 1
    return out


def _components(r: PnlReport) -> dict[str, Any]:
    out: dict[str, Any] = {"fills": sum(leg.fills for leg in r.legs)}
    for leg in r.legs:
        v = str(leg.venue)
        out[f"{v}_price"] = leg.realised
        out[f"{v}_fees"] = leg.fees
        out[f"{v}_fees_paid"] = sum(leg.fees_paid.values(), Decimal(0))
        out[f"{v}_rebates"] = sum(leg.rebates.values(), Decimal(0))
        out[f"{v}_funding"] = leg.funding
    out["price"] = r.realised
    out["fees"] = r.fees
    out["funding"] = r.funding
    out["net"] = r.realised - r.fees + r.funding
    return out


_TABLE = (("price", "PRICE"), ("extended_fees", "FEES EXT"), ("lighter_fees", "FEES LIG"),
          ("extended_funding", "FUND EXT"), ("lighter_funding", "FUND LIG"), ("net", "NET"))


def exact(value: Any) -> Any:
    """A Decimal as its exact plain digits without trailing zeros (-0.018, not -0.018000000000000000)."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    return value


def _shown(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value.quantize(_SHOWN))
    return str(value)


def render(doc: dict[str, Any]) -> str:
    by = doc["by"]
    head = ["CYCLE", "RUN #", "START (UTC)"] if by == "cycle" else ["DAY"]
    keys = [by, "run_cycle", "start"] if by == "cycle" else [by]
    header = [*head, "FILLS", "PRICE EXT", "PRICE LIG", *(h for _, h in _TABLE)]
    cols = [*keys, "fills", "extended_price", "lighter_price", *(k for k, _ in _TABLE)]
    table = [[_shown(r[c]) for c in cols] for r in doc["rows"]]
    t = doc["total"]
    table.append(["TOTAL", *([""] * (len(keys) - 1)), *(_shown(t[c]) for c in cols[len(keys):])])
    lines = [render_table(header, table)]
    pos = doc["positions"]
    if any(pos.values()):
        unreal = doc["total"]["unrealised"]
        marks = ", ".join(f"{v}={m}" for v, m in doc["marks_last_trade"].items() if m is not None)
        lines.append(f"open positions from trades: " + ", ".join(f"{v}={q}" for v, q in pos.items())
                     + f"; unrealised at the last trade prices ({marks}): "
                     + ("-" if unreal is None else _shown(unreal)))
    else:
        lines.append("open positions from trades: none (all PnL realised)")
    if doc["adjustments"]:
        lines.append("position adjustments without a trade (not in PnL; see hedged ledger): " + ", ".join(
            f"{v}={_shown(a['qty'])} ({a['count']})" for v, a in doc["adjustments"].items()))
    if doc["unpriced_qty"]:
        lines.append("fills without a trade record yet (not in the table): "
                     + ", ".join(f"{v}={q}" for v, q in doc["unpriced_qty"].items()))
    return "\n".join(lines)


def cmd_pnl(args: argparse.Namespace, cfg: Config, *, now: Callable[[], float] = time.time,
            out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    since_ms = None
    if args.since:
        try:
            since_ms = int(parse_since(args.since, now()) * 1000)
        except ValueError as exc:
            print(f"hedged pnl: {exc}", file=err)
            return EXIT_USAGE
    path = Path(cfg.daemon.state_dir) / JOURNAL_FILE
    try:
        conn = open_journal_readonly(path)
        try:
            doc = compute(conn, cfg, by=args.by, since_ms=since_ms)
        finally:
            conn.close()
    except (StateError, sqlite3.Error) as exc:
        print(f"hedged pnl: {exc}", file=err)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(doc, indent=2, default=exact), file=out)
    elif args.csv:
        rows = doc["rows"] + [{doc["by"]: "TOTAL", **doc["total"]}]
        names = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else exact(v)) for k, v in r.items()})
    else:
        print(render(doc), file=out)
    return EXIT_OK
