"""What every operator command shares: exit codes, the state dir's file names, read-only SQLite, and the
table and time formats. The commands (ops, status, pnl, flatten) import this module; it imports none of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from hedged.ledger.schema import CURRENT_VERSION

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_REMAINS = 2  # flatten ran but a position or an open order remains

JOURNAL_FILE = "ledger.sqlite3"
INCIDENTS_FILE = "incidents.sqlite3"


class StateError(Exception):
    """A state-dir file cannot be read; the message says which and why."""


# ---- read-only SQLite -------------------------------------------------------------------------


def open_readonly(path: Path, what: str = "journal") -> sqlite3.Connection:
    """Open an existing SQLite file read-only; never creates it (a missing file is a StateError)."""
    if not path.is_file():
        raise StateError(f"no {what} at {path} (has the daemon run with this state_dir?)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as e:
        raise StateError(f"cannot read the {what} at {path}: {e}") from e
    return conn


def open_journal_readonly(path: Path) -> sqlite3.Connection:
    """The journal, read-only, checked to be at the schema this program reads (never migrated here)."""
    conn = open_readonly(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as e:
        conn.close()
        raise StateError(f"cannot read the journal at {path}: {e}") from e
    if version != CURRENT_VERSION:
        conn.close()
        hint = ("start the daemon once to migrate it" if 0 < version < CURRENT_VERSION
                else "it is not a journal this hedged understands")
        raise StateError(f"journal {path} has schema version {version}, this hedged reads {CURRENT_VERSION}; {hint}")
    return conn


def iso_ms(ts_ms: int | None) -> str:
    if not ts_ms:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in (tuple(header), *rows))
