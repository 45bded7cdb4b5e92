"""Run one seed: the whole daemon (`daemon.main`: every service, real adapters, real ledger and journal)
against both in-memory simulators under `MockClock(autojump_threshold=0)`, driven by the seed's plan.

An engine "life" is one `daemon.main` call on the seed's state dir. It ends by

* a crash (`crash` action): both cables are cut first, so nothing the dying engine does in its cleanup
  reaches a venue, then its cancel scope is cancelled; only what the journal had committed survives;
* a graceful stop (`stop` action, and always at the end): `request_stop`, as SIGTERM does, then the
  invariant-5 checks;
* the daemon exiting by itself: 3 (halted) is final, as systemd's RestartPreventExitStatus=3 makes it;
  anything else restarts after 5 s, as `Restart=on-failure`, `RestartSec=5` do.

Within a life, a `restart` action fails one venue service (`venue:extended`, `venue:lighter`) as an
unexpected error would: its supervisor restarts it by its own policy while the rest of the daemon runs.
The hook that makes a venue service fail on demand is installed only in lives whose plan has restarts, so
no other seed's scheduling changes.

The next life starts on the same journal against the same, still running simulators.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio
import trio.testing

from hedged import daemon
from hedged.dst import checker
from hedged.dst.plan import ENGINE_KINDS, RESTART, Action, draw_plan
from hedged.dst.world import Trace, World, deterministic_scheduling
from hedged.nursery import Notifier
from hedged.venues.base import Side

RESTART_S = 5.0  # systemd RestartSec of etc/systemd/hedged.service
SETTLE_S = 2.0  # after a stop: let the venues act on the last cancels before looking
MAX_FAILURE_RESTARTS = 5
READY_S = 60.0  # a start that takes longer is traced, and the plan goes on around it
STOP_SLACK_S = 30.0  # a graceful stop must end within daemon.graceful_stop_s plus this


@dataclass
class SeedResult:
    seed: int
    minutes: float
    plan: list[Action]
    violations: list[checker.Violation]
    stats: checker.Stats
    trace: str
    exit_codes: list[int] = field(default_factory=list)
    world: World | None = field(default=None, repr=False)  # the simulators' truth, after the run
    down: list[tuple[int, int]] = field(default_factory=list)  # venue-ms windows with no daemon

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        s = self.stats
        inv = ",".join(sorted({str(v.invariant) for v in self.violations})) or "-"
        return (f"seed={self.seed} ok={self.ok} violations={inv} lives={s.lives} crashes={s.crashes} "
                f"stops={s.stops} exits={','.join(map(str, self.exit_codes))} fills_extended={s.fills_ext} "
                f"fills_lighter={s.fills_lig} fills_while_down={s.fills_while_down} "
                f"naked_qty_s={s.naked_qty_s:.3f} beyond_tolerance_qty_s={s.beyond_qty_s:.3f} "
                f"worst_naked_s={s.worst_episode_s:.1f}"
                + (f" venue_restarts={s.restarts}" if any(a.kind == RESTART for a in self.plan) else ""))


@dataclass
class _Life:
    rt: Any = None
    code: int | None = None
    done: trio.Event = field(default_factory=trio.Event)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    cables: tuple[Any, Any] = (None, None)
    crashed: bool = False
    requested: bool = False  # a graceful stop DST asked for
    kills: dict[str, trio.Event] = field(default_factory=dict)  # venue service -> fails it when set
    trace_from: int = 0  # its first trace line
    incidents_from: int = 0  # incidents in the store when it started


class _Restart(Exception):
    """Raised inside a venue service to fail it, as any unexpected error would: the supervisor restarts it."""


def _failing_on_demand(name: str, run: Any, kills: dict[str, trio.Event]) -> Any:
    async def service(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        kill = kills[name] = trio.Event()  # one per run: a restarted service gets a fresh one

        async def fail() -> None:
            await kill.wait()
            raise _Restart(f"dst restarts {name}")

        async with trio.open_nursery() as n:
            n.start_soon(fail)
            await run(task_status=task_status)
            n.cancel_scope.cancel()

    return service


def _restartable(rt: Any, life: _Life) -> None:
    """Let DST fail the venue services of this life's engine (wraps what `engine.services()` returns)."""
    services = rt.engine.services

    def wrapped() -> list[Any]:
        out = services()
        for svc in out:
            if svc.name.startswith("venue:"):
                svc.run = _failing_on_demand(svc.name, svc.run, life.kills)
        return out

    rt.engine.services = wrapped


class _Driver:
    def __init__(self, world: World, plan: list[Action], minutes: float, trace: Trace) -> None:
        self.world, self.plan, self.minutes, self.trace = world, plan, minutes, trace
        self.mon = checker.Monitor(world, world.cfg, trace=trace.add)
        self.state_dir = Path(world.cfg.daemon.state_dir)
        self.down: list[tuple[int, int]] = []  # venue-ms windows with no daemon running
        self.down_since: int | None = None  # set in run()
        self.life: _Life | None = None
        self.codes: list[int] = []
        self.final = False  # halted: systemd does not restart
        self.failure_restarts = 0
        self.restartable = any(a.kind == RESTART for a in plan)

    # ---- lives

    async def start(self, nursery: trio.Nursery) -> None:
        self.mon.stats.lives += 1
        life = _Life(cables=self.world.cables(self.mon.stats.lives), trace_from=len(self.trace.lines),
                     incidents_from=len(checker.incidents(self.state_dir)))
        self.life = life
        self.leaks = checker.Leaks.now()
        ready = trio.Event()

        class ReadyNotifier(Notifier):
            async def ready(self) -> None:
                ready.set()

        async def run() -> None:
            with life.scope:
                try:
                    life.code = await daemon.main(
                        self.world.cfg, notifier=ReadyNotifier(environ={}),
                        rng=random.Random(f"{self.world.seed}:life{self.mon.stats.lives}"),
                        on_runtime=lambda rt: self._runtime(life, rt), engine_kw=self.world.engine_kw(*life.cables))
                except BaseException as exc:
                    if life.crashed:
                        life.code = 137  # killed: what a dead process's cleanup raised does not matter
                    elif _only_cancelled(exc):
                        raise
                    else:  # what `daemon.run` turns into exit 1 ("daemon_crashed")
                        self.trace.add(f"dst life={self.mon.stats.lives} daemon_crashed error={_first(exc)}")
                        life.code = 1
            life.done.set()
            ready.set()

        nursery.start_soon(run)
        if self.down_since is not None:
            self.down.append((self.down_since, self.world.now_ms()))
            self.down_since = None
        self.trace.add(f"dst life={self.mon.stats.lives} start")
        with trio.move_on_after(READY_S) as slow:
            await ready.wait()
        if slow.cancelled_caught:
            self.trace.add(f"dst life={self.mon.stats.lives} not ready after {READY_S:.0f}s; the plan goes on")
        if life.rt is not None and not life.done.is_set():
            self.mon.engine_started(life.rt.engine, life.cables)
        nursery.start_soon(self._watch, life)

    def _runtime(self, life: _Life, rt: Any) -> None:
        life.rt = rt
        if self.restartable:
            _restartable(rt, life)

    async def _watch(self, life: _Life) -> None:
        """A daemon that exits by itself (halt, failure, iterations done)."""
        await life.done.wait()
        if life is not self.life or life.crashed or life.requested:
            return
        self._gone(life)
        if life.code is not None:
            self.trace.add(f"dst life={self.mon.stats.lives} exited by itself code={life.code}")
            if life.code == 3:
                self._halted(life)
            elif self.failure_restarts < MAX_FAILURE_RESTARTS:
                self.failure_restarts += 1
                await trio.sleep(RESTART_S)
                if self.life is life and not self.final:
                    await self.start(self._nursery)

    def _gone(self, life: _Life) -> None:
        self.mon.engine_gone()
        if self.down_since is None:
            self.down_since = self.world.now_ms()
        if life.code is not None:
            self.codes.append(life.code)

    def _halted(self, life: _Life) -> None:
        if checker.incidents(self.state_dir):
            self.mon.halted = True
        else:
            self.mon.violate(4, "the daemon halted (exit 3) without an incident")
        self.final = True

    async def crash(self) -> None:
        life = self.life
        if life is None or life.done.is_set():
            return
        life.crashed = True
        self.mon.stats.crashes += 1
        self.trace.add(f"dst life={self.mon.stats.lives} crash (cables cut, no cleanup reaches a venue)")
        for cable in life.cables:
            cable.cut()
        # SIGKILL flushes nothing: journal rows not yet committed die with the process.
        ledger = life.rt.engine.ledger if life.rt is not None else None
        journal = ledger.journal if ledger is not None else None
        if ledger is not None:
            ledger.journal = None
        life.scope.cancel()
        await life.done.wait()
        if journal is not None:
            journal.close()  # what the kernel does for a killed process
        self._gone(life)
        checker.check_leaks(self.mon, self.leaks)

    async def stop(self) -> int | None:
        life = self.life
        if life is None or life.done.is_set():
            return None
        life.requested = True
        self.mon.stats.stops += 1
        before = len(checker.incidents(self.state_dir))
        if any("| service_halted " in ln for ln in self.trace.lines[life.trace_from:]):
            # Already halting when the stop came: the halt's incidents came before it, and count.
            before = life.incidents_from
        self.trace.add(f"dst life={self.mon.stats.lives} graceful stop")
        for cable in life.cables:
            cable.stopping = True  # invariant 7: history read from here on may be abandoned by the stop
        life.rt.supervisor.request_stop("dst")
        budget = self.world.cfg.daemon.graceful_stop_s + STOP_SLACK_S
        with trio.move_on_after(budget) as hung:
            await life.done.wait()
        if hung.cancelled_caught:
            self.mon.violate(5, f"a graceful stop did not end within {budget:.0f}s; killed")
            life.requested = False
            await self.crash()
            return None
        self._gone(life)
        await trio.sleep(SETTLE_S)
        self.trace.add(f"dst life={self.mon.stats.lives} stopped code={life.code}")
        checker.check_stopped(self.mon, life.code if life.code is not None else -1, self.state_dir, before)
        checker.check_leaks(self.mon, self.leaks)
        if life.code == 3:
            self._halted(life)
        return life.code

    def restart(self, venue: str) -> None:
        """Fail one venue service of the running daemon; its supervisor restarts it (issue 12 point 5)."""
        name, life = f"venue:{venue}", self.life
        kill = life.kills.get(name) if life is not None and not life.done.is_set() else None
        if kill is None or kill.is_set():
            self.trace.add(f"dst life={self.mon.stats.lives} {name} is not running; nothing to restart")
            return
        self.mon.stats.restarts += 1
        kill.set()

    # ---- the plan

    async def apply(self, a: Action) -> None:
        p = self.world.pair
        sim = p.extended if a.venue == "extended" else p.lighter
        if a.kind == "fault":
            sim.faults.add(a.args["fault"])
        elif a.kind == "pull_book":
            side = {"buy": Side.BUY, "sell": Side.SELL, "both": None}[a.args["side"]]
            sim.pull_book(side)
            self._nursery.start_soon(self._restore, sim, a.args["for_s"])
        elif a.kind == "revoke_tokens":
            p.lighter.revoke_tokens()
        elif a.kind == "skip_nonce":
            p.lighter.skip_nonce(p.lighter_account, p.lighter_key_index, a.args["by"])
        elif a.kind == "reject_orders":
            p.lighter.reject_next_orders(a.args["count"])
        elif a.kind == "shutdown_ws":
            self._nursery.start_soon(p.lighter.shutdown_connections, 0)
        elif a.kind == "price":
            p.market.move_price(Decimal(str(a.args["pct"])))
        elif a.kind == "flow":
            p.extended.add_flow(Side(a.args["side"]), Decimal(a.args["qty"]))
        elif a.kind == RESTART:
            self.restart(a.venue)
        elif a.kind in ENGINE_KINDS:
            await (self.crash() if a.kind == "crash" else self.stop())
            if not self.final:
                await trio.sleep(a.args["down_s"])
                await self.start(self._nursery)

    async def _restore(self, sim: Any, after: float) -> None:
        await trio.sleep(after)
        self.trace.add(f"dst restore_book venue={'extended' if sim is self.world.pair.extended else 'lighter'}")
        sim.restore_book()

    async def run(self) -> None:
        horizon = self.minutes * 60
        async with trio.open_nursery() as n:
            self._nursery = n
            self.down_since = self.world.now_ms()
            n.start_soon(self.mon.run)
            await self.start(n)
            for i, a in enumerate(self.plan):
                await trio.sleep_until(max(trio.current_time(), a.at))
                if self.final and a.kind in ENGINE_KINDS:
                    continue
                self.trace.add(f"dst action={i} {a.describe()}")
                await self.apply(a)
            await trio.sleep_until(max(trio.current_time(), horizon))
            if not self.final:
                await self.stop()
            if self.down_since is None:
                self.down_since = self.world.now_ms()
            self.down.append((self.down_since, self.world.now_ms()))
            self.mon.stats.virtual_s = trio.current_time()
            checker.check_journal(self.mon, self.state_dir, self.down)
            checker.check_money(self.mon, self.state_dir)
            p = self.world.pair
            self.mon.stats.faults_fired = len(p.extended.faults.history) + len(p.lighter.faults.history)
            n.cancel_scope.cancel()


def _only_cancelled(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancelled(e) for e in exc.exceptions)
    return isinstance(exc, trio.Cancelled)


def _first(exc: BaseException) -> str:
    """The innermost first error of a group, as type and message (no addresses: stays deterministic)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = next((e for e in exc.exceptions if not _only_cancelled(e)), exc.exceptions[0])
    return f"{type(exc).__name__}: {exc}"


def run_seed(seed: int, minutes: float = 3.0, *, plan: list[Action] | None = None,
             keep_dir: Path | None = None) -> SeedResult:
    """One seed from scratch, in this process (its own `trio.run` under the autojump clock)."""
    plan = draw_plan(seed, minutes) if plan is None else plan
    root = Path(tempfile.mkdtemp(prefix="hedged-dst-")) if keep_dir is None else keep_dir
    state = root / "state"
    try:
        world = World(seed, state)
        with Trace(state) as trace, deterministic_scheduling(seed):
            driver = _Driver(world, plan, minutes, trace)

            async def main() -> None:
                async with world.running():
                    await driver.run()

            trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
            for v in driver.mon.violations:
                trace.lines.append(f"{v.at:10.3f} {v.line()}")
        return SeedResult(seed, minutes, plan, driver.mon.violations, driver.mon.stats, trace.text(), driver.codes,
                          world, driver.down)
    finally:
        if keep_dir is None:
            shutil.rmtree(root, ignore_errors=True)
