"""The Extended simulator's local HTTP control surface (standalone mode), under `control_path`.

| Request | Effect |
|---|---|
| `GET  {control}/truth` | `{position, balance, openOrders, fills, reference, bestBid, bestAsk}` |
| `POST {control}/price` `{"price": "151.2"}` or `{"pct": "-1.5"}` | move the reference price |
| `POST {control}/step` `{"n": 10}` | run market steps now |
| `POST {control}/fill` `{"order": id or externalId, "qty": "0.4", "price"?: "150.1"}` | force a fill |
| `POST {control}/flow` `{"side": "buy"/"sell", "qty": "1"}` | another trader's aggressive order |
| `POST {control}/fault` `{"kind": "close_after", "target": "account", "on": "TRADE", ...}` | add a fault rule |
| `POST {control}/faults/clear` | drop every fault rule |
| `POST {control}/book/pull` `{"side"?: "buy"/"sell"}`, `POST {control}/book/restore` | pull / restore liquidity |
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from hedged.venues.base import Side
from hedged.venues.extended.sim_wire import dec, dumps
from hedged.venues.sim.faults import fault_from_json
from hedged.venues.sim.transport import SimRequest, SimResponse

if TYPE_CHECKING:
    from hedged.venues.extended.sim import ExtendedSim


def _reply(status: int, obj: Any) -> SimResponse:
    return SimResponse(status, dumps(obj))


def handle_control(sim: ExtendedSim, req: SimRequest, rel: str) -> SimResponse:
    try:
        body = json.loads(req.body) if req.body else {}
        return _dispatch(sim, req.method, rel, body)
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        return _reply(400, {"error": f"{type(exc).__name__}: {exc}"})


def _dispatch(sim: ExtendedSim, method: str, rel: str, body: dict[str, Any]) -> SimResponse:
    if (method, rel) == ("GET", "/truth"):
        return _reply(
            200,
            {
                "position": dec(sim.position()),
                "balance": dec(sim.balance()),
                "openOrders": sim.open_orders(),
                "fills": sim.fills(),
                "reference": dec(sim.market.reference),
                "bestBid": None if sim.book.best_bid is None else dec(sim.book.best_bid),
                "bestAsk": None if sim.book.best_ask is None else dec(sim.book.best_ask),
            },
        )
    if method != "POST":
        return _reply(404, {"error": "unknown control request"})
    if rel == "/price":
        if "price" in body:
            sim.set_price(Decimal(str(body["price"])))
        else:
            sim.move_price(Decimal(str(body["pct"])))
    elif rel == "/step":
        sim.step_market(int(body.get("n", 1)))
    elif rel == "/fill":
        order = body["order"]
        price = Decimal(str(body["price"])) if body.get("price") is not None else None
        sim.force_fill(int(order) if isinstance(order, int) else str(order), Decimal(str(body["qty"])), price)
    elif rel == "/flow":
        sim.add_flow(Side(str(body["side"]).lower()), Decimal(str(body["qty"])))
    elif rel == "/fault":
        sim.faults.add(fault_from_json(body))
    elif rel == "/faults/clear":
        sim.faults.clear()
    elif rel == "/book/pull":
        sim.pull_book(Side(str(body["side"]).lower()) if body.get("side") else None)
    elif rel == "/book/restore":
        sim.restore_book()
    else:
        return _reply(404, {"error": "unknown control request"})
    return _reply(200, {"ok": True})
