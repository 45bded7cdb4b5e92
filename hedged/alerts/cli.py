"""Operator read commands over the incident store: `hedged incidents [--since] [--json]`.

Plain functions the CLI wires in: `add_incidents_arguments(parser)` declares the flags,
`cmd_incidents(args, db_path)` prints and returns the exit code. Printing is allowed
here and only here.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from hedged.alerts.incident import iso_utc
from hedged.alerts.store import IncidentRecord, IncidentStore

EXIT_OK = 0
EXIT_ERROR = 1  # the store is missing or unreadable
EXIT_USAGE = 2  # bad arguments, as argparse uses

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float) -> float:
    """Unix seconds from "30m", "6h", "2d", "1w" (ago) or an ISO date/time (UTC if no zone)."""
    m = _RELATIVE.match(text)
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since: {text!r} is neither an age like 30m/6h/2d nor an ISO date/time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def add_incidents_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", metavar="WHEN", help="only incidents since an age (30m, 6h, 2d) or an ISO date/time (UTC default)"
    )
    parser.add_argument("--limit", type=int, metavar="N", help="only the newest N incidents")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def record_to_json(record: IncidentRecord) -> dict[str, Any]:
    doc = record.incident.payload()
    doc["suppressed"] = record.incident.suppressed
    doc["deliveries"] = [
        {
            "sink": d.sink,
            "state": d.state,
            "attempts": d.attempts,
            "last_error": d.last_error,
            "updated": iso_utc(d.updated),
        }
        for d in record.deliveries
    ]
    return doc


def _delivery_cell(record: IncidentRecord) -> str:
    if record.incident.suppressed:
        return record.incident.suppressed
    if not record.deliveries:
        return "-"
    parts = []
    for d in record.deliveries:
        parts.append(f"{d.sink}={d.state}" + (f"({d.attempts})" if d.state != "sent" and d.attempts else ""))
    return " ".join(parts)


def _details_cell(record: IncidentRecord, width: int = 60) -> str:
    text = " ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in sorted(record.incident.details.items())
    )
    return text if len(text) <= width else text[: width - 3] + "..."


def render_table(records: list[IncidentRecord]) -> str:
    header = ("ID", "TIME (UTC)", "SEVERITY", "EVENT", "REPEATS", "DELIVERY", "DETAILS")
    rows = [
        (
            str(r.incident.id),
            iso_utc(r.incident.ts),
            r.incident.severity.value,
            r.incident.event,
            str(r.incident.repeats),
            _delivery_cell(r),
            _details_cell(r),
        )
        for r in records
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)]
    return "\n".join(lines)


def cmd_incidents(
    args: argparse.Namespace,
    db_path: Path,
    *,
    now: Callable[[], float] = time.time,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`hedged incidents`: list incidents from the store at `db_path` (read only)."""
    out = out or sys.stdout
    err = err or sys.stderr
    since = None
    if getattr(args, "since", None):
        try:
            since = parse_since(args.since, now())
        except ValueError as exc:
            print(f"hedged incidents: {exc}", file=err)
            return EXIT_USAGE
    limit = getattr(args, "limit", None)
    if limit is not None and limit < 1:
        print("hedged incidents: --limit: must be >= 1", file=err)
        return EXIT_USAGE
    try:
        with IncidentStore(db_path, readonly=True) as store:
            records = store.list(since=since, limit=limit)
    except (FileNotFoundError, sqlite3.Error, RuntimeError) as exc:
        print(f"hedged incidents: cannot read the incident store: {exc}", file=err)
        return EXIT_ERROR
    if getattr(args, "json", False):
        print(json.dumps([record_to_json(r) for r in records], indent=2), file=out)
    elif records:
        print(render_table(records), file=out)
    else:
        print("no incidents" + (" in that period" if since is not None else ""), file=out)
    return EXIT_OK
