"""The durable incident store (SQLite, WAL).

An incident and one delivery row per routed sink are committed in one transaction
before any sink is tried, so a crash or a dead sink loses nothing: deliveries still
`pending` are picked up again by the next Alerter on the same file.

WAL with synchronous=NORMAL survives a process crash without an fsync per write; only
an OS crash or power loss can drop the last transactions. That keeps `alert()` cheap
enough to run on the Trio thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hedged.alerts.incident import Incident, canonical_json
from hedged.alerts.settings import Severity
from hedged.statefiles import private_file

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          REAL    NOT NULL,
    event       TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    dedup_key   TEXT    NOT NULL,
    daemon      TEXT    NOT NULL,
    market      TEXT    NOT NULL,
    positions   TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    suppressed  TEXT,
    repeats     INTEGER NOT NULL DEFAULT 0,
    last_seen   REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    sink        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    updated     REAL    NOT NULL,
    PRIMARY KEY (incident_id, sink)
);
CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (sink, state, incident_id);
CREATE INDEX IF NOT EXISTS incidents_by_ts ON incidents (ts);
"""

PENDING = "pending"
SENT = "sent"
FAILED = "failed"  # permanent: the sink rejected it and retrying cannot help
EXPIRED = "expired"  # still undelivered after max_age_s
FINAL_STATES = (SENT, FAILED, EXPIRED)


@dataclass(frozen=True, slots=True)
class Delivery:
    sink: str
    state: str
    attempts: int
    last_error: str | None
    updated: float


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """An incident with the state of each of its deliveries, for operator commands."""

    incident: Incident
    deliveries: tuple[Delivery, ...]


class IncidentStore:
    """Owns one SQLite connection. Used from one thread (the Trio thread)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        """Open (and create, unless `readonly`) the store at `path`.

        Read-only opening is for operator commands: it never creates a file, a table or a
        directory, and works while the daemon writes.
        """
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no incident store at {self.path}")
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            self._check_version()
            return
        if str(path) != ":memory:":
            private_file(self.path)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._check_version()
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _check_version(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise RuntimeError(f"incident store schema {version} is newer than this program ({SCHEMA_VERSION})")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> IncidentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------

    def add(
        self,
        *,
        ts: float,
        event: str,
        severity: Severity,
        key: str,
        daemon: str,
        market: str,
        positions: Mapping[str, str],
        details: Mapping[str, Any],
        sinks: Sequence[str],
        suppressed: str | None = None,
    ) -> Incident:
        """Commit the incident and a pending delivery per sink (none when suppressed)."""
        with self._tx():
            cur = self._db.execute(
                "INSERT INTO incidents (ts, event, severity, dedup_key, daemon, market, positions, details,"
                " suppressed, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ts, event, severity.value, key, daemon, market, canonical_json(positions),
                 canonical_json(details), suppressed, ts),
            )
            incident_id = int(cur.lastrowid)
            if suppressed is None:
                self._db.executemany(
                    "INSERT INTO deliveries (incident_id, sink, state, updated) VALUES (?, ?, ?, ?)",
                    [(incident_id, sink, PENDING, ts) for sink in sinks],
                )
        return Incident(incident_id, ts, event, severity, key, daemon, market,
                        dict(positions), dict(details), 0, suppressed)

    def add_repeat(self, incident_id: int, ts: float) -> None:
        self._db.execute(
            "UPDATE incidents SET repeats = repeats + 1, last_seen = ? WHERE id = ?", (ts, incident_id)
        )

    def record_attempt_failed(self, incident_id: int, sink: str, error: str, ts: float) -> int:
        """Count a failed attempt, leave the delivery pending; returns the attempt count."""
        self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, updated = ?"
            " WHERE incident_id = ? AND sink = ?",
            (error, ts, incident_id, sink),
        )
        return self.attempts(incident_id, sink)

    def finish(
        self, incident_id: int, sink: str, state: str, ts: float, error: str | None = None, *, attempted: bool = True
    ) -> None:
        """Close a delivery. `attempted` counts the attempt that ended it (not for expiry)."""
        if state not in FINAL_STATES:
            raise ValueError(f"not a final delivery state: {state}")
        attempts_inc = 1 if attempted and state != EXPIRED else 0
        self._db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + ?, last_error = COALESCE(?, last_error),"
            " updated = ? WHERE incident_id = ? AND sink = ?",
            (state, attempts_inc, error, ts, incident_id, sink),
        )

    # -- reads ----------------------------------------------------------------

    def next_pending(self, sink: str) -> Incident | None:
        """The oldest incident still pending for `sink`."""
        row = self._db.execute(
            f"SELECT {_COLS} FROM incidents i JOIN deliveries d ON d.incident_id = i.id"
            " WHERE d.sink = ? AND d.state = ? ORDER BY i.id LIMIT 1",
            (sink, PENDING),
        ).fetchone()
        return _incident(row) if row else None

    def pending_count(self, sink: str) -> int:
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE sink = ? AND state = ?", (sink, PENDING)
            ).fetchone()[0]
        )

    def attempts(self, incident_id: int, sink: str) -> int:
        row = self._db.execute(
            "SELECT attempts FROM deliveries WHERE incident_id = ? AND sink = ?", (incident_id, sink)
        ).fetchone()
        return int(row[0]) if row else 0

    def get(self, incident_id: int) -> IncidentRecord | None:
        row = self._db.execute(f"SELECT {_COLS} FROM incidents i WHERE i.id = ?", (incident_id,)).fetchone()
        return self._with_deliveries([_incident(row)])[0] if row else None

    def list(self, since: float | None = None, limit: int | None = None) -> list[IncidentRecord]:
        """Incidents (oldest first) at or after `since` (Unix seconds), with deliveries."""
        since_ts = since if since is not None else float("-inf")
        if limit is None:
            rows = self._db.execute(
                f"SELECT {_COLS} FROM incidents i WHERE i.ts >= ? ORDER BY i.id", (since_ts,)
            ).fetchall()
        else:  # the newest `limit`, still printed oldest first
            rows = self._db.execute(
                f"SELECT {_COLS} FROM incidents i WHERE i.ts >= ? ORDER BY i.id DESC LIMIT ?", (since_ts, limit)
            ).fetchall()[::-1]
        return self._with_deliveries([_incident(r) for r in rows])

    def _with_deliveries(self, incidents: Iterable[Incident]) -> list[IncidentRecord]:
        out = []
        for inc in incidents:
            rows = self._db.execute(
                "SELECT sink, state, attempts, last_error, updated FROM deliveries"
                " WHERE incident_id = ? ORDER BY sink",
                (inc.id,),
            ).fetchall()
            out.append(IncidentRecord(inc, tuple(Delivery(*r) for r in rows)))
        return out

    def _tx(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


_COLS = "i.id, i.ts, i.event, i.severity, i.dedup_key, i.daemon, i.market, i.positions, i.details, i.repeats, i.suppressed"


def _incident(row: tuple) -> Incident:
    (id_, ts, event, severity, key, daemon, market, positions, details, repeats, suppressed) = row
    return Incident(
        id=int(id_),
        ts=float(ts),
        event=event,
        severity=Severity(severity),
        key=key,
        daemon=daemon,
        market=market,
        positions=json.loads(positions),
        details=json.loads(details),
        repeats=int(repeats),
        suppressed=suppressed,
    )
