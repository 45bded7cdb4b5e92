"""Daemon lifecycle from outside: start -> READY=1, SIGTERM -> exit with makers cancelled (issue 15 point 3).

One `hedged sim` process serves every run; the daemon is started again and again against it, each time with
a NOTIFY_SOCKET this bench creates (an AF_UNIX datagram socket, as systemd's):

* start -> READY=1, cold (an empty state dir) and warm (the state dir the previous run left: its journal
  is replayed and reconciled against the venues);
* SIGTERM -> process exit, idle (a maker order resting, no hedge in flight) and with a hedge resting (a
  Lighter order arrived and not yet ended: the standard account holds a taker 300 ms), then the
  simulators' truth: no maker order left open on Extended, and the hedge ended.

    python bench/lifecycle.py [--runs 5] [--json out.json]

Prints min / median / max of each over the runs. The "hedge resting" moment is found by polling the
Lighter stamps; the stamps then confirm, per run, that a hedge really was live when SIGTERM was sent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import PYTHON, DaemonProcess, SimProcess, mono, wait_for  # noqa: E402

# A quiet market (the shipped flow rate): most of the time a maker order rests and nothing is hedging.
SIM = {"seed": 11, "tick_interval_s": 0.1, "flow_rate": 2.0, "flow_size_min": "0.07", "flow_size_max": "0.3",
       "lighter_latency": "standard"}


def _maker_resting(s: SimProcess) -> bool:
    ext, _ = s.truth()
    return bool(ext["openOrders"])


def _hedge_in_flight(s: SimProcess) -> bool:
    _, lig = s.stamps()  # small in this quiet market; `now` is the sim's CLOCK_MONOTONIC reading
    return _live_at(lig, lig["now"])


def _live_at(lig: dict[str, Any], t: float) -> bool:
    ends = {o["client"]: o["t"] for o in lig.get("orders", [])}
    return any(tx["type"] == 14 and tx["t"] <= t < ends.get(tx["client"], float("inf")) for tx in lig.get("txs", []))


def one_run(s: SimProcess, workdir: Path, state: Path, *, hedge: bool) -> dict[str, Any]:
    d = DaemonProcess(workdir, s, state, notify=True)
    d.start()
    try:
        ready_s = d.wait_ready()
        if hedge:
            wait_for(lambda: _hedge_in_flight(s), 120, "a hedge in flight", every=0.005)
        else:
            wait_for(lambda: _maker_resting(s) and not _hedge_in_flight(s), 60, "a resting maker order")
        t_term = mono()
        stop_s, code = d.terminate()
    finally:
        d.kill()
    time.sleep(0.4)  # let the sim's sequencer run a hedge that was still queued when the daemon exited
    ext, lig = s.truth()
    _, lig_stamps = s.stamps()
    return {"ready_s": ready_s, "stop_s": stop_s, "exit_code": code, "makers_left": len(ext["openOrders"]),
            "hedge_live_at_sigterm": _live_at(lig_stamps, t_term), "lighter_open": len(lig["openOrders"])}


def import_seconds(runs: int) -> list[float]:
    """Interpreter start plus importing what the daemon imports, alone: the floor under start -> READY."""
    out = []
    for _ in range(runs):
        t0 = mono()
        subprocess.run([PYTHON, "-c", "import hedged.daemon, hedged.cli, hedged.engine"], check=True)
        out.append(mono() - t0)
    return out


def run(runs: int = 5) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hedged-lifecycle-"))
    s = SimProcess(tmp, SIM).start()
    rows: dict[str, list[dict[str, Any]]] = {"cold_idle": [], "warm_hedge": []}
    try:
        for i in range(runs):
            state = tmp / f"state-{i}"
            # cold start (fresh state dir), stopped while idle; then warm start on that dir, stopped mid-hedge
            rows["cold_idle"].append(one_run(s, tmp, state, hedge=False))
            rows["warm_hedge"].append(one_run(s, tmp, state, hedge=True))
    finally:
        s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out = summarise(rows)
    out["imports"] = _mmm(import_seconds(runs))
    return out


def _mmm(xs: list[float]) -> dict[str, float]:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def summarise(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    cold, warm = rows["cold_idle"], rows["warm_hedge"]
    return {
        "ready_cold": _mmm([r["ready_s"] for r in cold]),
        "ready_warm": _mmm([r["ready_s"] for r in warm]),
        "stop_idle": _mmm([r["stop_s"] for r in cold]),
        "stop_hedge": _mmm([r["stop_s"] for r in warm]),
        "exit_codes": sorted({r["exit_code"] for r in cold + warm}),
        "makers_left": sum(r["makers_left"] for r in cold + warm),
        "lighter_left": sum(r["lighter_open"] for r in cold + warm),
        "hedge_confirmed": sum(r["hedge_live_at_sigterm"] for r in warm),
        "runs": rows,
    }


def describe(r: dict[str, Any]) -> str:
    def row(name: str, m: dict[str, float]) -> str:
        return f"  {name:<36} min {m['min']:.3f} s  median {m['median']:.3f} s  max {m['max']:.3f} s  (n={m['n']})"

    n = r["stop_hedge"]["n"]
    return "\n".join([
        "lifecycle (daemon process, NOTIFY_SOCKET owned by the bench)",
        row("start -> READY=1, cold state dir", r["ready_cold"]),
        row("start -> READY=1, warm state dir", r["ready_warm"]),
        row("SIGTERM -> exit, idle", r["stop_idle"]),
        row("SIGTERM -> exit, hedge resting", r["stop_hedge"]),
        row("python start + daemon imports alone", r["imports"]),
        f"  exit codes {r['exit_codes']}; maker orders left open on Extended: {r['makers_left']}; "
        f"Lighter orders left open: {r['lighter_left']}; hedge confirmed live at SIGTERM in {r['hedge_confirmed']}/{n} runs",
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    r = run(a.runs)
    print(describe(r))
    if a.json:
        a.json.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
