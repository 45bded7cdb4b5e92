"""The strategy's object graph, built in one place: who is handed which collaborator is read here.

    tolerance (ToleranceRule, the guard's rule) -> executor, sweeper, cycle (and its maker worker), guard
    executor -> reconciler (hedge_busy), sweeper (hedge_idle), cycle, guard (hedge_busy), tolerance (untradeable)
    executor.first (HedgeFirst) -> the maker worker, the guard, the ledger's journal writer (each defers to it)
    reconciler -> sweeper -> cycle, guard (reconcile_periodic)

Nothing here starts a task: the engine builds the graph once both venue services have started (their
market rules are loaded) and before the reconciler, and each service then only runs its object.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hedged.config import Config
from hedged.strategy.cycle import CycleRunner
from hedged.strategy.executor import HedgeExecutor
from hedged.strategy.guard import ExposureGuard
from hedged.strategy.ports import Alert, client_ids
from hedged.strategy.reconciler import Reconciler
from hedged.strategy.sweep import Sweeper
from hedged.strategy.tolerance import ToleranceRule
from hedged.venues.base import VenueClient


@dataclass(frozen=True)
class Strategy:
    tolerance: ToleranceRule
    executor: HedgeExecutor
    reconciler: Reconciler
    sweeper: Sweeper
    cycle: CycleRunner
    guard: ExposureGuard


def build_strategy(cfg: Config, *, ledger: Any, maker: VenueClient, hedge: VenueClient, rng: random.Random,
                   alert: Alert, pnl: Any = None, on_latency: Callable[[str, float], None] | None = None,
                   on_failure: Callable[[str], None] | None = None) -> Strategy:
    """`rng` is drawn from twice, executor then cycle (the order the engine always drew in)."""
    ids = client_ids(maker, hedge)
    aggress = cfg.risk.flatten_aggress_bps
    # What the hedge venue can trade at all is the executor's view of its rules at the current price;
    # `executor` is bound on the next line, before anything reads the rule.
    rule = ToleranceRule.of(cfg.cycle, cfg.risk, untradeable=lambda: executor.rules().min_size)
    executor = HedgeExecutor(ledger=ledger, maker=maker, hedge=hedge, cfg=cfg.hedge, tolerance=rule,
                             rng=random.Random(rng.random()), alert=alert, new_client_id=ids, on_latency=on_latency,
                             on_failure=on_failure)
    reconciler = Reconciler(ledger=ledger, maker=maker, hedge=hedge, interval_s=cfg.risk.reconcile_interval_s,
                            hedge_busy=executor.busy, resynced=[maker.synced, hedge.synced], alert=alert,
                            orphan_policy=cfg.risk.orphan_orders)
    executor.backfill = reconciler.backfill  # the failure path's last step (the reconciler is built after it)
    sweeper = Sweeper(ledger=ledger, maker=maker, hedge=hedge, risk=cfg.risk, tolerance=rule, alert=alert,
                      new_client_id=ids, aggress_bps=aggress, hedge_idle=executor.wait_flat, reconciler=reconciler)
    cycle = CycleRunner(ledger=ledger, maker=maker, executor=executor, sweeper=sweeper, cycle_cfg=cfg.cycle,
                        risk_cfg=cfg.risk, rng=random.Random(rng.random()), new_client_id=ids, alert=alert,
                        on_stop=cfg.daemon.on_stop, pnl=pnl, tolerance=rule)
    guard = ExposureGuard(ledger=ledger, maker=maker, hedge=hedge, hedge_busy=executor.busy, tolerance=rule,
                          grace_s=cfg.risk.guard_grace_s, alert=alert, new_client_id=ids, aggress_bps=aggress,
                          reconcile=sweeper.reconcile_periodic, max_position=cfg.risk.max_position,
                          defer=executor.first.defer)
    # The journal's writer also lets a hedge being written go first (its thread would take the GIL the
    # signer needs): set here, where the rest of who-defers-to-whom is read.
    ledger.defer_writes = executor.first.defer
    return Strategy(rule, executor, reconciler, sweeper, cycle, guard)
