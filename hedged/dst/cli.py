"""`hedged dst`: run seeds, print one line per seed, and for a violation how to replay it and its trace.

    hedged dst --seed 12                 one seed (what `make dst SEED=12` runs)
    hedged dst --seeds 1..200 --jobs 2   a range, in two processes
    hedged dst --seeds-file tests/dst/ci_seeds.txt --known tests/dst/known_failures.txt
    hedged dst --seed 12 --shrink        also look for the shortest fault list that still fails
    hedged dst --seed 12 --only 0,3      replay with only these actions of the seed's plan

Exit 0 when every seed kept every invariant (seeds in `--known` may fail: they wait on the issue named
there), else 1. The trace of a seed depends only on the seed, byte for byte, in any process: string
hashing is pinned (PYTHONHASHSEED=0, re-exec'd if needed) since set order can steer the daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from hedged.dst.known import read_known

TRACE_TAIL = 80


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dst", help="deterministic simulation of the whole daemon (see docs/dst.md)")
    p.add_argument("--seed", type=int, help="one seed")
    p.add_argument("--seeds", help="a range A..B (inclusive)")
    p.add_argument("--seeds-file", type=Path, help="one seed per line (# comments)")
    p.add_argument("--minutes", type=float, default=3.0, help="virtual minutes per seed (default 3)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--known", type=Path, help="seeds allowed to fail: 'SEED issue-N reason' per line")
    p.add_argument("--scenario", help="run fault-catalogue scenario N (docs/faults.md), or 'all'")
    p.add_argument("--only", help="replay only these action indexes of the seed's plan (comma separated)")
    p.add_argument("--shrink", action="store_true", help="find a shorter fault list that still fails")
    p.add_argument("--trace", action="store_true", help="print the whole trace of every seed")
    p.add_argument("--json", type=Path, help="write one JSON object per seed to this file")
    p.add_argument("--quiet", action="store_true", help="only the tally (soak)")


def _pool(jobs: int) -> ProcessPoolExecutor:
    # Spawned, not forked: a fork of a process that has loaded the Lighter signer (a Go runtime with its
    # own threads) can deadlock in the child.
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def build_args(argv: list[str]) -> argparse.Namespace:
    """`hedged dst ARGV` parsed on its own (tests)."""
    parser = argparse.ArgumentParser(prog="hedged")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["dst", *argv])


def read_seeds(path: Path) -> list[int]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(int(line.split()[0]))
    return out


def _seeds(args: argparse.Namespace) -> list[int]:
    if args.seed is not None:
        return [args.seed]
    if args.seeds:
        a, _, b = args.seeds.partition("..")
        return list(range(int(a), int(b or a) + 1))
    if args.seeds_file:
        return read_seeds(args.seeds_file)
    print("hedged dst: give --seed N, --seeds A..B or --seeds-file PATH", file=sys.stderr)
    raise SystemExit(2)


def _one(seed: int, minutes: float, only: list[int] | None, scenario: int | None = None) -> dict[str, Any]:
    from loguru import logger

    from hedged.dst.catalogue import SCENARIOS
    from hedged.dst.diagnose import hint
    from hedged.dst.plan import draw_plan
    from hedged.dst.runner import run_seed

    logger.remove()  # the trace has the daemon's log lines; nothing on stderr
    plan = list(SCENARIOS[scenario - 1].actions) if scenario is not None else draw_plan(seed, minutes)
    if only is not None:
        plan = [plan[i] for i in only]
    try:
        r = run_seed(seed, minutes, plan=plan)
    except Exception as exc:  # a harness defect: reported as a failing seed, never lost from the tally
        return {"seed": seed, "ok": False, "summary": f"seed={seed} ok=False harness_error={exc!r}", "trace": "",
                "violations": [{"invariant": 0, "at": 0.0, "detail": f"harness error {exc!r}"}],
                "plan": [a.describe() for a in plan], "virtual_s": 0.0, "fills": 0, "fills_while_down": 0,
                "hedges": 0, "crashes": 0, "stops": 0, "restarts": 0, "naked_qty_s": "0", "hint": "harness"}
    s = r.stats
    return {"seed": seed, "ok": r.ok, "summary": r.summary(), "trace": r.trace,
            "violations": [{"invariant": v.invariant, "at": v.at, "detail": v.detail} for v in r.violations],
            "plan": [a.describe() for a in r.plan], "virtual_s": s.virtual_s, "fills": s.fills_ext + s.fills_lig,
            "fills_while_down": s.fills_while_down, "hedges": r.trace.count("| hedge_sent "), "crashes": s.crashes,
            "stops": s.stops, "naked_qty_s": str(s.naked_qty_s), "faults_fired": s.faults_fired,
            "restarts": s.restarts, "venue_service_restarts": r.trace.count("| service_restarting name=venue:"),
            "funding_payments": s.funding_payments, "trades_left_out": s.trades_left_out,
            "payments_left_out": s.payments_left_out,
            "exits": r.exit_codes,
            "hint": hint(r.trace, min(v.at for v in r.violations)) if r.violations else "", "scenario": scenario}


def shrink(seed: int, minutes: float, invariants: set[int]) -> list[int]:
    """Greedy: drop one action at a time while the seed still breaks one of the same invariants."""
    from hedged.dst.plan import draw_plan

    keep = list(range(len(draw_plan(seed, minutes))))
    for i in reversed(list(keep)):
        trial = [k for k in keep if k != i]
        got = {v["invariant"] for v in _one(seed, minutes, trial)["violations"]}
        if got & invariants:
            keep = trial
    return keep


def run(args: argparse.Namespace) -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        os.execve(sys.executable, [sys.executable, "-m", "hedged.cli", *sys.argv[1:]], env)
    only = [int(x) for x in args.only.split(",") if x != ""] if args.only is not None else None
    if args.scenario is not None:
        return _run_scenarios(args, only)
    seeds = _seeds(args)
    known = read_known(args.known)
    results: list[dict[str, Any]] = []
    out = open(args.json, "w") if args.json else None  # noqa: SIM115 - written as results arrive
    try:
        if args.jobs > 1 and len(seeds) > 1:
            with _pool(args.jobs) as pool:
                stream = pool.map(_one, seeds, [args.minutes] * len(seeds), [only] * len(seeds), chunksize=1)
                for r in stream:
                    _report(r, args, known, out)
                    results.append(r)
        else:
            for seed in seeds:
                r = _one(seed, args.minutes, only)
                _report(r, args, known, out)
                results.append(r)
    finally:
        if out is not None:
            out.close()
    bad = [r for r in results if not r["ok"] and r["seed"] not in known]
    if args.shrink:
        for r in [r for r in results if not r["ok"]]:
            keep = shrink(r["seed"], args.minutes, {v["invariant"] for v in r["violations"]})
            print(f"shrunk seed={r['seed']}: {len(keep)} of {len(r['plan'])} actions still fail: "
                  f"hedged dst --seed {r['seed']} --minutes {args.minutes:g} --only {','.join(map(str, keep))}")
            for k in keep:
                print(f"    action {k}: {r['plan'][k]}")
    _tally(results, known)
    return 1 if bad else 0


def _run_scenarios(args: argparse.Namespace, only: list[int] | None) -> int:
    from hedged.dst.catalogue import BASE_SEED, MINUTES, SCENARIOS

    numbers = [s.n for s in SCENARIOS] if args.scenario == "all" else [int(args.scenario)]
    n = len(numbers)
    results: list[dict[str, Any]] = []
    out = open(args.json, "w") if args.json else None  # noqa: SIM115
    try:
        if args.jobs > 1 and n > 1:
            with _pool(args.jobs) as pool:
                got = list(pool.map(_one, [BASE_SEED] * n, [MINUTES] * n, [only] * n, numbers, chunksize=1))
        else:
            got = [_one(BASE_SEED, MINUTES, only, k) for k in numbers]
        for r in got:
            r["summary"] = f"scenario={r['scenario']} {r['summary']}"
            _report(r, args, {}, out)
            results.append(r)
    finally:
        if out is not None:
            out.close()
    _tally(results, {})
    return 0 if all(r["ok"] for r in results) else 1


def _report(r: dict[str, Any], args: argparse.Namespace, known: dict[int, str], out: Any) -> None:
    if out is not None:
        out.write(json.dumps({k: v for k, v in r.items() if k != "trace"}) + "\n")
        out.flush()
    if args.quiet:
        return
    print(r["summary"], flush=True)
    if args.trace:
        print(r["trace"], end="")
    if r["ok"]:
        return
    tag = f" (known: {known[r['seed']]})" if r["seed"] in known else ""
    for v in r["violations"]:
        print(f"    violation invariant={v['invariant']} t={v['at']:.3f} {v['detail']}{tag}")
    minutes = "" if args.minutes == 3.0 else f" MINUTES={args.minutes:g}"
    print(f"    likely: {r['hint']}")
    if r.get("scenario"):
        print(f"    reproduce: hedged dst --scenario {r['scenario']}")
    else:
        print(f"    reproduce: make dst SEED={r['seed']}{minutes}")
    if not args.trace:
        lines = r["trace"].splitlines()
        first = min(v["at"] for v in r["violations"])
        upto = [ln for ln in lines if float(ln[:10] or 0) <= first]
        print(f"    trace up to the first violation (last {TRACE_TAIL} of {len(upto)} lines; --trace for all):")
        for ln in upto[-TRACE_TAIL:]:
            print(f"    {ln}")
    print(flush=True)


def _tally(results: list[dict[str, Any]], known: dict[int, str]) -> None:
    by_inv: Counter[int] = Counter()
    for r in results:
        for inv in {v["invariant"] for v in r["violations"]}:
            by_inv[inv] += 1
    hours = sum(r["virtual_s"] for r in results) / 3600
    failing = [r["seed"] for r in results if not r["ok"]]
    print(f"dst_tally seeds={len(results)} virtual_hours={hours:.2f} fills={sum(r['fills'] for r in results)} "
          f"fills_while_down={sum(r['fills_while_down'] for r in results)} "
          f"hedges={sum(r['hedges'] for r in results)} crashes={sum(r['crashes'] for r in results)} "
          f"graceful_stops={sum(r['stops'] for r in results)} failing_seeds={len(failing)} "
          f"known={sum(1 for s in failing if s in known)} "
          + " ".join(f"invariant{i}={by_inv.get(i, 0)}" for i in range(1, 8))
          + (f" venue_restarts={restarts}" if (restarts := sum(r.get("restarts", 0) for r in results)) else ""))
