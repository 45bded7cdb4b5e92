"""The Extended simulator's local HTTP control surface (standalone mode), under `control_path`.

| Request | Effect |
|---|---|
| `GET  {control}/truth` | `{position, balance, openOrders, fills, reference, bestBid, bestAsk, money, fundings, fundingRate}` |
| `GET  {control}/money` | the account's money truth: `{initialBalance, balance, realisedPnl, feesPaid, fundingReceived, fills, fundingPayments}` |
| `POST {control}/funding/settle` | one funding settlement now → `{"payment": <history row> or null}` |
| `POST {control}/funding/rate` `{"rate": "0.00002"}` | the rate the next settlement applies |
| `POST {control}/price` `{"price": "151.2"}` or `{"pct": "-1.5"}` | move the reference price |
| `POST {control}/step` `{"n": 10}` | run market steps now |
| `POST {control}/fill` `{"order": id or externalId, "qty": "0.4", "price"?: "150.1"}` | force a fill |
| `POST {control}/flow` `{"side": "buy"/"sell", "qty": "1"}` | another trader's aggressive order |
| `POST {control}/fault` `{"kind": "close_after", "target": "account", "on": "TRADE", ...}` | add a fault rule |
| `POST {control}/faults/clear` | drop every fault rule |
| `POST {control}/book/pull` `{"side"?: "buy"/"sell"}`, `POST {control}/book/restore` | pull / restore liquidity |
| `POST {control}/book/cross` | one DELTA per book connection with a bid above the best ask (a fresh SNAPSHOT is sound) |
| `GET  {control}/stamps`, `GET {control}/stamps/counts` | benchmark stamps (CLOCK_MONOTONIC): fill frames written, orders ended with a fill; counts add book frames sent |

Parsing and error replies are shared with the Lighter sim (hedged/sim/common/control.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hedged.sim.extended.wire import dec
from hedged.sim.common import control
from hedged.sim.common.control import BadField, ControlArgs
from hedged.sim.common.transport import SimRequest, SimResponse

if TYPE_CHECKING:
    from hedged.sim.extended.host import ExtendedHost


async def handle_control(sim: ExtendedHost, req: SimRequest, rel: str) -> SimResponse:
    return await control.handle_control(routes(sim), req, rel)


def routes(sim: ExtendedHost) -> dict[tuple[str, str], control.Route]:
    return {
        ("GET", "/truth"): lambda a: truth(sim),
        ("POST", "/price"): lambda a: price(sim, a),
        ("POST", "/step"): lambda a: sim.step_market(a.integer("n", 1, minimum=0)),
        ("POST", "/fill"): lambda a: fill(sim, a),
        ("POST", "/flow"): lambda a: sim.add_flow(a.side("side"), a.decimal("qty", positive=True)),
        ("POST", "/fault"): lambda a: sim.faults.add(a.fault()),
        ("POST", "/faults/clear"): lambda a: sim.faults.clear(),
        ("POST", "/book/pull"): lambda a: sim.pull_book(a.side("side", None)),
        ("POST", "/book/restore"): lambda a: sim.restore_book(),
        ("POST", "/book/cross"): lambda a: sim.cross_book(),
        ("GET", "/money"): lambda a: sim.money.as_json(sim.balance()),
        ("POST", "/funding/settle"): lambda a: {"payment": sim.settle_funding()},
        ("POST", "/funding/rate"): lambda a: sim.set_funding_rate(a.decimal("rate")),
        ("GET", "/stamps"): lambda a: sim.stamps.snapshot(),
        ("GET", "/stamps/counts"): lambda a: {**sim.stamps.counts(), "book_frames": sim.book_frames_sent},
    }


def truth(sim: ExtendedHost) -> dict[str, Any]:
    return {
        "position": dec(sim.position()),
        "balance": dec(sim.balance()),
        "openOrders": sim.open_orders(),
        "fills": sim.fills(),
        "reference": dec(sim.market.reference),
        "bestBid": None if sim.book.best_bid is None else dec(sim.book.best_bid),
        "bestAsk": None if sim.book.best_ask is None else dec(sim.book.best_ask),
        "money": sim.money.as_json(sim.balance()),
        "fundings": sim.fundings(),
        "fundingRate": dec(sim.funding.current),
    }


def price(sim: ExtendedHost, a: ControlArgs) -> None:
    if a.has("price"):
        sim.set_price(a.decimal("price", positive=True))
    else:
        sim.move_price(a.decimal("pct"))


def fill(sim: ExtendedHost, a: ControlArgs) -> None:
    order = a.values.get("order")
    if order is None or isinstance(order, bool) or not isinstance(order, int | str):
        raise BadField("order", "expected a venue id (integer) or an externalId (string)")
    qty = a.decimal("qty", positive=True)
    px = a.decimal("price", None, positive=True)
    try:
        sim.force_fill(order, qty, px)
    except KeyError:
        raise BadField("order", f"unknown order {order!r}") from None
