"""Fill -> hedge, measured from outside the daemon, side by side with the design it replaced (issue 15).

`hedged sim` and the daemon run as separate processes on 127.0.0.1; the daemon is in testnet mode on the
`sim-venues.toml` fragment and `sim.env` credentials `hedged sim` writes. The simulators stamp, with
CLOCK_MONOTONIC, each fill frame as they write it to the Extended account stream and each order as its
sendTx arrives at Lighter; the bench reads the stamps from `/_sim/stamps` once the daemon has stopped and
attributes hedges to fills by quantity and time (bench/attribution.py, rule in docs/benchmarks.md).

    python bench/fill_to_hedge.py [--fills 1000] [--tick 0.1] [--flow-rate 20] [--json out.json] ...

Prints p50/p90/p99/max over all maker fills and split into "executor idle" / "hedge already resting",
the time-weighted unhedged quantity, the same fills through the replaced design's rule (hedge an order's
whole quantity once it is FILLED, on a 0.5 s poll), and the ratio of medians and of p99s.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import profiler  # noqa: E402
from attribution import attribute, orig_replay, summary  # noqa: E402
from procs import DaemonProcess, SimProcess, cpu_times, mono, split_cpus, steal_pct  # noqa: E402

SLOW_S = 0.010  # the 10x target
# Lighter's minimum order is 10 USDC (min_quote_amount): about 0.067 SOL at the sim's ~150 USD. A maker fill
# that leaves less than that open (often the last piece of a maker order, or a fill that nets a residual of
# the other side) cannot be hedged by any order: it is reported as its own population, apart from the
# hedgeable fills (idle or queued); bench/attribution.py rule 3.
SMALL_QTY = Decimal("0.067")

# The bench's "1x" market: the default feed (one book step per 0.1 s) and a flow of other traders
# dense enough for ~1,000 maker fills in a few minutes. Sizes start at 0.07: Lighter's minimum order is 10 USD.
BASE_FLOW_RATE = 60.0
# The bench's daemon signs with four Lighter API keys (the primary and these), so a burst's hedges go out side
# by side; `--hedge-keys ""` (or hedge_keys=()) runs it with the one key main had.
POOL = (4, 5, 6)
SIM_DEFAULTS: dict[str, Any] = {"seed": 7, "tick_interval_s": 0.1, "flow_rate": BASE_FLOW_RATE,
                                "flow_size_min": "0.07", "flow_size_max": "0.15", "lighter_latency": "standard"}


def add_sim_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tick", type=float, default=SIM_DEFAULTS["tick_interval_s"], help="sim.tick_interval_s (feed step)")
    p.add_argument("--flow-rate", type=float, default=BASE_FLOW_RATE, help="sim.flow_rate (orders/s per side)")
    p.add_argument("--flow-size-min", default=SIM_DEFAULTS["flow_size_min"])
    p.add_argument("--flow-size-max", default=SIM_DEFAULTS["flow_size_max"])
    p.add_argument("--depth-levels", type=int, default=10)
    p.add_argument("--lighter-latency", choices=["zero", "standard", "premium"], default="standard")
    p.add_argument("--seed", type=int, default=7)


def sim_settings(a: argparse.Namespace) -> dict[str, Any]:
    return {"seed": a.seed, "tick_interval_s": a.tick, "flow_rate": a.flow_rate, "flow_size_min": a.flow_size_min,
            "flow_size_max": a.flow_size_max, "depth_levels": a.depth_levels, "lighter_latency": a.lighter_latency}


def run(sim: dict[str, Any], *, fills: int, max_seconds: float = 600, workdir: Path | None = None,
        daemon: dict[str, dict[str, Any]] | None = None, seed: int = 1, hedge_keys: tuple[int, ...] = POOL,
        keep_stamps: Path | None = None, profile: Path | None = None, pin: bool = False) -> dict[str, Any]:
    """One run: both processes up, until `fills` maker fills were written; then the figures.
    `hedge_keys`: the Lighter API keys beside the primary (venues.lighter.hedge_api_keys); () is one key."""
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="hedged-bench-")
        workdir = Path(tmp.name)
    cpus = split_cpus() if pin else None
    s = SimProcess(workdir, sim, hedge_keys=tuple(hedge_keys), cpus=cpus and cpus[1]).start()
    d = DaemonProcess(workdir, s, workdir / "daemon-state", overrides=daemon or {}, notify=True,
                      cpus=cpus and cpus[0])
    try:
        d.start()
        d.wait_ready()
        t_ready, cpu_ready, rss_ready, stat_ready = mono(), d.cpu_s(), d.rss_mb(), cpu_times()
        spy = profiler.start(d.proc.pid, profile) if profile is not None else None
        deadline = t_ready + max_seconds
        while s.counts()[0].get("fills", 0) < fills and mono() < deadline:
            if d.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {d.proc.returncode}; see {d.log_path}")
            time.sleep(0.25)
        t_end, cpu_end, rss_end, stat_end = mono(), d.cpu_s(), d.rss_mb(), cpu_times()
        if spy is not None:
            profiler.stop(spy)
        stop_s, code = d.terminate()
        ext, lig = s.stamps()
    finally:
        d.kill()
        s.stop()
    if keep_stamps is not None:
        keep_stamps.write_text(json.dumps({"extended": ext, "lighter": lig}))
    res = attribute(ext, lig, small_qty=SMALL_QTY)
    orig = orig_replay(ext, seed=seed)
    ours = summary(res.latencies)
    base = summary(orig)
    out = {
        "sim": sim,
        "hedge_keys": list(hedge_keys),
        "fills": res.fills,
        "unhedged_fills": res.unhedged_fills,
        "wall_s": t_end - t_ready,
        "cpu_pct": 100 * (cpu_end - cpu_ready) / max(t_end - t_ready, 1e-9),
        "steal_pct": steal_pct(stat_ready, stat_end),
        "pinned": None if cpus is None else [sorted(cpus[0]), sorted(cpus[1])],
        "rss_mb": [rss_ready, rss_end],
        "stop_s": stop_s,
        "exit_code": code,
        "all": ours,
        "idle": summary(res.idle),
        "resting": summary(res.resting),
        "small": summary(res.small),
        "time_weighted_unhedged": float(res.time_weighted_unhedged),
        "max_unhedged": float(res.max_unhedged),
        "orig": base,
        "ratio_p50": base["p50"] / ours["p50"] if ours["p50"] else math.inf,
        "ratio_p99": base["p99"] / ours["p99"] if ours["p99"] else math.inf,
        "hedge_txs": sum(1 for t in lig.get("txs", []) if t["type"] == 14),
        "dropped": {**ext.get("dropped", {}), **lig.get("dropped", {})},
        "hedges_rested_1s": rested_longer(lig, 1.0),
        "modifies": sum(1 for t in lig.get("txs", []) if t["type"] == 17),
        **tail(res.traces),
    }
    if tmp is not None:
        tmp.cleanup()
    return out




def tail(traces: list) -> dict[str, Any]:
    """The fills slower than SLOW_S (never hedged included): how many were below Lighter's minimum order, how
    many of those no hedge covered at all (a later opposite maker fill netted them), and the slowest 15."""
    t0 = traces[0][0] if traces else 0.0
    slow = sorted(((lat if lat is not None else math.inf), t - t0, q, by, small) for t, q, lat, by, small in traces
                  if lat is None or lat > SLOW_S)
    small = [x for x in slow if x[4]]
    return {"slow_n": len(slow), "slow_small": len(small), "slow_netted": sum(1 for x in small if x[3] == "fill"),
            "slow_small_max": max((x[0] for x in small if x[0] < math.inf), default=math.nan),  # never hedged:
            "slow_other_max": max((x[0] for x in slow if not x[4] and x[0] < math.inf),  # counted
                                  default=math.nan),  # as such (unhedged_fills)
            "slowest": [{"lat": x[0], "t": x[1], "qty": str(x[2]), "by": x[3]} for x in slow[::-1][:15]]}


def rested_longer(lig: dict[str, Any], seconds: float) -> int:
    """Lighter orders that were live longer than `seconds` (arrival to final status)."""
    ends = {o["client"]: o["t"] for o in lig.get("orders", [])}
    return sum(1 for t in lig.get("txs", []) if t["type"] == 14 and ends.get(t["client"], math.inf) - t["t"] > seconds)


def _ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{x * 1e3:,.1f}"


def describe(r: dict[str, Any]) -> str:
    def row(name: str, st: dict[str, float]) -> str:
        return (f"  {name:<24} n={st['n']:>5}  p50 {_ms(st['p50']):>8} ms  p90 {_ms(st['p90']):>8} ms  "
                f"p99 {_ms(st['p99']):>8} ms  max {_ms(st['max']):>8} ms")

    sim = r["sim"]
    lines = [
        f"fill -> hedge, tick {sim['tick_interval_s']} s, flow {sim['flow_rate']}/s, "
        f"{r['fills']} maker fills in {r['wall_s']:.0f} s, {r['hedge_txs']} hedge orders ({r['hedges_rested_1s']} live > 1 s, "
        f"{r['modifies']} modifies), daemon CPU {r['cpu_pct']:.0f}%, Lighter API keys {1 + len(r.get('hedge_keys', []))}, "
        f"machine steal {r.get('steal_pct', math.nan):.1f}%, "
        + (f"pinned: daemon CPUs {r['pinned'][0]}, sims {r['pinned'][1]}" if r.get("pinned") else "not pinned"),
        row("all fills", r["all"]),
        row("hedgeable, executor idle", r["idle"]),
        row("hedgeable, hedge resting", r["resting"]),
        row("below the minimum order", r["small"]),
        row("replaced design (orig)", r["orig"]),
        f"  time-weighted unhedged qty {r['time_weighted_unhedged']:.3f} (max {r['max_unhedged']:.3f}); "
        f"fills never hedged: {r['unhedged_fills']}",
        f"  ratio orig/ours: p50 {r['ratio_p50']:.1f}x  p99 {r['ratio_p99']:.1f}x  (target >= 50x at both)",
        f"  fills over {SLOW_S * 1e3:.0f} ms: {r['slow_n']} (max {_ms(r['slow_other_max'])} ms), of which below "
        f"Lighter's minimum order: {r['slow_small']} (max {_ms(r['slow_small_max'])} ms; {r['slow_netted']} covered "
        "only by a later opposite maker fill)",
        "  slowest (t s, qty, ms, covered by): "
        + ", ".join(f"{x['t']:.1f} {x['qty']} {_ms(x['lat'])} {x['by']}" for x in r["slowest"][:8]),
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_sim_args(p)
    p.add_argument("--fills", type=int, default=1000, help="maker fills per run (default 1000)")
    p.add_argument("--max-seconds", type=float, default=600, help="stop a run after this long regardless")
    p.add_argument("--tier", choices=["standard", "premium"], default="premium",
                   help="the daemon's venues.lighter.tier (client-side sendTx budget; see docs/benchmarks.md)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--stamps", type=Path, help="also write the raw stamps here (to re-attribute or debug)")
    p.add_argument("--workdir", type=Path, help="keep configs and logs here (default: a temporary dir)")
    p.add_argument("--pin", action="store_true",
                   help="the simulators on the last CPU, the daemon on the others (see docs/benchmarks.md)")
    p.add_argument("--hedge-keys", default=",".join(map(str, POOL)),
                   help='Lighter API keys beside the primary, comma-separated ("" = one key)')
    a = p.parse_args()
    if a.workdir:
        a.workdir.mkdir(parents=True, exist_ok=True)
    r = run(sim_settings(a), fills=a.fills, max_seconds=a.max_seconds, seed=a.seed, keep_stamps=a.stamps,
            workdir=a.workdir, daemon={"venues.lighter": {"tier": a.tier}}, pin=a.pin,
            hedge_keys=tuple(int(k) for k in a.hedge_keys.split(",") if k.strip()))
    print(describe(r))
    if a.json:
        a.json.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
