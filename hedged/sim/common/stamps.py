"""Benchmark stamps: when a simulator wrote a fill frame, and when an order transaction arrived.

Times are `CLOCK_MONOTONIC` seconds, not Trio's clock: Trio adds a random per-run offset to its
clock, while the monotonic clock is one system-wide clock, so stamps taken in the simulators'
process compare directly with those a benchmark takes in its own process. `bench/fill_to_hedge.py`
reads them over the control surface (`GET <control>/stamps`) and attributes hedges to fills.

Each log keeps at most `limit` rows per kind (oldest dropped), so a long-running `hedged sim` does
not grow without bound; the dropped count is reported so a reader knows its window is partial.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

DEFAULT_LIMIT = 50_000


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class StampLog:
    """Rows by kind ("fills", "orders", "txs", ...), each a small JSON-ready dict with `t`."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.rows: dict[str, deque[dict[str, Any]]] = {}
        self.dropped: dict[str, int] = {}
        self._seen: set[tuple[str, Any]] = set()

    def add(self, kind: str, row: dict[str, Any], *, once: Any = None) -> None:
        """Record `row` (its `t` is set now unless given). With `once`, a key already recorded for
        `kind` is ignored: a frame broadcast to two connections is one event."""
        if once is not None:
            key = (kind, once)
            if key in self._seen:
                return
            self._seen.add(key)
            if len(self._seen) > 4 * self.limit:
                self._seen.clear()
        row.setdefault("t", now())
        rows = self.rows.setdefault(kind, deque())
        rows.append(row)
        if len(rows) > self.limit:
            rows.popleft()
            self.dropped[kind] = self.dropped.get(kind, 0) + 1

    def counts(self) -> dict[str, int]:
        return {kind: len(rows) + self.dropped.get(kind, 0) for kind, rows in self.rows.items()}

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {kind: list(rows) for kind, rows in self.rows.items()}
        out["dropped"] = dict(self.dropped)
        out["clock"] = "CLOCK_MONOTONIC"
        out["now"] = now()
        return out

    def clear(self) -> None:
        self.rows.clear()
        self.dropped.clear()
        self._seen.clear()


# ---------------------------------------------------------------- Lighter rows (duck-typed: no sim imports)

_CREATE, _CANCEL, _MODIFY = 14, 15, 17


def lighter_tx_row(tx: Any, market: Any, exchange: Any) -> dict[str, Any]:
    """One accepted sendTx: type, and for orders side/qty/client index. A modify carries the order's
    remaining size before it (`BaseAmount` is the new remaining size), so an upward amend can be
    counted as new hedge quantity."""
    info, size = tx.info, market.size
    row: dict[str, Any] = {"type": tx.tx_type}
    if tx.tx_type == _CREATE:
        row.update(side="sell" if info["IsAsk"] else "buy", qty=str(size(info["BaseAmount"])),
                   client=info["ClientOrderIndex"], tif=info["TimeInForce"], reduce_only=bool(info["ReduceOnly"]))
    elif tx.tx_type in (_CANCEL, _MODIFY):
        order = exchange.orders.get(info["Index"])
        live = order is not None and order.live
        row.update(index=info["Index"], client=None if order is None else order.client_order_index)
        if tx.tx_type == _MODIFY:
            row.update(qty=str(size(info["BaseAmount"])), before=str(size(order.remaining_base)) if live else None,
                       side=None if order is None else ("sell" if order.is_ask else "buy"))
    return row


def lighter_order_row(order: Any, market: Any) -> dict[str, Any]:
    """An order reached a final status: what was filled of it."""
    return {"client": order.client_order_index, "index": order.order_index, "status": order.status,
            "filled": str(market.size(order.filled_base)), "qty": str(market.size(order.initial_base)),
            "side": "sell" if order.is_ask else "buy"}
