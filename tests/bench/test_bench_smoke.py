"""The fill -> hedge and lifecycle benchmarks run end to end for a few seconds (slow profile: they start
`hedged sim` and the daemon as processes). They keep `make bench` from rotting between full runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _slow_selected(request) -> bool:
    return os.environ.get("HEDGED_SLOW") == "1" or "slow" in (request.config.getoption("markexpr") or "")


@pytest.mark.slow
def test_the_fill_to_hedge_bench_measures_every_maker_fill_of_a_short_run(request, tmp_path):
    if not _slow_selected(request):
        pytest.skip("slow profile: run with -m slow or HEDGED_SLOW=1")
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "fill_to_hedge.py"), "--fills", "20",
                           "--max-seconds", "90", "--json", str(out)],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["fills"] >= 20
    assert r["all"]["n"] + r["unhedged_fills"] == r["fills"]
    assert r["idle"]["n"] + r["resting"]["n"] + r["small"]["n"] == r["all"]["n"]  # each fill in one population
    assert r["hedge_keys"] == [4, 5, 6]  # the bench's daemon signs with the pool (one key: --hedge-keys "")
    assert r["unhedged_fills"] == 0  # the daemon stopped gracefully: every fill got its hedge
    assert r["orig"]["n"] > 0 and r["all"]["p50"] > 0
    assert "ratio orig/ours" in done.stdout


@pytest.mark.slow
def test_the_lifecycle_bench_sees_ready_and_a_clean_stop(request, tmp_path):
    if not _slow_selected(request):
        pytest.skip("slow profile: run with -m slow or HEDGED_SLOW=1")
    out = tmp_path / "l.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "lifecycle.py"), "--runs", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["exit_codes"] == [0]
    assert r["makers_left"] == 0
    assert 0 < r["ready_cold"]["median"] < 30
