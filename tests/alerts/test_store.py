"""The incident store: durable, WAL, deliveries per sink, survives reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hedged.alerts.settings import Severity
from hedged.alerts.store import EXPIRED, FAILED, PENDING, SENT, IncidentStore


def _add(store: IncidentStore, event: str = "hedge_failed", ts: float = 100.0, sinks=("telegram", "lark"), **kw):
    return store.add(
        ts=ts, event=event, severity=Severity.CRITICAL, key="k", daemon="d", market="ETH-USD",
        positions={"extended": "1"}, details={"reason": "x"}, sinks=list(sinks), **kw,
    )


def test_store_uses_wal_and_keeps_incidents_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "incidents.sqlite"
    with IncidentStore(path) as store:
        first = _add(store)
        _add(store, event="halted", ts=200.0)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    with IncidentStore(path) as store:
        assert store.next_pending("telegram") == first
        records = store.list()
        assert [r.incident.event for r in records] == ["hedge_failed", "halted"]
        assert {d.sink: d.state for d in records[0].deliveries} == {"telegram": PENDING, "lark": PENDING}


def test_pending_follows_delivery_outcomes_per_sink(tmp_path: Path) -> None:
    with IncidentStore(tmp_path / "i.sqlite") as store:
        a, b = _add(store), _add(store, ts=101.0)
        store.finish(a.id, "telegram", SENT, 150.0)
        assert store.next_pending("telegram").id == b.id
        assert store.next_pending("lark").id == a.id
        assert store.record_attempt_failed(a.id, "lark", "lark http 502", 151.0) == 1
        assert store.record_attempt_failed(a.id, "lark", "lark http 502", 152.0) == 2
        store.finish(a.id, "lark", FAILED, 153.0, "lark http 400")
        store.finish(b.id, "lark", EXPIRED, 154.0, "too old")
        assert store.pending_count("lark") == 0 and store.pending_count("telegram") == 1
        lark = {d.sink: d for d in store.get(a.id).deliveries}["lark"]
        assert (lark.state, lark.attempts, lark.last_error) == (FAILED, 3, "lark http 400")
        with pytest.raises(ValueError):
            store.finish(a.id, "lark", PENDING, 1.0)


def test_suppressed_incident_is_stored_without_deliveries(tmp_path: Path) -> None:
    with IncidentStore(tmp_path / "i.sqlite") as store:
        inc = _add(store, suppressed="rate_limited")
        assert store.next_pending("telegram") is None
        record = store.get(inc.id)
        assert record.incident.suppressed == "rate_limited" and record.deliveries == ()


def test_repeats_and_since_filter(tmp_path: Path) -> None:
    with IncidentStore(tmp_path / "i.sqlite") as store:
        a = _add(store, ts=100.0)
        _add(store, ts=300.0)
        store.add_repeat(a.id, 120.0)
        store.add_repeat(a.id, 130.0)
        assert store.get(a.id).incident.repeats == 2
        assert [r.incident.ts for r in store.list(since=200.0)] == [300.0]
        assert [r.incident.ts for r in store.list(limit=1)] == [300.0]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version=99")
    raw.close()
    with pytest.raises(RuntimeError, match="newer"):
        IncidentStore(path)
