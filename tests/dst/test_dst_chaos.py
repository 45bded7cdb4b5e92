"""`make chaos` in CI: two short runs of the process-level crash campaign (`hedged sim` and the daemon as
processes on 127.0.0.1, SIGKILL at seeded instants, restarts on the same state dir, then SIGTERM; the
invariants read from the simulators' HTTP control surface and the journal file). Real time, real sockets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent


@pytest.fixture(scope="module")
def campaign() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hedged.dst.chaos", "--runs", "2", "--kills", "2", "--seconds", "15"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_the_daemon_is_killed_and_restarted_on_its_state_dir_and_the_venues_are_checked(campaign):
    out = campaign.stdout
    tally = dict(re.findall(r"(\w+)=(\d+)", out.splitlines()[-1]))
    assert out.splitlines()[-1].startswith("chaos_tally"), out + campaign.stderr
    assert tally["runs"] == "2" and tally["kills"] == "4", out
    assert int(tally["fills"]) > 0 and int(tally["hedges"]) > 0, out
    assert "harness" not in out, out
    # Each run's verdict is printed (violations=N, one line per violation); CI does not fail on it while
    # issues 11 and 12 are open, as a kill in real time hits their paths only sometimes.
    assert len(re.findall(r"^chaos seed=\d+ kills=2 exit=\d+ .* violations=\d+$", out, re.M)) == 2, out
