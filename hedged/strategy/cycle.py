"""The cycle runner: [delay while flat] -> sweep -> open -> hold -> close -> sweep residual.

The maker leg is worked by `MakerWorker`; hedging is the executor's business, not the cycle's.
One readable line per cycle and a summary when it stops.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import trio
from loguru import logger

from hedged.strategy.executor import HedgeExecutor
from hedged.strategy.maker import MakerWorker
from hedged.strategy.planning import CyclePlan, FundingDecision, funding_side, plan_cycle
from hedged.strategy.recent import Recent
from hedged.strategy.sweep import Sweeper
from hedged.strategy.tolerance import ToleranceRule, within
from hedged.venues.base import Side, VenueClient, VenueError


@dataclass
class CycleReport:
    n: int
    side: str
    size: Decimal
    opened: Decimal
    maker_avg: Decimal | None
    hedge_avg: Decimal | None
    hedge_latency_s: float | None
    residual: Decimal
    outcome: str
    pnl: Decimal | None = None  # the cycle's realised money: price PnL - fees + funding (None: no PnL book)
    fees: Decimal | None = None  # the cycle's fees, net of rebates


REPORTS_KEPT = 1000  # cycle reports kept in memory (the journal has every cycle)


@dataclass
class CycleSummary:
    cycles: int = 0
    completed: int = 0
    maker_volume: Decimal = Decimal(0)
    hedge_volume: Decimal = Decimal(0)
    sweeps: int = 0
    # The last REPORTS_KEPT cycles' reports, indexed as the whole run (len = every cycle reported).
    reports: Recent[CycleReport] = field(default_factory=lambda: Recent(REPORTS_KEPT))


def _money(value: Decimal | None) -> str:
    # Quote currency to 6 places for the line people read; the journal and `hedged pnl` stay exact.
    return "-" if value is None else str(value.quantize(Decimal("0.000001")))


_RATE_CALL_S = 5.0  # a funding rate that does not come in time: the random side


def _cents(value: Decimal | None) -> str:
    return "-" if value is None else str(value.quantize(Decimal("0.01")))


def _avg(notional: Decimal, qty: Decimal) -> Decimal | None:
    return None if qty == 0 else (notional / qty).quantize(Decimal("0.0001"))


class CycleRunner:
    def __init__(self, *, ledger, maker: VenueClient, executor: HedgeExecutor, sweeper: Sweeper, cycle_cfg, risk_cfg,
                 rng: random.Random, new_client_id, alert=None,
                 untradeable: Callable[[], Decimal] | None = None, on_stop: str = "keep", pnl=None,
                 tolerance: ToleranceRule | None = None) -> None:
        self.pnl = pnl  # hedged.pnl.tracker.PnlTracker, or None (then the line says pnl=-)
        self._no_rate: set = set()  # venues already named as not reporting a funding rate
        # The exposure rule everyone shares (the service graph passes it in); this task sets its cycle size.
        self.rule = tolerance if tolerance is not None else ToleranceRule.of(cycle_cfg, risk_cfg, untradeable)
        self.on_stop = on_stop  # daemon.on_stop: what the summary line says about legs left open
        self.ledger = ledger
        self.maker = maker
        self.executor = executor
        self.sweeper = sweeper
        self.cfg = cycle_cfg
        self.risk = risk_cfg
        self.rng = rng
        self.alert = alert
        self.plan: CyclePlan | None = None
        self.summary = CycleSummary()
        self.stopped = trio.Event()  # set once the cycle has stopped and no maker order is left
        self.worker = MakerWorker(ledger=ledger, maker=maker, hedge_busy=executor.busy, cfg=cycle_cfg,
                                  tolerance=self.tolerance, new_client_id=new_client_id,
                                  unhedged=executor.unhedged, max_position=risk_cfg.max_position,
                                  defer=executor.first.defer)

    def tolerance(self) -> Decimal:
        """The shared rule's value now (`ToleranceRule`)."""
        return self.rule()

    async def run(self, *, stopping: trio.Event | None = None, task_status=trio.TASK_STATUS_IGNORED) -> None:
        if stopping is None:
            stopping = trio.Event()
        task_status.started()
        try:
            n = 0
            while not stopping.is_set() and (self.cfg.iterations == 0 or n < self.cfg.iterations):
                n += 1
                await self.run_cycle(n, stopping)
        finally:
            self.stopped.set()

    async def run_cycle(self, n: int, stopping: trio.Event) -> CycleReport | None:
        venue = self.maker.venue
        plan = plan_cycle(self.cfg, self.rng)
        start = self.ledger.position(venue)
        # A cycle starts from flat. Anything else (a restart mid-cycle, a failed close) is closed first,
        # with hedging running, and the random pause is skipped: we never idle while exposed.
        if self.maker.rules.round_size_down(abs(start)) >= self.maker.rules.min_size:
            logger.warning("cycle_not_flat n={} maker_position={}: closing it first", n, start)
            await self.executor.wait_flat()
            await self.worker.work(self._side_to_flat(start), Decimal(0), stopping=stopping)
            return None
        if not within(self.ledger.net_exposure.value, self.tolerance()) or self.executor.busy.value:
            logger.info("cycle_delay_skipped n={} reason=exposure_open", n)
        else:
            with trio.move_on_after(plan.delay_s):
                await stopping.wait()
            if stopping.is_set():
                return None
        await self.executor.wait_flat()
        if self.cfg.direction == "funding":  # decided at the last moment, on the rates of now
            decision = await self.decide_funding(plan.side)
            plan = dataclasses.replace(plan, side=decision.side)
            logger.info("cycle_direction n={} side={} decided_by={} why={} edge={} maker_rate={} hedge_rate={}", n,
                        decision.side, decision.decided_by, decision.why, decision.edge, decision.maker_rate,
                        decision.hedge_rate)
        if self.risk.sweep_before_cycle:
            result = await self.sweeper.sweep(f"before cycle {n}")
            if result.flattened:
                self.summary.sweeps += 1
        self.plan = plan
        self.rule.cycle_size = plan.size
        self.summary.cycles += 1
        self.ledger.record_cycle(str(n), "start")
        cycle_seq = self.ledger.core.cycle_seq  # journal-wide number: the PnL book's bucket for this cycle
        first_hedge = len(self.executor.hedge_orders)
        logger.debug("cycle_start n={} side={} size={} hold_s={:.1f}", n, plan.side, plan.size, plan.hold_s)
        target = start + plan.size * plan.side.sign
        opened = await self.worker.work(plan.side, target, stopping=stopping)
        closed = None
        outcome = "completed" if opened.reached else f"open_{opened.why}"
        if opened.reached and not stopping.is_set():
            with trio.move_on_after(plan.hold_s):
                await stopping.wait()
        if stopping.is_set():
            # A stop leaves a hedged position for the next start to close; it only has to leave no
            # maker order behind, which `work` guarantees.
            outcome = "stopped"
        else:
            # Close to flat (not to `start`): a maker residual below the venue minimum must not accumulate.
            closed = await self.worker.work(plan.side.opposite, Decimal(0), stopping=stopping)
            if not closed.reached:
                outcome = f"close_{closed.why}"
        closed_qty = closed.filled if closed else Decimal(0)
        closed_notional = closed.notional if closed else Decimal(0)
        if not stopping.is_set():
            # At a stop the executor owns what is open (its grace, then the failure path): the cycle
            # reports now, so `stopped` is set and the executor's grace is not spent waiting for it.
            await self.executor.wait_flat()
        residual = self.ledger.net_exposure.value
        if not within(residual, self.tolerance()) and not stopping.is_set():
            result = await self.sweeper.sweep(f"after cycle {n}")
            self.summary.sweeps += int(result.flattened)
            residual = self.ledger.net_exposure.value
        hedge_qty, hedge_priced, hedge_notional = self.executor.fills_since(first_hedge)
        report = CycleReport(
            n=n, side=str(plan.side), size=plan.size, opened=opened.filled,
            maker_avg=_avg(opened.notional + closed_notional, opened.filled + closed_qty),
            hedge_avg=_avg(hedge_notional, hedge_priced),
            hedge_latency_s=self.executor.statistics().last_latency_s, residual=residual, outcome=outcome)
        if self.pnl is not None:
            money = self.pnl.cycle(cycle_seq)
            report.pnl, report.fees = money.net, money.fees
        self.summary.reports.append(report)
        self.summary.maker_volume += opened.filled + closed_qty
        self.summary.hedge_volume += hedge_qty
        if outcome == "completed":
            self.summary.completed += 1
        latency = "-" if report.hedge_latency_s is None else f"{report.hedge_latency_s * 1000:.0f}ms"
        # maker/hedge = each leg's average price. Short names keep the line within a terminal's width;
        # pnl and fees in cents here, exact in `hedged pnl` and the journal.
        logger.info("cycle n={} side={} size={} maker={} hedge={} latency={} residual={} pnl={} fees={} outcome={}", n,
                    report.side, report.size, report.maker_avg, report.hedge_avg, latency, report.residual,
                    _cents(report.pnl), _cents(report.fees), outcome)
        self.ledger.record_cycle(str(n), "done", detail=outcome)
        return report

    async def decide_funding(self, fallback: Side) -> FundingDecision:
        rates = [await self._rate(client) for client in (self.maker, self.executor.hedge)]
        return funding_side(rates[0], rates[1], self.cfg.funding_min_edge, fallback)

    async def _rate(self, client: VenueClient) -> Decimal | None:
        ask = getattr(client, "funding_rate", None)
        if ask is None:
            if client.venue not in self._no_rate:
                self._no_rate.add(client.venue)
                logger.warning("funding_rate_unsupported venue={} (the venue client does not report it; "
                               "direction=funding falls back to random)", client.venue)
            return None
        try:
            with trio.fail_after(_RATE_CALL_S):
                return await ask()
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("funding_rate_failed venue={} error={!r}", client.venue, exc)
            return None

    def _side_to_flat(self, position: Decimal) -> Side:
        return Side.SELL if position > 0 else Side.BUY

    def log_summary(self) -> None:
        """The run's summary, logged once every service has stopped (the daemon calls it), so the legs
        it reports include the last hedges the executor finished after the cycle stopped."""
        s = self.summary
        maker, hedge = self.ledger.position(self.maker.venue), self.ledger.position(self.executor.hedge.venue)
        legs = "flat" if maker == 0 and hedge == 0 else ("open" if self.on_stop == "flatten" else "kept")
        logger.info("cycles_summary cycles={} completed={} maker_volume={} hedge_volume={} sweeps={} net_exposure={} "
                    "legs={}", s.cycles, s.completed, s.maker_volume, s.hedge_volume, s.sweeps,
                    self.ledger.net_exposure.value, legs)
        if self.pnl is not None:
            for client in (self.maker, self.executor.hedge):  # the last book mids, if no venue mark is known
                top = client.top_of_book.value
                if top is not None and top.mid is not None:
                    self.pnl.mids[client.venue] = top.mid
            today, total = self.pnl.today(), self.pnl.total()
            # Today = since 00:00 UTC, realised; all time = the whole journal, open legs at their marks.
            logger.info("pnl_today net={} price={} fees={} funding={}", _money(today.net), _money(today.realised),
                        _money(today.fees), _money(today.funding))
            logger.info("pnl_all_time net={} realised={} unrealised={} fees={} funding={}", _money(total.net),
                        _money(total.realised), _money(total.unrealised) if total.marked else "unmarked",
                        _money(total.fees), _money(total.funding))
        # A second line, so each stays readable on a terminal: what is open and what to do about it.
        if legs == "kept":
            logger.info("legs_open maker={} hedge={} on_stop=keep close_with='hedged flatten'", maker, hedge)
        elif legs == "open":
            logger.info("legs_open maker={} hedge={} on_stop=flatten (not closed)", maker, hedge)
