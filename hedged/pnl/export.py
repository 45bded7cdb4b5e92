"""Copy the PnL tracker's figures into the Prometheus series (called by the metrics exporter)."""

from __future__ import annotations

from typing import Any

from hedged.metrics import LIQUIDITIES
from hedged.pnl.tracker import PnlTracker


class PnlExporter:
    def __init__(self, metrics: Any, tracker: PnlTracker) -> None:
        self.m = metrics
        self.tracker = tracker
        self._cycles_seen = 0

    def export(self, reports: list | None = None) -> None:
        m, total = self.m, self.tracker.total()
        for leg in total.legs:
            v = str(leg.venue)
            for component, value in (("realised", leg.realised), ("unrealised", leg.unrealised or 0),
                                     ("fees", -leg.fees), ("funding", leg.funding), ("net", leg.net)):
                m.pnl.labels(component=component, venue=v).set(float(value))
            for liq in LIQUIDITIES:
                m.fees.labels(venue=v, liquidity=liq).set(float(leg.fees_paid.get(liq, 0) - leg.rebates.get(liq, 0)))
            m.funding.labels(venue=v).set(float(leg.funding))
        # One histogram sample per finished cycle that has a PnL figure (cycle reports are appended).
        if reports is not None:
            for report in reports[self._cycles_seen:]:
                if report.pnl is not None:
                    m.cycle_pnl.observe(float(report.pnl))
            self._cycles_seen = len(reports)
