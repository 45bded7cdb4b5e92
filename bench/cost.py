"""Cost growth of the daemon process (issue 15 point 4), measured from outside through /proc.

* CPU % (of one core, the daemon process alone) and fill -> hedge p99 at 1x, 3x and 10x depth feed (sim tick
  0.1 / 0.033 / 0.01 s) and at 1x and 3x flow of other traders, each a bench/fill_to_hedge.py run.
* RSS over 1,000,000 simulated events: the daemon trades on a feed of one market step every 1 ms (the config's
  lowest tick) while
  the bench samples its VmRSS every 10,000 events (book frames the Extended sim wrote plus maker fills).
  Growth = last sample - first sample (the first 10,000 events are warm-up). `hedged sim` steps at about
  500 events/s on this machine, so 1,000,000 events take about half an hour: `make bench` stops after a
  time budget and also prints the least-squares slope scaled to 1,000,000 events, labelled as such.

* Ledger cost by journal size (issue 12 point 12, `--only journal`): RSS and CPU per fill of the ledger (core,
  async service, SQLite journal: the daemon's ledger without the venues) after N journaled fills, in a fresh
  process per size, then a restart on that journal (open time, RSS) and CPU per fill after it. The simulators
  make ~5 fills/s, far too few for 1,000,000, so the fills are generated: maker fills alternating BUY/SELL, each
  followed by its hedge, every order settled (OPEN, its trade, FILLED), venue time advancing 200 ms a cycle
  (10 fills/s of venue time, twice what the simulators give the daemon), a journal batch every 50 cycles.
  `--code DIR` measures another checkout's `hedged` (e.g. `git archive main hedged | tar -x -C DIR`; also
  for `--only rss`: the daemon and simulators import it), so a before/after pair runs the same workload; `--report docs/benchmarks.md` rewrites the section between this
  mode's own `generated` markers from `--json` files (`--before A.json --after B.json`).

    python bench/cost.py [--fills 300] [--events 1000000] [--rss-seconds 2400] [--only growth|rss|journal]
                         [--sizes 10000,1000000] [--code DIR] [--json out.json]
    python bench/cost.py --report docs/benchmarks.md --before before.json --after after.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
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


# ---- ledger cost by journal size (issue 12 point 12) ------------------------------------------

JOURNAL_BEGIN = "<!-- generated by bench/cost.py --only journal: begin -->"
JOURNAL_END = "<!-- generated by bench/cost.py --only journal: end -->"
CYCLE_MS = 200  # venue time per cycle (two fills)
BATCH = 50  # cycles per journal commit
WINDOW = 10_000  # fills over which CPU per fill is taken


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def _worker(phase: str, path: Path, fills: int) -> dict[str, Any]:
    """Runs in its own process (`--journal-worker`): build a journal of `fills` fills, or restart on one."""
    import gc  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    from loguru import logger  # noqa: PLC0415

    import hedged  # noqa: PLC0415
    from hedged.ledger import Journal, Leg, Ledger, LedgerCore, Roles  # noqa: PLC0415
    from hedged.venues.base import Liquidity, OrderStatus, OrderUpdate, Side, Trade, Venue  # noqa: PLC0415

    logger.remove()
    maker, hedge = Leg(Venue.EXTENDED, "SOL-USD"), Leg(Venue.LIGHTER, "SOL")
    qty, price, zero = Decimal("0.5"), Decimal("142.37"), Decimal(0)
    S = OrderStatus

    def cycle(led: Any, i: int) -> None:
        ts = 1_700_000_000_000 + CYCLE_MS * i
        side = Side.BUY if i % 2 else Side.SELL
        other = Side.SELL if i % 2 else Side.BUY
        led.register_order(maker, f"m{i}", side, qty, ts_ms=ts)
        led.apply(OrderUpdate(maker.venue, maker.market, f"x{i}", f"m{i}", side, S.OPEN, qty, zero, ts_ms=ts))
        led.apply(Trade(maker.venue, maker.market, f"tx{i}", f"x{i}", f"m{i}", side, qty, price, zero, Liquidity.MAKER,
                        ts_ms=ts))
        led.apply(OrderUpdate(maker.venue, maker.market, f"x{i}", f"m{i}", side, S.FILLED, qty, qty, ts_ms=ts))
        led.register_hedge(f"h{i}", other, qty, ts_ms=ts)
        led.apply(Trade(hedge.venue, hedge.market, f"ty{i}", f"y{i}", f"h{i}", other, qty, price, zero,
                        Liquidity.TAKER, ts_ms=ts + 5))
        led.apply(OrderUpdate(hedge.venue, hedge.market, f"y{i}", f"h{i}", other, S.FILLED, qty, qty, ts_ms=ts + 5))

    def run(led: Any, start: int, cycles: int) -> tuple[float, float]:
        """CPU s per fill over the last WINDOW fills (or all, if fewer), wall s overall."""
        t0, w0 = time.process_time(), time.perf_counter()
        mark, marked = start + cycles - min(cycles, WINDOW // 2), None
        for i in range(start, start + cycles):
            if i == mark:
                marked = time.process_time()
            cycle(led, i)
            if i % BATCH == BATCH - 1:
                led.flush()
        led.flush()
        window = start + cycles - mark
        return (time.process_time() - (marked if marked is not None else t0)) / (2 * window), time.perf_counter() - w0

    roles = Roles(maker, hedge)
    out: dict[str, Any] = {"hedged": str(Path(hedged.__file__).parent), "phase": phase}
    if phase == "build":
        led = Ledger.open(roles, path)
        cpu, wall = run(led, 0, fills // 2)
        gc.collect()
        out.update(fills=fills, cpu_us_per_fill=cpu * 1e6, wall_s=wall, rss_mb=_rss_mb(),
                   in_memory=len(led.core.orders))
        led.close()
    else:
        rss0 = _rss_mb()
        # What Ledger.open does, timed in two parts: the file's open (schema, PRAGMA quick_check) and the replay.
        w0, c0 = time.perf_counter(), time.process_time()
        journal = Journal.open(path)
        w1 = time.perf_counter()
        core = LedgerCore(roles)
        info = journal.load(core)
        if hasattr(journal, "archive"):
            core.archive = journal.archive()
        led = Ledger(core, journal, replay=info)
        open_s, open_cpu = time.perf_counter() - w0, time.process_time() - c0
        check_s, replay_s = w1 - w0, time.perf_counter() - w1
        gc.collect()
        rss_open = _rss_mb()
        cpu, _ = run(led, fills // 2, WINDOW // 2)
        gc.collect()
        out.update(fills=fills, open_s=open_s, open_cpu_s=open_cpu, check_s=check_s, replay_s=replay_s, rss_before_open_mb=rss0, rss_open_mb=rss_open,
                   rss_after_mb=_rss_mb(), cpu_us_per_fill=cpu * 1e6, in_memory=len(led.core.orders))
        led.close()
    out["journal_mb"] = path.stat().st_size / 2**20
    return out


def _spawn(phase: str, path: Path, fills: int, code: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, __file__, "--journal-worker", phase, str(path), str(fills)],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"journal worker {phase} {fills} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def journal_cost(sizes: list[int], code: Path | None = None) -> dict[str, Any]:
    """Per size: a fresh process builds the journal (RSS and CPU/fill at the end), a second one restarts on it."""
    points = []
    load0 = _load()
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="hedged-jcost-") as d:
            path = Path(d) / "ledger.sqlite3"
            build = _spawn("build", path, n, code)
            restart = _spawn("restart", path, n, code)
        points.append({"fills": n, "build": build, "restart": restart})
        print(describe_journal_point(points[-1]), flush=True)
    return {"points": points, "code": points[0]["build"]["hedged"] if points else str(code),
            "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), "load": f"{load0} -> {_load()}"}


def _load() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def describe_journal_point(p: dict[str, Any]) -> str:
    b, r = p["build"], p["restart"]
    return (f"  {p['fills']:>9,} fills: running RSS {b['rss_mb']:7.1f} MB, CPU {b['cpu_us_per_fill']:6.1f} us/fill, "
            f"{b['in_memory']:,} orders in memory ({b['wall_s']:.0f} s to build, journal {b['journal_mb']:.0f} MB); "
            f"restart: open {r['open_s']:.2f} s (replay {r['replay_s']:.2f} s), RSS {r['rss_open_mb']:.1f} MB, then {r['cpu_us_per_fill']:.1f} us/fill")


def describe_journal(res: dict[str, Any]) -> str:
    return "\n".join([f"ledger cost by journal size ({res['code']})"] + [describe_journal_point(p) for p in res["points"]])


def _slope(points: list[dict[str, Any]], key: str) -> float:
    pts = [(p["fills"], p["build"][key]) for p in points]
    return 1024 * slope_mb_per_event(pts) if len(pts) >= 2 else math.nan


def render_journal(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    runs = [("before", before), ("after", after)] if before else [("after", after)]
    loads = "; ".join(f"{label} run {r['started']}, load average {r['load']}" if r.get("load") else
                      f"{label} run {r['started']}" for label, r in runs)
    L = [JOURNAL_BEGIN, "", f"Generated by `python bench/cost.py --report` from `--only journal` runs ({loads}); "
         "one fresh process per figure. \"before\" is the ledger of the commit before issue 12 point 12, "
         "\"after\" this tree's.", "",
         "| journaled fills | code | RSS running | CPU per fill running | orders in memory | restart: open file "
         "(quick_check) | restart: replay | restart: RSS | CPU per fill after restart | journal size |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    sizes = sorted({p["fills"] for _, r in runs for p in r["points"]})
    for n in sizes:
        for label, r in runs:
            p = next((p for p in r["points"] if p["fills"] == n), None)
            if p is None:
                L.append(f"| {n:,} | {label} | not measured | | | | | | | |")
                continue
            b, s = p["build"], p["restart"]
            L.append(f"| {n:,} | {label} | {b['rss_mb']:.1f} MB | {b['cpu_us_per_fill']:.1f} µs | {b['in_memory']:,} | "
                     f"{s['check_s']:.2f} s | {s['replay_s']:.2f} s | {s['rss_open_mb']:.1f} MB | {s['cpu_us_per_fill']:.1f} µs | "
                     f"{b['journal_mb']:.0f} MB |")
    L.append("")
    for label, r in runs:
        if len(r["points"]) >= 2:
            lo, hi = r["points"][0], r["points"][-1]
            L.append(f"- {label}: RSS slope between {lo['fills']:,} and {hi['fills']:,} fills "
                     f"**{_slope([lo, hi], 'rss_mb'):+.2f} KB per fill**; restart replay "
                     f"{lo['restart']['replay_s']:.2f} s -> {hi['restart']['replay_s']:.2f} s, RSS after it "
                     f"{lo['restart']['rss_open_mb']:.1f} -> {hi['restart']['rss_open_mb']:.1f} MB.")
    daemon = [(label, r["rss"]) for label, r in (("before", before or {}), ("after", after)) if "rss" in (r or {})]
    if daemon:
        L += ["", "The whole daemon against the simulators (`python bench/cost.py --only rss`, same `--code` for before; "
              "a 1 ms tick, so mostly book frames, and the fills the simulators make in the time budget):", "",
              "| code | simulated events | maker fills | RSS after 10k events | RSS at the end | growth | per maker fill | "
              "slope scaled to 1,000,000 events |", "|---|---|---|---|---|---|---|---|"]
        for label, x in daemon:
            per_fill = 1024 * x["growth_mb"] / max(x["fills"], 1)
            L.append(f"| {label} | {x['events']:,} | {x['fills']:,} | {x['rss_first_mb']:.1f} MB | {x['rss_last_mb']:.1f} MB | "
                     f"{x['growth_mb']:+.1f} MB | {per_fill:+.1f} KB | {x['per_1m_mb']:+.1f} MB |")
    L += ["", JOURNAL_END]
    return "\n".join(L)


def write_journal_report(out: Path, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    import report  # noqa: PLC0415 - report imports this module

    report.rewrite(out, render_journal(before, after), begin=JOURNAL_BEGIN, end=JOURNAL_END)


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
    p.add_argument("--only", choices=["growth", "rss", "journal"])
    p.add_argument("--sizes", default="10000,1000000", help="journaled fills per point of --only journal")
    p.add_argument("--code", type=Path, help="directory holding the `hedged` package to measure (journal, rss)")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", type=Path, metavar="MD", help="rewrite the journal section of MD from --before/--after")
    p.add_argument("--before", type=Path, nargs="+", metavar="JSON", help="--json files of the before code")
    p.add_argument("--after", type=Path, nargs="+", metavar="JSON", help="--json files of this tree")
    p.add_argument("--journal-worker", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.journal_worker:
        phase, path, fills = a.journal_worker
        print(json.dumps(_worker(phase, Path(path), int(fills))))
        return 0
    if a.report:
        def merged(paths: list[Path] | None) -> dict[str, Any] | None:
            if not paths:
                return None
            out: dict[str, Any] = {}
            for path in paths:
                out.update(json.loads(path.read_text()))
            return {**out.get("journal", {}), **({"rss": out["rss"]} if "rss" in out else {})}

        write_journal_report(a.report, merged(a.before), merged(a.after))
        print(f"wrote {a.report}")
        return 0
    out: dict[str, Any] = {}
    if a.code is not None:  # the daemon and simulator processes import `hedged` from there too
        os.environ["PYTHONPATH"] = str(a.code) + os.pathsep + os.environ.get("PYTHONPATH", "")
    if a.only == "journal":
        out["journal"] = journal_cost([int(x) for x in a.sizes.split(",")])
        print(describe_journal(out["journal"]))
        if a.json:
            a.json.write_text(json.dumps(out, indent=1, default=str))
        return 0
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
