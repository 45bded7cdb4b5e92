"""The trading part of the service tree: simulators, ledger, venues, reconciler, executor, guard, cycle.

`Engine` owns the objects the services share and hands the supervisor one service per
role, in start order. The ledger service opens the journal and builds the venue clients; once
both venue services have started (market rules loaded), the venue-rules step checks the cycle's
sizes and builds the whole strategy graph in one call (`hedged.strategy.graph.build_strategy`),
which the supervisor's in-order `nursery.start` makes safe; the later services only run their
object. Stop order is the reverse of risk: the cycle stops first (cancelling resting maker
orders), the executor finishes any open hedge, then the reconciler, venues, ledger and
simulators close.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from hedged.config import Config
from hedged.configcheck import check_venue_rules
from hedged.errors import Halted
from hedged.ledger import Ledger, Leg, ReconcileKind, Roles
from hedged.metrics import Metrics, Readiness
from hedged.nursery import CRITICAL, RestartPolicy, Service, Supervisor
from hedged.secrets import SECRETS
from hedged.pnl.check import MoneyCheck
from hedged.pnl.tracker import PnlTracker, attach as attach_pnl
from hedged.strategy.graph import Strategy, build_strategy
from hedged.strategy.backfill import backfill
from hedged.venues.assembly import SimPair, Venues, build_venues
from hedged.venues import credentials
from hedged.venues.base import Venue, VenueEvent, hedge_path

Alert = Callable[..., Awaitable[Any]]
NETWORK = RestartPolicy(backoff_initial_s=1.0, backoff_max_s=30.0, max_restarts=5, window_s=300.0)
LAST_WORD_S = 5.0  # bound on the back-fill a credentials halt makes from the other venue


def _part(name: str) -> property:
    return property(lambda self: getattr(self.strategy, name) if self.strategy is not None else None)


@dataclass
class Engine:
    cfg: Config
    supervisor: Supervisor
    alert: Alert
    metrics: Metrics | None = None
    rng: random.Random = field(default_factory=random.Random)
    sim: SimPair | None = None
    # Deterministic simulation (hedged/dst): the caller runs `sim` itself (it outlives this engine)
    # and the adapters reach it in memory; `venue_kw` goes to the adapters (e.g. a virtual wall clock).
    in_memory: bool = False
    venue_kw: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: Ledger | None = None
    venues: Venues | None = None
    strategy: Strategy | None = None  # built once, when both venues have started (`_check_venue_rules`)
    pnl: PnlTracker | None = None
    reconciled: bool = False
    halted: str | None = None
    _send: trio.MemorySendChannel[VenueEvent] | None = None
    _recv: trio.MemoryReceiveChannel[VenueEvent] | None = None

    # The strategy's parts (HedgeExecutor, Reconciler, Sweeper, CycleRunner, ExposureGuard), None until built.
    executor = _part("executor")
    reconciler = _part("reconciler")
    sweeper = _part("sweeper")
    cycle = _part("cycle")
    guard = _part("guard")

    # ------------------------------------------------------------------ services

    def services(self) -> list[Service]:
        out: list[Service] = []
        if self.cfg.uses_sim and not self.in_memory:
            out.append(Service("simulators", self._run_sims, CRITICAL, stop_order=800))
        out += [
            Service("ledger", self._run_ledger, CRITICAL, stop_order=700),
            # Before the venues: it must already watch while a venue service is still starting.
            Service("credentials", self._run_credentials, CRITICAL, stop_order=650),
            Service("venue:extended", self._venue_runner("extended"), NETWORK, stop_order=600),
            Service("venue:lighter", self._venue_runner("lighter"), NETWORK, stop_order=600),
            # Right after both venues loaded their market rules, before anything trades; critical, so a
            # size the venue cannot trade is exit 78 at once (the reconciler's network policy would retry it).
            Service("venue-rules", self._check_venue_rules, CRITICAL, stop_order=0),
            Service("reconciler", self._run_reconciler, NETWORK, stop_order=500),
        ]
        if money_reported():
            # After reconciliation passes: our money against the venues' (issue 14); alerts, never trades.
            # Only where the adapters report money: an idle task in the tree would still change how a
            # DST seed's tasks interleave, for nothing.
            out.append(Service("pnl-check", self._run_pnl_check, NETWORK, stop_order=490))
        out += [
            Service("hedge-executor", self._run_executor, CRITICAL, stop_order=20, wait_on_stop=True),
            Service("exposure-guard", self._run_guard, CRITICAL, stop_order=30),
            Service("cycle", self._run_cycle, CRITICAL, stop_order=10, wait_on_stop=True),
        ]
        return out

    async def _run_sims(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.sim = SimPair.build(self.cfg)
        self.sim.remember_secrets(SECRETS)
        async with trio.open_nursery() as n:
            await n.start(lambda task_status: self.sim.serve(extended_port=self.cfg.sim.extended_port,
                                                             lighter_port=self.cfg.sim.lighter_port,
                                                             task_status=task_status))
            logger.info("simulators_ready extended={} lighter={}", self.sim.extended_urls[0], self.sim.lighter_urls[0])
            task_status.started()

    async def _run_ledger(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        roles = Roles(maker=Leg(Venue.EXTENDED, self.cfg.market.extended), hedge=Leg(Venue.LIGHTER, self.cfg.market.lighter))
        path = Path(self.cfg.daemon.state_dir) / "ledger.sqlite3"
        # A JournalError (corrupt or newer file) escalates: this service is critical.
        # The venues' wall clock where one is given (a simulation's virtual one), for the journal's own
        # stamps and the PnL tracker's "today": both are compared with venue times.
        wall = next((kw["wall_clock"] for kw in self.venue_kw.values() if "wall_clock" in kw), None)
        self.ledger = Ledger.open(roles, path, synchronous=self.cfg.daemon.journal_synchronous, wall_clock=wall)
        self.ledger.write_in_thread = not self.in_memory  # in memory = under the autojump clock
        # before the first event: history folded, new money fed live
        self.pnl = attach_pnl(self.ledger, **({"wall_clock": wall} if wall else {}))
        if self.metrics is not None:
            self.ledger.on_write = self.metrics.journal_write_latency.observe
        self._send, self._recv = trio.open_memory_channel(10_000)
        logger.info("ledger_opened path={} fresh={}", path, self.ledger.replay.fresh)
        kw = self._rate_limit_hooks()
        for venue, extra in self.venue_kw.items():
            kw[venue] = {**kw.get(venue, {}), **extra}
        self.venues = build_venues(self.cfg, sim=self.sim, rng=random.Random(self.rng.random()),
                                   in_memory=self.in_memory, **kw)
        try:
            async with self._recv:
                await self.ledger.run(self._recv, task_status=task_status)
        finally:
            self.ledger.close()

    def _rate_limit_hooks(self) -> dict[str, dict[str, Any]]:
        if self.metrics is None:
            return {}
        m = self.metrics

        def hook(venue: str) -> Callable[[float], None]:
            def on_wait(seconds: float) -> None:
                m.rate_limit_waits.labels(venue).inc()
                m.rate_limit_wait_seconds.labels(venue).inc(seconds)

            return on_wait

        return {"extended": {"on_rate_limit_wait": hook("extended")}, "lighter": {"on_rate_limit_wait": hook("lighter")}}

    async def _check_venue_rules(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Refuses to start (ConfigError, exit 78) when the cycle's sizes are not tradeable on a venue; then
        builds the strategy graph, before the reconciler (the next service) needs it."""
        assert self.venues is not None
        check_venue_rules(self.cfg.cycle, "extended", self.venues.extended.rules)
        check_venue_rules(self.cfg.cycle, "lighter", self.venues.lighter.rules)
        if self.strategy is None:
            self._build_strategy()
        task_status.started()

    async def _run_credentials(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Refused credentials on either venue: counted, alerted once, `Halted` at the bound (exit 3)."""
        assert self.venues is not None

        def count(venue: Venue) -> None:
            if self.metrics is not None:
                self.metrics.credential_refusals.labels(str(venue)).inc()

        async with trio.open_nursery() as n:
            for client in (self.venues.extended, self.venues.lighter):
                n.start_soon(lambda r=client.credentials: self._halts(
                    credentials.watch(r, alert=self.alert, on_refused=count, before_halt=self._last_word)))
            task_status.started()

    async def _last_word(self, refused: Venue) -> None:
        """Before a credentials halt, journal the fills that can still be read:
        * the other venue's trade history: a halt during start-up comes before the reconciler's back-fill
          (it waits for both venues), and a maker fill made while the daemon was down would otherwise be
          counted by no one (DST seed 3003);
        * Lighter refused: its public trade feed, which names both accounts of every trade and needs no
          token; a hedge that filled while its private channels refused every token is there, if recent
          (DST seeds 516, 974, 2965).
        Bounded; a venue that cannot answer is logged and skipped."""
        assert self.venues is not None and self.ledger is not None
        lighter = self.venues.lighter
        others = [c for c in (self.venues.extended, lighter) if c.venue is not refused]
        with trio.move_on_after(2 * LAST_WORD_S):
            await backfill(self.ledger, others, call_s=LAST_WORD_S)
            if refused is Venue.LIGHTER:
                with hedge_path():  # what our hedges did: the REST budget's share kept for hedges
                    await backfill(self.ledger, [lighter], call_s=LAST_WORD_S,
                                   read=lambda _, since: lighter.public_trades(since_ms=since))

    def _venue_runner(self, name: str):
        async def run(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
            assert self.venues is not None and self._send is not None
            client = getattr(self.venues, name)
            await client.run(self._send.clone(), task_status=task_status)

        return run

    def _build_strategy(self) -> None:
        assert self.venues is not None and self.ledger is not None
        self.strategy = s = build_strategy(self.cfg, ledger=self.ledger, maker=self.venues.extended,
                                           hedge=self.venues.lighter, rng=self.rng, alert=self.alert, pnl=self.pnl,
                                           on_latency=self._observe_latency, on_failure=self._count_failure)
        if self.metrics is not None:
            self.metrics.oldest_unhedged_fill_age.set_function(s.executor.oldest_unhedged_age)
        smallest = s.executor.rules().min_size
        if s.tolerance() <= smallest:
            logger.warning("tolerance_below_hedge_minimum tolerance={} hedge_min_size={} (risk.tolerance_pct or "
                           "risk.tolerance_floor is below what {} can trade; the hedge minimum is used)",
                           s.tolerance(), smallest, self.cfg.market.lighter)

    def _count_failure(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.hedge_failures.labels(reason).inc()

    def _observe_latency(self, phase: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.hedge_latency.labels(phase).observe(seconds)

    async def _run_reconciler(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        assert self.reconciler is not None and self.ledger is not None
        if not self.reconciled:
            # Before the executor, guard and cycle start (the supervisor starts in order): orphans are
            # confirmed gone and the ledger reconciled before any hedge or flatten decision.
            kind = ReconcileKind.COLD if self.ledger.replay.fresh else ReconcileKind.WARM
            await self.reconciler.startup(kind)
            self.reconciled = True
        await self.reconciler.run(task_status=task_status)

    async def _run_pnl_check(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        assert self.reconciler is not None and self.ledger is not None and self.venues is not None
        clients = (self.venues.extended, self.venues.lighter)
        if self.pnl is None:  # cannot happen once the ledger started: nothing to compare
            task_status.started()
            await trio.sleep_forever()
        check = MoneyCheck(ledger=self.ledger, tracker=self.pnl, clients=clients,
                           bound=self.cfg.risk.pnl_mismatch_quote, alert=self.alert, metrics=self.metrics,
                           min_gap_s=self.cfg.risk.reconcile_interval_s)
        await check.run(self.reconciler.passes, task_status=task_status)

    async def _run_executor(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        assert self.executor is not None and self.cycle is not None
        budget = self.supervisor.budget  # hedge grace + flatten budget fit inside the supervisor's deadline
        await self._halts(self.executor.run(stopping=self.supervisor.stopping, makers_stopped=self.cycle.stopped,
                                            graceful_s=budget.hedge_grace_s, flatten_s=budget.flatten_s,
                                            on_stop=self.cfg.daemon.on_stop, task_status=task_status))

    async def _run_guard(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        assert self.guard is not None
        await self._halts(self.guard.run(task_status=task_status))

    async def _run_cycle(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        assert self.cycle is not None
        await self._halts(self.cycle.run(stopping=self.supervisor.stopping, task_status=task_status))
        if not self.supervisor.stopping.is_set():
            logger.info("cycles_done iterations={}; stopping", self.cfg.cycle.iterations)
            self.supervisor.request_stop("iterations done")

    async def _halts(self, run: Awaitable[None]) -> None:
        try:
            await run
        except Halted as exc:
            self.halted = exc.reason
            if self.metrics is not None:
                self.metrics.halts.labels(exc.reason[:40]).inc()
                self.metrics.halted.set(1)
            raise

    # ------------------------------------------------------------------ health

    def readiness(self) -> Readiness:
        reasons: list[str] = []
        if self.halted:
            reasons.append(f"halted: {self.halted}")
        if not self.reconciled:
            reasons.append("not reconciled")
        if self.venues is None:
            reasons.append("venues not started")
        else:
            for client in (self.venues.extended, self.venues.lighter):
                stale = client.health().not_live(self.cfg.metrics.stale_feed_s)
                if stale:
                    reasons.append(f"{client.venue} feed down or stale: {','.join(stale)}")
        return Readiness(not reasons, tuple(reasons))

    def status(self) -> dict[str, Any]:
        verdict = self.readiness()
        out: dict[str, Any] = {"halted": self.halted, "reconciled": self.reconciled,
                               "ready": verdict.ok, "reasons": list(verdict.reasons)}
        if self.ledger is not None:
            out["positions"] = self.positions_snapshot()
            out["net_exposure"] = self.ledger.net_exposure.value
            out["open_hedge_delta"] = self.ledger.open_hedge_delta.value
            out["residual"] = self.ledger.residual.value
        if self.cycle is not None:
            out["tolerance"] = self.cycle.tolerance()
            out["cycles"] = summary_fields(self.cycle.summary)
        if self.pnl is not None:
            self.refresh_marks()
            out["pnl"] = self.pnl.status()
        if self.venues is not None:
            out["health"] = {str(c.venue): {k: _health_dict(s) for k, s in c.health().streams.items()}
                             for c in (self.venues.extended, self.venues.lighter)}
        return out

    def refresh_marks(self) -> None:
        """The books' mids as the PnL tracker's fallback marks (the venue's mark price wins when known)."""
        if self.pnl is None or self.venues is None:
            return
        for client in (self.venues.extended, self.venues.lighter):
            top = client.top_of_book.value
            self.pnl.mids[client.venue] = None if top is None else top.mid

    def positions_snapshot(self) -> dict[str, Decimal]:
        if self.ledger is None:
            return {}
        return {str(leg.venue): v for leg, v in self.ledger.positions.value.items()}


def money_reported() -> bool:
    """Whether either venue adapter reports the account's money or funding history (issue 14's venue half)."""
    from hedged.venues.extended import ExtendedClient
    from hedged.venues.lighter import LighterClient

    return any(hasattr(cls, name) for cls in (ExtendedClient, LighterClient) for name in ("account_money", "funding"))


def summary_fields(s: Any) -> dict[str, Any]:
    last = s.reports[-1] if s.reports else None
    return {"cycles": s.cycles, "completed": s.completed, "maker_volume": s.maker_volume,
            "hedge_volume": s.hedge_volume, "sweeps": s.sweeps, "last": dataclasses.asdict(last) if last else None}


def _health_dict(s: Any) -> dict[str, Any]:
    return {"connected": s.connected, "subscribed": s.subscribed, "last_message_age_s": s.last_message_age_s}
