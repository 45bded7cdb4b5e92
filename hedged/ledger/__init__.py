"""The ledger: the only place positions change.

Pure core (`LedgerCore`, `plan_hedge`, `plan_reconciliation`) plus the SQLite journal
and the async `Ledger` that publishes positions and exposure as AsyncValues.
See docs/ledger.md.
"""

from hedged.ledger.core import LedgerCore, LedgerStats
from hedged.ledger.hedging import Coverage, HedgePlan, plan_hedge
from hedged.ledger.journal import Journal, JournalError, ReplayInfo
from hedged.ledger.orders import ALLOWED, Leg, OrderRecord, Roles, next_status
from hedged.ledger.reconcile import (Adjustment, ReconcileKind, ReconcilePlan, apply_reconciliation,
                                     plan_reconciliation)
from hedged.ledger.schema import CURRENT_VERSION
from hedged.ledger.service import Ledger

__all__ = [
    "ALLOWED", "CURRENT_VERSION", "Adjustment", "Coverage", "HedgePlan", "Journal", "JournalError", "Leg", "Ledger",
    "LedgerCore", "LedgerStats", "OrderRecord", "ReconcileKind", "ReconcilePlan", "ReplayInfo", "Roles",
    "apply_reconciliation", "next_status", "plan_hedge", "plan_reconciliation",
]
