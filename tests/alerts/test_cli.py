"""`hedged incidents`: read-only listing of the incident store."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from hedged.alerts.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, add_incidents_arguments, cmd_incidents, parse_since
from hedged.alerts.settings import Severity
from hedged.alerts.store import SENT, IncidentStore

NOW = 1_700_100_000.0


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_incidents_arguments(parser)
    return parser.parse_args(list(argv))


def _seed(path: Path) -> None:
    with IncidentStore(path) as store:
        old = store.add(ts=NOW - 3 * 86400, event="feed_stale", severity=Severity.WARNING, key="a", daemon="d",
                        market="ETH-USD", positions={}, details={"stream": "lighter depth"}, sinks=["telegram"])
        store.finish(old.id, "telegram", SENT, NOW - 3 * 86400)
        new = store.add(ts=NOW - 600, event="hedge_failed", severity=Severity.CRITICAL, key="b", daemon="d",
                        market="ETH-USD", positions={"lighter": "-1"}, details={"reason": "timeout", "qty": "0.4"},
                        sinks=["telegram", "lark"])
        store.record_attempt_failed(new.id, "lark", "lark http 502", NOW - 500)


def run(path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cmd_incidents(_args(*argv), path, now=lambda: NOW, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_table_lists_incidents_with_their_delivery_state(tmp_path: Path) -> None:
    path = tmp_path / "incidents.sqlite"
    _seed(path)
    code, out, _ = run(path)
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TIME", "(UTC)", "SEVERITY", "EVENT", "REPEATS", "DELIVERY", "DETAILS"]
    assert "feed_stale" in lines[1] and "telegram=sent" in lines[1]
    assert "hedge_failed" in lines[2] and "lark=pending(1)" in lines[2] and "qty=0.4 reason=timeout" in lines[2]


def test_since_filters_by_age_and_json_is_machine_readable(tmp_path: Path) -> None:
    path = tmp_path / "incidents.sqlite"
    _seed(path)
    code, out, _ = run(path, "--since", "1h", "--json")
    assert code == EXIT_OK
    (doc,) = json.loads(out)
    assert doc["event"] == "hedge_failed" and doc["positions"] == {"lighter": "-1"}
    assert {d["sink"]: (d["state"], d["attempts"]) for d in doc["deliveries"]} == {
        "lark": ("pending", 1),
        "telegram": ("pending", 0),
    }


def test_reading_never_creates_a_store(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "incidents.sqlite"
    code, out, err = run(path)
    assert code == EXIT_ERROR and "no incident store" in err and out == ""
    assert not path.parent.exists()


def test_a_bad_since_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "incidents.sqlite"
    _seed(path)
    code, _, err = run(path, "--since", "yesterday-ish")
    assert code == EXIT_USAGE and "--since" in err


def test_empty_period_says_so(tmp_path: Path) -> None:
    path = tmp_path / "incidents.sqlite"
    _seed(path)
    assert run(path, "--since", "1m")[1] == "no incidents in that period\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", NOW - 1800), ("6h", NOW - 21600), ("2d", NOW - 172800), ("2023-11-14T22:13:20Z", 1_700_000_000.0),
     ("2023-11-14T22:13:20", 1_700_000_000.0), ("2023-11-14T23:13:20+01:00", 1_700_000_000.0)],
)
def test_since_accepts_ages_and_iso_times(text: str, expected: float) -> None:
    assert parse_since(text, NOW) == expected


def test_reading_works_while_the_daemon_holds_the_store_open(tmp_path: Path) -> None:
    path = tmp_path / "incidents.sqlite"
    with IncidentStore(path) as writer:
        writer.add(ts=NOW, event="halted", severity=Severity.CRITICAL, key="k", daemon="d", market="m",
                   positions={}, details={}, sinks=["webhook"])
        code, out, _ = run(path, "--json")
        assert code == EXIT_OK and json.loads(out)[0]["event"] == "halted"
        writer.add(ts=NOW, event="resumed", severity=Severity.INFO, key="k", daemon="d", market="m",
                   positions={}, details={}, sinks=[])
    assert [d["event"] for d in json.loads(run(path, "--json")[1])] == ["halted", "resumed"]
