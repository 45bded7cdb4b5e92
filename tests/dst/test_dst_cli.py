"""`hedged dst` as an operator runs it: a process, one line per seed, a tally, and for a violation the
command that replays it and the trace leading up to it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

from hedged.dst import cli

ROOT = Path(__file__).parent.parent.parent


def test_hedged_dst_runs_a_seed_as_a_process_and_prints_its_line_and_the_tally(tmp_path):
    out = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, "-m", "hedged.cli", "dst", "--seed", "2", "--minutes", "0.5",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("seed=2 ok=True ")
    assert "dst_tally seeds=1 virtual_hours=0.01 " in proc.stdout
    (r,) = map(json.loads, out.read_text().splitlines())
    assert r["seed"] == 2 and r["ok"] and r["fills"] > 0


def test_a_violation_prints_the_replay_command_the_likely_issue_and_the_trace_before_it():
    trace = "".join(f"{t:10.3f} | event{t}\n" for t in (1.0, 2.0, 3.0, 9.0))
    r = {"seed": 41, "ok": False, "summary": "seed=41 ok=False", "trace": trace, "hint": "issue 11: x",
         "violations": [{"invariant": 2, "at": 3.0, "detail": "ledger differs"}]}
    args = cli.build_args(["--seed", "41"])
    buf = io.StringIO()
    with redirect_stdout(buf):
        cli._report(r, args, {}, None)  # noqa: SLF001
    text = buf.getvalue()
    assert "violation invariant=2 t=3.000 ledger differs" in text
    assert "likely: issue 11: x" in text and "reproduce: make dst SEED=41" in text
    assert "event3.0" in text and "event9.0" not in text  # the trace up to the first violation


def test_without_seeds_it_says_what_to_give():
    proc = subprocess.run([sys.executable, "-m", "hedged.cli", "dst"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode != 0 and "--seed N" in proc.stderr
