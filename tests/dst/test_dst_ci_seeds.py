"""The CI campaign: every seed of ci_seeds.txt through `hedged dst` as a process (PYTHONHASHSEED pinned,
two workers), then one test per seed. A seed that found a defect stays in the list forever; while its
issue is open it is listed in known_failures.txt with the issue it waits on, and xfails with that reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hedged.dst.cli import read_known, read_seeds

HERE = Path(__file__).parent
SEEDS = read_seeds(HERE / "ci_seeds.txt")
KNOWN = read_known(HERE / "known_failures.txt")
HANG_S = 900  # a hang guard only: the budget (< 4 min wall on an idle 2-core box) is measured in docs/dst.md


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> dict[int, dict]:
    out = tmp_path_factory.mktemp("dst") / "ci.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "hedged.cli", "dst", "--seeds-file", str(HERE / "ci_seeds.txt"), "--jobs", "1",
         "--minutes", "3", "--quiet", "--json", str(out), "--known", str(HERE / "known_failures.txt")],
        capture_output=True, text=True, timeout=HANG_S, cwd=HERE.parent.parent)
    results = {r["seed"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert "dst_tally seeds=" in proc.stdout, proc.stdout + proc.stderr
    return results


def test_the_ci_list_has_at_least_a_hundred_seeds():
    assert len(SEEDS) >= 100 and len(set(SEEDS)) == len(SEEDS)


def test_every_known_failure_names_the_issue_it_waits_on():
    assert all(why.startswith(("issue 11", "issue 12")) for why in KNOWN.values()), KNOWN
    assert set(KNOWN) <= set(SEEDS)


@pytest.mark.parametrize("seed", [
    pytest.param(s, marks=pytest.mark.xfail(reason=KNOWN[s], strict=False)) if s in KNOWN else s for s in SEEDS
])
def test_seed_keeps_every_invariant(campaign, seed):
    r = campaign[seed]
    assert r["ok"], "\n".join([f"make dst SEED={seed}  ({r['hint']})"] + [
        f"invariant {v['invariant']} at t={v['at']:.3f}: {v['detail']}" for v in r["violations"]])
