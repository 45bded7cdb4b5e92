"""`make chaos`: the process-level crash campaign. Real processes, real sockets, real fsync.

`hedged sim` runs as one process on 127.0.0.1; the daemon runs as another, in testnet mode pointed at it
(the fragment and throw-away credentials `hedged sim` writes). The daemon is killed with SIGKILL at seeded
instants (half of them just after it logs a hedge send or a fill) and restarted on the same state dir,
`kills` times, then stopped with SIGTERM. The invariants are read from the simulators' HTTP control
surface (`GET /_sim/truth`) and the journal file, never from the daemon:

1. every venue fill is in the journal exactly once (fills made while down, or in the 5 s before a kill,
   are counted apart until back-filling lands: issue 11);
5. after the SIGTERM nothing rests on either venue; exit 0 only within tolerance, else 3 with an incident;
3/4. the venues' net is within tolerance + one lot at the end unless the daemon halted with an incident.

    python -m hedged.dst.chaos --runs 100 [--kills 3] [--seconds 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import trio

from hedged.dst.checker import IN_FLIGHT_MS, incidents, journal_counted

TOLERANCE = Decimal("0.1")  # etc/hedged.toml's tolerance (5 % of size_max 2), never below one lot
LOT = Decimal("0.1")
CONFIG = """\
[daemon]
state_dir = "{state}"
graceful_stop_s = 20.0
[cycle]
delay_min_s = 1.0
delay_max_s = 3.0
hold_min_s = 2.0
hold_max_s = 6.0
[metrics]
enabled = false
[log]
format = "json"
"""


@dataclass
class ChaosResult:
    seed: int
    kills: int = 0
    exit_code: int | None = None
    fills: int = 0
    fills_while_down: int = 0
    hedges: int = 0
    violations: list[str] = field(default_factory=list)


class _Output:
    """A child's stdout+stderr, copied to a log file by one task; `seen(pattern)` waits for a pattern."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = bytearray()
        self._changed = trio.Event()
        self.closed = False

    async def pump(self, stream: trio.abc.ReceiveStream) -> None:
        with open(self.path, "wb") as out:
            async with stream:
                while chunk := await stream.receive_some(65536):
                    out.write(chunk)
                    self.text += chunk
                    self._changed.set()
                    self._changed = trio.Event()
        self.closed = True
        self._changed.set()

    async def seen(self, pattern: bytes, deadline_s: float) -> bool:
        with trio.move_on_after(deadline_s):
            while pattern not in self.text and not self.closed:
                await self._changed.wait()
        return pattern in self.text


async def _spawn(nursery: trio.Nursery, argv: list[str], log: Path, **kw: object) -> tuple[trio.Process, _Output]:
    proc = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    output = _Output(log)
    nursery.start_soon(output.pump, proc.stdout)
    return proc, output


async def run_one(seed: int, *, kills: int = 3, seconds: float = 40.0, root: Path | None = None) -> ChaosResult:
    rng = random.Random(f"{seed}:chaos")
    root = Path(tempfile.mkdtemp(prefix="hedged-chaos-")) if root is None else root
    res = ChaosResult(seed)
    sim_state, state = root / "sim", root / "state"
    sim_log = root / "sim.log"
    repo = Path(__file__).resolve().parents[2]
    cfg_sim = root / "sim.toml"
    cfg_sim.write_text(f'[sim]\nseed = {seed}\n[daemon]\nstate_dir = "{sim_state}"\n[metrics]\nenabled = false\n')
    async with trio.open_nursery() as n:
        sim, sim_out = await _spawn(
            n, [sys.executable, "-m", "hedged.cli", "sim", "--config", str(cfg_sim), "--log-format", "json"],
            sim_log, cwd=repo)
        try:
            if not await sim_out.seen(b"sim_ready", 60):
                res.violations.append("harness: hedged sim did not start")
                return res
            ready = next(json.loads(x) for x in bytes(sim_out.text).splitlines() if b"sim_ready" in x)
            urls = dict(re.findall(r"(\w+)=(\S+)", ready["msg"] if "msg" in ready else ready["message"]))
            env = {**os.environ, **dict(row.split("=", 1) for row in (sim_state / "sim.env").read_text().split())}
            cfg = root / "hedged.toml"
            cfg.write_text(CONFIG.format(state=state) + (sim_state / "sim-venues.toml").read_text())
            down: list[tuple[float, float]] = []
            life = 0
            while True:
                life += 1
                proc, out = await _spawn(n, [sys.executable, "-m", "hedged.cli", "--config", str(cfg)],
                                         root / f"daemon-{life}.log", cwd=repo, env=env)
                if down:
                    down[-1] = (down[-1][0], time.time())
                if res.kills < kills:
                    if rng.random() < 0.5:  # biased: right after a hedge goes out
                        await out.seen(b"hedge_sent", seconds)
                        await trio.sleep(rng.uniform(0.0, 0.05))
                    else:
                        await trio.sleep(rng.uniform(3.0, seconds / (kills + 1)))
                    if proc.returncode is None:
                        proc.send_signal(signal.SIGKILL)
                        res.kills += 1
                    await proc.wait()
                    down.append((time.time(), time.time()))
                    res.hedges += out.text.count(b"hedge_sent")
                    await trio.sleep(rng.uniform(0.2, 3.0))
                    continue
                await trio.sleep(rng.uniform(5.0, 10.0))
                if not await _terminate(proc, 60):
                    res.violations.append("5: the SIGTERM stop did not end within 60 s")
                res.exit_code = proc.returncode
                res.hedges += out.text.count(b"hedge_sent")
                break
            await trio.sleep(2.0)  # the venues act on the last cancels
            await _check(res, urls, state, down)
        finally:
            await _terminate(sim, 10)
    return res


async def _terminate(proc: trio.Process, within_s: float) -> bool:
    """SIGTERM, then SIGKILL if it has not exited within `within_s`; True when SIGTERM was enough."""
    proc.send_signal(signal.SIGTERM)
    with trio.move_on_after(within_s):
        await proc.wait()
    if proc.returncode is not None:
        return True
    proc.kill()
    await proc.wait()
    return False


async def _check(res: ChaosResult, urls: dict[str, str], state: Path, down: list[tuple[float, float]]) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        ext = (await http.get(urls["extended_control"] + "/truth")).json()
        lig = (await http.get(urls["lighter_control"] + "/truth")).json()
    if ext["openOrders"]:
        res.violations.append(f"5: {len(ext['openOrders'])} maker order(s) rest on extended after SIGTERM")
    if lig["openOrders"]:
        res.violations.append(f"5: {len(lig['openOrders'])} order(s) rest on lighter after SIGTERM")
    net = Decimal(ext["position"]) + Decimal(lig["position"])
    halted = res.exit_code == 3 and bool(incidents(state))
    if res.exit_code == 0 and abs(net) > TOLERANCE:
        res.violations.append(f"5: exit 0 with venue net {net} beyond tolerance {TOLERANCE}")
    if res.exit_code == 3 and not halted:
        res.violations.append("5: exit 3 without an incident")
    if res.exit_code not in (0, 3):
        res.violations.append(f"5: SIGTERM exit code {res.exit_code}")
    if not halted and abs(net) > TOLERANCE + LOT:
        res.violations.append(f"3: venue net {net} at the end (extended {ext['position']}, lighter {lig['position']})")
    truth: dict[tuple[str, str], list[tuple[int, Decimal]]] = defaultdict(list)
    for t in ext["fills"]:
        truth[("extended", str(t["orderId"]))].append((int(t["createdTime"]), Decimal(t["qty"])))
    account = lig["account"]
    for t in lig["fills"]:
        ours = t["bid_id"] if t["bid_account_id"] == account else t["ask_id"]
        truth[("lighter", str(ours))].append((int(t["timestamp"]), Decimal(t["size"])))
    res.fills = sum(len(v) for v in truth.values())
    counted = journal_counted(state / "ledger.sqlite3")
    windows = [(int(a * 1000) - IN_FLIGHT_MS, int(b * 1000)) for a, b in down]
    for key in sorted(set(truth) | set(counted)):
        fills = truth.get(key, [])
        made = sum((q for _, q in fills), Decimal(0))
        unseen = [q for ms, q in fills if any(a <= ms <= b for a, b in windows)]
        got = counted.get(key, Decimal(0))
        if got > made:
            res.violations.append(f"1: {key[0]} order {key[1]}: journal counts {got}, venue filled {made}")
        elif got < made - sum(unseen, Decimal(0)):
            res.violations.append(f"1: {key[0]} order {key[1]}: journal counts {got}, venue filled {made}: lost")
        elif got < made:
            res.fills_while_down += len(unseen)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hedged.dst.chaos", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--seed", type=int, default=1, help="first seed; run i uses seed + i")
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--seconds", type=float, default=40.0, help="time budget of each life before its kill")
    args = p.parse_args(argv)
    tally: Counter[str] = Counter()
    failed = 0
    for i in range(args.runs):
        r = trio.run(lambda: run_one(args.seed + i, kills=args.kills, seconds=args.seconds))
        print(f"chaos seed={r.seed} kills={r.kills} exit={r.exit_code} fills={r.fills} "
              f"fills_while_down={r.fills_while_down} hedges={r.hedges} violations={len(r.violations)}", flush=True)
        for v in r.violations:
            print(f"    violation {v}")
            tally[v.split(":", 1)[0]] += 1
        failed += bool(r.violations)
        tally["kills"] += r.kills
        tally["fills"] += r.fills
        tally["hedges"] += r.hedges
        tally["fills_while_down"] += r.fills_while_down
    print(f"chaos_tally runs={args.runs} failing_runs={failed} kills={tally['kills']} fills={tally['fills']} "
          f"fills_while_down={tally['fills_while_down']} hedges={tally['hedges']} "
          + " ".join(f"invariant{k}={tally.get(k, 0)}" for k in ("1", "3", "5")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
