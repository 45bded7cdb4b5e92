"""The fault catalogue (docs/faults.md): every numbered scenario keeps every invariant. Run through
`hedged dst --scenario all` as a process (pinned hashing, two workers); known_scenarios.txt names the
issue a scenario waits on, and it xfails with that reason; known_restarts.txt does the same for the second
test of the venue-service restart rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hedged.dst.catalogue import SCENARIOS, markdown
from hedged.dst.cli import read_known
from hedged.dst.plan import RESTART

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
KNOWN = read_known(HERE / "known_scenarios.txt")
KNOWN_RESTARTS = read_known(HERE / "known_restarts.txt")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> dict[int, dict]:
    out = tmp_path_factory.mktemp("dst") / "faults.jsonl"
    proc = subprocess.run([sys.executable, "-m", "hedged.cli", "dst", "--scenario", "all", "--jobs", "1", "--quiet",
                           "--json", str(out)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert "dst_tally seeds=" in proc.stdout, proc.stdout + proc.stderr
    return {r["scenario"]: r for r in map(json.loads, out.read_text().splitlines())}


def test_the_catalogue_has_at_least_forty_numbered_scenarios_and_docs_show_them_all():
    assert len(SCENARIOS) >= 40 and [s.n for s in SCENARIOS] == list(range(1, len(SCENARIOS) + 1))
    assert markdown({**KNOWN, **KNOWN_RESTARTS}) in (ROOT / "docs" / "faults.md").read_text()


@pytest.mark.parametrize("n", [
    pytest.param(s.n, marks=pytest.mark.xfail(reason=KNOWN[s.n], strict=False)) if s.n in KNOWN else s.n
    for s in SCENARIOS
])
def test_fault_scenario_keeps_every_invariant(catalogue, n):
    r = catalogue[n]
    faults = sum(1 for a in SCENARIOS[n - 1].actions if a.kind == "fault")
    assert r["faults_fired"] >= faults, "a fault of the scenario never fired: it tests nothing"
    assert r["ok"], "\n".join([f"hedged dst --scenario {n}  ({r['hint']})"] + [
        f"invariant {v['invariant']} at t={v['at']:.3f}: {v['detail']}" for v in r["violations"]])


RESTARTS = [s for s in SCENARIOS if any(a.kind == RESTART for a in s.actions)]


@pytest.mark.parametrize("n", [
    pytest.param(s.n, marks=pytest.mark.xfail(reason=KNOWN_RESTARTS[s.n], strict=False))
    if s.n in KNOWN_RESTARTS else s.n for s in RESTARTS
])
def test_a_restarted_venue_service_comes_back_and_the_same_daemon_trades_on_to_a_clean_stop(catalogue, n):
    r = catalogue[n]
    wanted = sum(1 for a in SCENARIOS[n - 1].actions if a.kind == RESTART)
    assert r["restarts"] == wanted and r["venue_service_restarts"] >= wanted, "a planned restart never happened"
    assert r["exits"] == [0], f"one daemon, stopped cleanly at the end: exits {r['exits']} ({r['hint']})"
