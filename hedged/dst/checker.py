"""The invariants, checked against the simulators' truth (never the daemon's view of it).

`Monitor.run` samples the venues every `SAMPLE_S` virtual seconds while the seed runs (invariants 2, 3, 4
and the time-weighted naked exposure); `final_checks` reads the journal file and the incident store
after the last stop (invariants 1, 3, 5, 6, 7). The numbers are those of issue 10:

1. every venue fill is in the journal exactly once (fills made while the daemon was down, or in flight
   when it died, are counted apart until back-filling from trade history lands: issue 11);
2. ledger positions equal the venues' positions whenever the streams are quiet;
3. no double hedge beyond one lot, every maker fill hedged (net back within tolerance + one lot once quiet);
4. naked exposure beyond tolerance never lasts longer than the hedge budget plus the guard's grace,
   unless the daemon halted with an incident;
5. after a graceful stop nothing rests on either venue, and exit 0 only within tolerance (else 3 + incident);
6. no timeout counted as a fill (a journal fill the venue never made), no task or thread survives an engine;
7. our PnL equals the simulators' books to the last unit (`check_money`, issue 14).
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
    funding_payments: int = 0  # the simulators paid or charged our accounts (invariant 7 covers them)
    trades_left_out: int = 0  # invariant 7 left these out: not journaled, and the daemon could not have yet
    payments_left_out: int = 0


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


# ---------------------------------------------------------------- 7: money


@dataclass(frozen=True)
class VenueCash:
    """One venue's money truth for our account, from the simulator's own books."""

    equity_change: Decimal  # balance change since start + the open position at `mark` less its entry cost
    mark: Decimal
    trades: dict[str, tuple[int, Decimal]]  # trade id -> (venue ms, equity change at `mark`: cash - fee + qty x mark)
    payments: dict[str, tuple[int, Decimal]]  # journal payment id -> (venue ms, amount received)


def venue_cash(world: Any) -> dict[Venue, VenueCash]:
    """Both venues' books, each valued at its own mark (any one price would do: both sides use it)."""
    ext = world.pair.extended
    e, pos = ext.engine, ext.engine.position
    m = e.mark
    trades = {str(t["id"]): (int(t["createdTime"]), _equity(t["side"] == "BUY", Decimal(t["qty"]), Decimal(t["price"]),
                                                              Decimal(t["fee"]), m)) for t in ext.fills()}
    pays = {str(f["id"]): (int(f["paidTime"]), Decimal(f["fundingFee"])) for f in ext.fundings()}
    cost = pos.open_cost if pos.size > 0 else -pos.open_cost
    out = {Venue.EXTENDED: VenueCash(ext.balance() - ext.money.initial + pos.size * m - cost, m, trades, pays)}
    lig, a = world.pair.lighter, world.account
    spec = lig.settings.market
    m = lig.market_model.reference.quantize(Decimal(1).scaleb(-spec.price_decimals))
    trades = {}
    for t in lig.fills(a):
        buy, qty, price = t.bid_account == a, spec.size(t.size), spec.price(t.price)
        rate = t.maker_fee if (t.is_maker_ask != buy) else t.taker_fee  # we are the maker when our side rests
        trades[str(t.trade_id)] = (t.timestamp_ms, _equity(buy, qty, price, qty * price * rate * Decimal("1e-6"), m))
    pays = {f"{f.market_id}:{f.funding_id}": (f.timestamp_ms, f.change) for f in lig.fundings(a)}
    p = lig.exchange.accounts[a].positions.get(spec.market_id)
    size = spec.size(p.size) if p is not None else ZERO
    cost = ZERO if p is None else (p.entry_quote if p.size > 0 else -p.entry_quote)
    out[Venue.LIGHTER] = VenueCash(lig.collateral(a) - lig.money(a).initial + size * m - cost, m, trades, pays)
    return out


def _equity(buy: bool, qty: Decimal, price: Decimal, fee: Decimal, mark: Decimal) -> Decimal:
    signed = qty if buy else -qty
    return signed * (mark - price) - fee


def check_money(mon: Monitor, state_dir: Path) -> None:
    """Invariant 7: our PnL (the journal's trade records and funding payments folded by the daemon's own
    PnL book, valued at the venue's mark) equals the change of the simulator's books to the last unit,
    per venue. Left out are only the items the daemon could not have journaled yet: a trade that no
    trade-history read served after it (a stream that never delivered it, and no back-fill since; a trade
    made while the daemon was down is not excused when a later start's back-fill read past it), and a
    funding payment no funding-history read served after (`World.history_reads`: reads by engines that
    were not killed)."""
    from hedged.ledger.orders import Leg, Roles  # noqa: PLC0415 - the daemon's own code, for the final check only
    from hedged.pnl.core import PnlBook  # noqa: PLC0415
    from hedged.pnl.history import fold  # noqa: PLC0415

    path = state_dir / "ledger.sqlite3"
    if not path.exists():
        return
    cfg = mon.cfg
    roles = Roles(maker=Leg(Venue.EXTENDED, cfg.market.extended), hedge=Leg(Venue.LIGHTER, cfg.market.lighter))
    book = PnlBook((Venue.EXTENDED, Venue.LIGHTER))
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        fold(conn, roles, book, lambda *_: ("all",))
        traded = {(Venue(v), t) for v, t in conn.execute("SELECT venue, trade_id FROM fills "
                                                           "WHERE trade_id IS NOT NULL")}
        paid = {(Venue(v), p) for v, p in conn.execute("SELECT venue, payment_id FROM funding")}
    truth = venue_cash(mon.world)
    report = book.report("all", {v: c.mark for v, c in truth.items()})
    trade_reads, funding_reads = mon.world.history_reads("trades"), mon.world.history_reads("funding")
    for venue, cash in truth.items():
        t_reads, f_reads = trade_reads[str(venue)], funding_reads[str(venue)]
        later = [k for k, (ms, _) in cash.trades.items() if (venue, k) not in traded
                 and not any(r > ms for r in t_reads)]
        unread = [k for k, (ms, _) in cash.payments.items()
                  if (venue, k) not in paid and not any(r > ms for r in f_reads)]
        excused = sum((cash.trades[k][1] for k in later), ZERO) + sum((cash.payments[k][1] for k in unread), ZERO)
        theirs, ours = cash.equity_change - excused, report.leg(venue).net
        mon.stats.funding_payments += len(cash.payments)
        mon.stats.trades_left_out += len(later)
        mon.stats.payments_left_out += len(unread)
        if theirs != ours:
            lost_t = [k for k in cash.trades if (venue, k) not in traded and k not in later]
            lost_p = [k for k in cash.payments if (venue, k) not in paid and k not in unread]
            mon.violate(7, f"{venue}: our PnL {ours} but the venue's books moved {theirs} (difference "
                           f"{theirs - ours}; at mark {cash.mark}; trades not journaled {lost_t[:5]}, funding "
                           f"payments not journaled {lost_p[:5]}; left out as not yet back-filled: {len(later)} "
                           f"trade(s), {len(unread)} payment(s))", key=float(len(mon.violations)))
