"""The strategy: cycle runner, maker chaser, hedge executor, exposure guard (see docs/strategy.md)."""

from hedged.strategy.cycle import CycleReport, CycleRunner, CycleSummary
from hedged.strategy.executor import ExecutorStats, HedgeExecutor
from hedged.strategy.failsafe import FlattenResult, flatten_and_verify
from hedged.strategy.guard import ExposureGuard
from hedged.strategy.maker import MakerWorker, WorkResult
from hedged.strategy.planning import CyclePlan, plan_cycle
from hedged.strategy.ports import Alert, LedgerPort, client_ids
from hedged.strategy.sweep import Sweeper, SweepResult
from hedged.strategy.tolerance import tolerance, within

__all__ = [
    "Alert", "CyclePlan", "CycleReport", "CycleRunner", "CycleSummary", "ExecutorStats", "ExposureGuard",
    "FlattenResult", "HedgeExecutor", "LedgerPort", "MakerWorker", "SweepResult", "Sweeper", "WorkResult",
    "client_ids", "flatten_and_verify", "plan_cycle", "tolerance", "within",
]
