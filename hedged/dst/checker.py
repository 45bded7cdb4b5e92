"""The invariants, checked against the simulators' truth (never the daemon's view of it).

`Monitor.run` samples the venues every `SAMPLE_S` virtual seconds while the seed runs (invariants 2, 3, 4
and the time-weighted naked exposure); `final_checks` reads the journal file and the incident store
after the last stop (invariants 1, 3, 5, 6). The numbers are those of issue 10:

1. every venue fill is in the journal exactly once (fills made while the daemon was down, or in flight
   when it died, are counted apart until back-filling from trade history lands: issue 11);
2. ledger positions equal the venues' positions whenever the streams are quiet;
3. no double hedge beyond one lot, every maker fill hedged (net back within tolerance + one lot once quiet);
4. naked exposure beyond tolerance never lasts longer than the hedge budget plus the guard's grace,
   unless the daemon halted with an incident;
5. after a graceful stop nothing rests on either venue, and exit 0 only within tolerance (else 3 + incident);
6. no timeout counted as a fill (a journal fill the venue never made), no task or thread survives an engine.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from hedged.config import Config
from hedged.strategy.tolerance import tolerance
from hedged.venues.base import Venue

SAMPLE_S = 0.25
QUIET_S = 6.0  # no venue fill for this long (longer than any stream delay DST draws) and nothing resting
ZERO = Decimal(0)
LOT = Decimal("0.1")  # the simulators' smallest tradeable order on both venues (Extended min size; Lighter $10)


@dataclass(frozen=True)
class Violation:
    invariant: int
    at: float
    detail: str

    def line(self) -> str:
        return f"violation invariant={self.invariant} t={self.at:.3f} {self.detail}"


@dataclass
class Stats:
    fills_ext: int = 0
    fills_lig: int = 0
    fills_while_down: int = 0
    faults_fired: int = 0
    crashes: int = 0
    stops: int = 0
    restarts: int = 0  # venue services DST failed in a running daemon
    lives: int = 0
    naked_qty_s: Decimal = ZERO  # time integral of |net|
    beyond_qty_s: Decimal = ZERO  # time integral of (|net| - tolerance)+
    worst_episode_s: float = 0.0
    virtual_s: float = 0.0


def hedge_budget_s(cfg: Config) -> float:
    """How long a naked fill may last: every hedge attempt to its deadline, the backoffs between
    them, and the guard's grace (then the guard flattens or the daemon halts)."""
    h = cfg.hedge
    backoff = sum(min(h.backoff_max_s, h.backoff_initial_s * 2**i) for i in range(max(0, h.max_attempts - 1)))
    return h.timeout_s * h.max_attempts + backoff + cfg.risk.guard_grace_s


def tolerance_of(cfg: Config) -> Decimal:
    """The configured tolerance, never below one lot: the daemon's own rule (`CycleRunner.tolerance`),
    since a residual smaller than the smallest tradeable order can be neither hedged nor flattened."""
    return max(LOT, tolerance(cfg.cycle.size_max, None, cfg.risk.tolerance_pct, cfg.risk.tolerance_floor))


@dataclass
class Monitor:
    """Continuous checks. The runner tells it when an engine is up (`engine`) and when the daemon halted."""

    world: Any
    cfg: Config
    violations: list[Violation] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    engine: Any = None  # the running engine, or None while the daemon is down
    up_since: float = 0.0
    halted: bool = False
    _episode: float | None = None
    _mismatch: float | None = None
    _last_fill_at: float = 0.0
    _fills_seen: tuple[int, int] = (0, 0)
    _net: Decimal = ZERO  # venue net after the fills replayed so far
    cables: tuple[Any, ...] = ()  # the running engine's cables (requests in flight)
    trace: Any = lambda line: None  # noqa: E731 - the runner's Trace.add
    _reported: set[tuple[int, float]] = field(default_factory=set)

    def violate(self, invariant: int, detail: str, *, key: float | None = None) -> None:
        try:
            now = trio.current_time()
        except RuntimeError:  # a final check run on a finished seed's journal
            now = self.stats.virtual_s
        k = (invariant, key if key is not None else now)
        if k in self._reported:
            return
        self._reported.add(k)
        self.violations.append(Violation(invariant, now, detail))

    def engine_started(self, engine: Any, cables: tuple[Any, ...]) -> None:
        self.engine, self.up_since, self.cables = engine, trio.current_time(), cables
        self._episode = None if self._episode is None else trio.current_time()
        self._mismatch = None

    def engine_gone(self) -> None:
        self.engine = None

    async def run(self) -> None:
        tol = tolerance_of(self.cfg)
        budget = hedge_budget_s(self.cfg)
        w = self.world
        last = trio.current_time()
        ext, lig = w.positions()
        while True:
            await trio.sleep(SAMPLE_S)
            now = trio.current_time()
            self._replay_fills(tol)
            ext, lig = w.positions()
            net = ext + lig
            dt = Decimal(repr(round(now - last, 6)))
            last = now
            self.stats.naked_qty_s += abs(net) * dt
            self.stats.beyond_qty_s += max(ZERO, abs(net) - tol) * dt
            up = self.engine is not None
            # 4: naked beyond tolerance, timed only while a daemon is up to act on it
            if abs(net) > tol and up and not self.halted:
                if self._episode is None:
                    self._episode = max(now, self.up_since)
                length = now - self._episode
                self.stats.worst_episode_s = max(self.stats.worst_episode_s, length)
                if length > budget:
                    self.violate(4, f"naked net={net} (extended={ext} lighter={lig}) beyond tolerance={tol} "
                                    f"for {length:.1f}s > budget {budget:.1f}s", key=self._episode)
            elif abs(net) <= tol:
                self._episode = None
            quiet = now - self._last_fill_at >= QUIET_S and w.venues_idle() and not any(
                c.in_flight for c in self.cables)
            # 3b: every maker fill hedged: once quiet and past the hedge budget, net is within tolerance + lot
            if (up and quiet and not self.halted and abs(net) > tol + LOT and self._episode is not None
                    and now - self._episode > budget):
                self.violate(3, f"unhedged: quiet venues net={net} (extended={ext} lighter={lig}) > tolerance+lot "
                                f"for {now - self._episode:.1f}s", key=self._episode)
            # 2: the ledger agrees with the venues once the streams have had time, including a reconcile
            if up and self.engine.ledger is not None:
                led = (self.engine.ledger.position(Venue.EXTENDED), self.engine.ledger.position(Venue.LIGHTER))
                if led != (ext, lig):
                    if self._mismatch is None:
                        self._mismatch = now
                    elif quiet and now - self._mismatch > self.cfg.risk.reconcile_interval_s + 5:
                        self.violate(2, f"ledger extended={led[0]} lighter={led[1]} but venues extended={ext} "
                                        f"lighter={lig} for {now - self._mismatch:.1f}s", key=self._mismatch)
                else:
                    self._mismatch = None

    def _replay_fills(self, tol: Decimal) -> None:
        """New venue fills in venue-time order into the trace; 3a: a Lighter fill that pushes the net
        exposure away from zero beyond tolerance + one lot is a double (or wrong-way) hedge."""
        w = self.world
        new = w.new_fills(self._fills_seen)
        if not new:
            return
        self._fills_seen = (len(w.pair.extended.fills()), len(w.pair.lighter.fills(w.account)))
        self._last_fill_at = trio.current_time()
        net = self._net
        for ms, venue, q in new:
            before, net = net, net + q
            self.trace(f"dst fill venue={venue} qty={q:+} net={net} venue_ms={ms}")
            if venue == "lighter" and abs(net) > abs(before) and abs(net) > tol + LOT and not self.halted:
                self.violate(3, f"over-hedged: a lighter fill of {q:+} took net from {before} to {net} "
                                f"(beyond tolerance+lot)", key=float(ms))
        self._net = net


# ---------------------------------------------------------------- final checks


def journal_counted(path: Path) -> dict[tuple[str, str], Decimal]:
    """(venue, venue order id) -> quantity the journal counts as filled on it."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    if not path.exists():
        return out
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT o.venue, o.order_id, f.counted_delta FROM fills f "
                            "JOIN orders o ON o.key = f.order_key").fetchall()
    for venue, order_id, delta in rows:
        out[(venue, str(order_id))] += Decimal(delta)
    return out


def venue_filled(world: Any) -> dict[tuple[str, str], list[tuple[int, Decimal]]]:
    """(venue, venue order id) -> [(venue time ms, qty)] of every fill the simulators made for us."""
    out: dict[tuple[str, str], list[tuple[int, Decimal]]] = defaultdict(list)
    for t in world.pair.extended.fills():
        out[("extended", str(t["orderId"]))].append((int(t["createdTime"]), Decimal(t["qty"])))
    lig = world.pair.lighter
    size = lig.settings.market.size
    for t in lig.fills(world.account):
        ours = t.bid_id if t.bid_account == world.account else t.ask_id
        out[("lighter", str(ours))].append((t.timestamp_ms, size(t.size)))
    return out


def incidents(state_dir: Path) -> list[tuple[str, str]]:
    path = state_dir / "incidents.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT event, severity FROM incidents ORDER BY id").fetchall()


def check_journal(mon: Monitor, state_dir: Path, down: list[tuple[int, int]]) -> None:
    """Invariants 1 and 6 (phantom fills) from the journal file, against every venue fill."""
    counted = journal_counted(state_dir / "ledger.sqlite3")
    truth = venue_filled(mon.world)
    for key in sorted(set(counted) | set(truth)):
        fills = truth.get(key, [])
        made = sum((q for _, q in fills), ZERO)
        # Fills the daemon could not have seen: made while it was down, or in the IN_FLIGHT_MS before it
        # died (their frames may still have been on a delayed stream).
        unseen = sum((q for ms, q in fills if _unseen(ms, down)), ZERO)
        journaled = counted.get(key, ZERO)
        venue, order = key
        if not fills and journaled != 0:
            mon.violate(6, f"journal counts {journaled} filled on {venue} order {order}, which the venue never "
                           "filled (a timeout or guess counted as a fill)", key=float(len(mon.violations)))
        elif journaled > made:
            mon.violate(1, f"{venue} order {order}: journal counts {journaled}, venue filled {made} (double count)",
                        key=float(len(mon.violations)))
        elif journaled < made - unseen:
            mon.violate(1, f"{venue} order {order}: journal counts {journaled}, venue filled {made} "
                           f"({unseen} while down): a fill was lost", key=float(len(mon.violations)))
        elif journaled < made:
            mon.stats.fills_while_down += sum(1 for ms, _ in fills if _unseen(ms, down))
    mon.stats.fills_ext = len(mon.world.pair.extended.fills())
    mon.stats.fills_lig = len(mon.world.pair.lighter.fills(mon.world.account))


IN_FLIGHT_MS = 5000  # the longest stream delay DST draws


def _unseen(ms: int, down: list[tuple[int, int]]) -> bool:
    return any(a - IN_FLIGHT_MS <= ms <= b for a, b in down)


def check_stopped(mon: Monitor, code: int, state_dir: Path, incidents_before: int) -> None:
    """Invariant 5 after a graceful stop (the venues' truth and the exit code)."""
    w = mon.world
    ext_open = [o for o in w.pair.extended.open_orders()]
    lig_open = w.pair.lighter.open_orders(w.account)
    if ext_open:
        mon.violate(5, f"after a graceful stop {len(ext_open)} maker order(s) rest on extended")
    if lig_open:
        mon.violate(5, f"after a graceful stop {len(lig_open)} hedge order(s) rest on lighter")
    ext, lig = w.positions()
    tol = tolerance_of(mon.cfg)
    new = incidents(state_dir)[incidents_before:]
    if code == 0 and abs(ext + lig) > tol:
        mon.violate(5, f"exit 0 with net={ext + lig} (extended={ext} lighter={lig}) beyond tolerance={tol}")
    if code == 3 and not new:
        mon.violate(5, "exit 3 without an incident")
    if code not in (0, 3):
        mon.violate(5, f"graceful stop exited {code}")


@dataclass
class Leaks:
    """What must not outlive an engine: Trio system tasks and threads (sockets are in-memory here)."""

    tasks: int
    threads: int

    @classmethod
    def now(cls) -> Leaks:
        root = trio.lowlevel.current_root_task()
        tasks = sum(len(n.child_tasks) for n in root.child_nurseries)
        return cls(tasks, threading.active_count())


def check_leaks(mon: Monitor, before: Leaks) -> None:
    after = Leaks.now()
    if after.tasks > before.tasks:
        mon.violate(6, f"{after.tasks - before.tasks} system task(s) outlived the engine")
    if after.threads > before.threads:
        mon.violate(6, f"{after.threads - before.threads} thread(s) outlived the engine")
