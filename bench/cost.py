"""Cost growth of the daemon process (issue 15 point 4), measured from outside through /proc.

* CPU % (of one core, the daemon process alone) and fill -> hedge p99 at 1x, 3x and 10x depth feed (sim tick
  0.1 / 0.033 / 0.01 s) and at 1x and 3x flow of other traders, each a bench/fill_to_hedge.py run.
* RSS over 1,000,000 simulated events: the daemon trades on a feed of one market step every 1 ms (the config's
  lowest tick) while
  the bench samples its VmRSS every 10,000 events (book frames the Extended sim wrote plus maker fills).
  Growth = last sample - first sample (the first 10,000 events are warm-up). `hedged sim` steps at about
  500 events/s on this machine, so 1,000,000 events take about half an hour: `make bench` stops after a
  time budget and also prints the least-squares slope scaled to 1,000,000 events, labelled as such.

    python bench/cost.py [--fills 300] [--events 1000000] [--rss-seconds 2400] [--only growth|rss] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fill_to_hedge  # noqa: E402
from procs import DaemonProcess, SimProcess, mono  # noqa: E402

FEEDS = {"1x": 0.1, "3x": 0.1 / 3, "10x": 0.01}
FLOWS = {"1x": 1.0, "3x": 3.0}
RSS_TICK = 0.001  # the config's lower bound for sim.tick_interval_s
RSS_SAMPLE_EVERY = 10_000


def point(feed: str, flow: str, fills: int) -> dict[str, Any]:
    sim = dict(fill_to_hedge.SIM_DEFAULTS, tick_interval_s=FEEDS[feed],
               flow_rate=fill_to_hedge.BASE_FLOW_RATE * FLOWS[flow])
    r = fill_to_hedge.run(sim, fills=fills)
    return {"feed": feed, "flow": flow, "fills": r["fills"], "cpu_pct": r["cpu_pct"], "p99": r["all"]["p99"],
            "p50": r["all"]["p50"], "run": r}


def growth(fills: int, have: dict[tuple[str, str], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every (feed, flow) point; `have` supplies points already measured (the headline runs)."""
    have = have or {}
    grid = [("1x", "1x"), ("3x", "1x"), ("10x", "1x"), ("1x", "3x")]
    return [have.get(k) or point(*k, fills) for k in grid]


def events(s: SimProcess) -> int:
    counts, _ = s.counts()
    return counts.get("book_frames", 0) + counts.get("fills", 0)


def slope_mb_per_event(samples: list[tuple[int, float]]) -> float:
    """Least-squares MB per event over the samples (NaN with fewer than two)."""
    if len(samples) < 2:
        return math.nan
    n = len(samples)
    mx = sum(e for e, _ in samples) / n
    my = sum(m for _, m in samples) / n
    var = sum((e - mx) ** 2 for e, _ in samples)
    return sum((e - mx) * (m - my) for e, m in samples) / var if var else math.nan


def rss(total: int = 1_000_000, max_seconds: float = 2400) -> dict[str, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="hedged-rss-")
    work = Path(tmp.name)
    sim = dict(fill_to_hedge.SIM_DEFAULTS, tick_interval_s=RSS_TICK)
    s = SimProcess(work, sim).start()
    d = DaemonProcess(work, s, work / "state", notify=True)
    samples: list[tuple[int, float]] = []
    try:
        d.start()
        d.wait_ready()
        t0, cpu0, base = mono(), d.cpu_s(), events(s)
        next_at = RSS_SAMPLE_EVERY
        while mono() - t0 < max_seconds:
            n = events(s) - base
            if n >= next_at:
                samples.append((n, d.rss_mb()))
                next_at += RSS_SAMPLE_EVERY
                if n >= total:
                    break
            if d.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {d.proc.returncode}; see {d.log_path}")
            time.sleep(0.2)
        wall, cpu = mono() - t0, d.cpu_s() - cpu0
        d.terminate()
        fills = s.counts()[0].get("fills", 0)
    finally:
        d.kill()
        s.stop()
        tmp.cleanup()
    if not samples:
        raise RuntimeError(f"fewer than {RSS_SAMPLE_EVERY:,} events in {max_seconds:.0f} s")
    first, last = samples[0][1], samples[-1][1]
    slope = slope_mb_per_event(samples)
    return {"events": samples[-1][0], "samples": samples, "growth_mb": last - first, "rss_first_mb": first,
            "rss_last_mb": last, "wall_s": wall, "events_per_s": samples[-1][0] / wall, "cpu_pct": 100 * cpu / wall,
            "fills": fills, "tick": RSS_TICK, "complete": samples[-1][0] >= total,
            "per_1m_mb": slope * 1_000_000, "target_events": total}


def describe_growth(points: list[dict[str, Any]]) -> str:
    lines = ["cost growth (daemon process: CPU % of one core, fill -> hedge p99 over all fills)"]
    for p in points:
        lines.append(f"  feed {p['feed']:>3} flow {p['flow']:>2}: CPU {p['cpu_pct']:5.1f}%  "
                     f"p99 {p['p99'] * 1e3:8.1f} ms  p50 {p['p50'] * 1e3:7.1f} ms  ({p['fills']} fills)")
    return "\n".join(lines)


def describe_rss(r: dict[str, Any]) -> str:
    pts = "  ".join(f"{n // 1000}k:{mb:.1f}" for n, mb in r["samples"])
    scaled = "" if r["complete"] else f"; slope scaled to {r['target_events']:,} events: {r['per_1m_mb']:+.1f} MB"
    return (f"RSS over {r['events']:,} simulated events ({r['events_per_s']:,.0f}/s, {r['fills']} fills, daemon CPU "
            f"{r['cpu_pct']:.0f}%): {r['rss_first_mb']:.1f} -> {r['rss_last_mb']:.1f} MB, growth "
            f"{r['growth_mb']:+.1f} MB{scaled} (target <= 10 over 1,000,000)\n  samples (events:MB) {pts}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fills", type=int, default=300, help="maker fills per growth point")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--rss-seconds", type=float, default=2400, help="time budget of the RSS run")
    p.add_argument("--only", choices=["growth", "rss"])
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    out: dict[str, Any] = {}
    if a.only != "rss":
        out["growth"] = growth(a.fills)
        print(describe_growth(out["growth"]))
    if a.only != "growth":
        out["rss"] = rss(a.events, a.rss_seconds)
        print(describe_rss(out["rss"]))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
