"""The Lighter simulator's local HTTP control surface (standalone mode), under `control_path` (default /_sim).

Same route names, bodies and reply shapes as the Extended sim's (hedged/sim/extended/control.py) where
the control exists on both; parsing and errors are shared (hedged/sim/common/control.py). `account` defaults
to the sim's only trading account; give it (`?account=` or in the body) when there are several.

| Request | Effect |
|---|---|
| `GET  {control}/truth[?account=A]` | `{account, position, collateral, openOrders, fills, reference, bestBid, bestAsk, frozen, money, fundings, fundingRate}` |
| `GET  {control}/money[?account=A]` | the account's money truth: `{initialBalance, balance, realisedPnl, feesPaid, fundingReceived, fills, fundingPayments}` |
| `POST {control}/funding/settle` | one funding round now → `{"payments": [<PositionFunding JSON>...]}` (every account with a position) |
| `POST {control}/funding/rate` `{"rate": "0.00002"}` | the (hourly) rate the next round applies |
| `GET  {control}/order?client_order_index=N[&account=A]` | `{"order": <venue order JSON> or null}` (the latest with that index) |
| `POST {control}/price` `{"price": "151.2"}` or `{"pct": "-1.5"}` | move the reference price (the shared Market) |
| `POST {control}/step` `{"n": 10}` | run market steps now, then match flow and publish the book |
| `POST {control}/fill` `{"order": order_index or "client_order_id", "qty"?: "0.4", "price"?: "150.1", "account"?}` | force a maker fill (qty default: all that remains) |
| `POST {control}/flow` `{"side": "buy"/"sell", "qty": "1"}` | another trader's aggressive order (matched on the next feed tick) |
| `POST {control}/fault` `{"kind": "reject", "target": "POST /sendTx", ...}` | add a fault rule |
| `POST {control}/faults/clear` | drop every fault rule |
| `POST {control}/book/pull` `{"side"?: "buy"/"sell"}`, `POST {control}/book/restore` | pull / restore liquidity |
| `POST {control}/book/cross` | one order_book update with a bid above the best ask (a fresh snapshot is sound) |
| `POST {control}/feed/freeze` `{"frozen"?: true}` | stop (or with false, resume) order_book updates |
| `POST {control}/orders/reject` `{"count"?: 1, "status"?: "canceled-margin-not-allowed"}` | the next creates are acked, then cancelled by the sequencer |
| `POST {control}/nonce/skip` `{"api_key_index"?: K, "by"?: 1, "account"?}` | advance the venue's nonce behind the client's back |
| `POST {control}/tokens/revoke` | every auth token minted so far becomes invalid |
| `POST {control}/shutdown` `{"close_in_ms"?: 0}` | `{"type":"shutdown"}` to every WS, closed after the delay; replies once closed |
| `GET  {control}/stamps`, `GET {control}/stamps/counts` | benchmark stamps (CLOCK_MONOTONIC): txs accepted, orders ended (hedged/sim/common/stamps.py) |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hedged.sim.lighter import money as sim_money
from hedged.sim.lighter import render
from hedged.sim.lighter.exchange import MARKET_MAKER_ACCOUNT
from hedged.sim.common import control
from hedged.sim.common.control import BadField, ControlArgs
from hedged.sim.common.transport import SimRequest, SimResponse

if TYPE_CHECKING:
    from hedged.sim.lighter.host import LighterHost


async def handle_control(sim: LighterHost, req: SimRequest, rel: str) -> SimResponse:
    return await control.handle_control(routes(sim), req, rel)


def routes(sim: LighterHost) -> dict[tuple[str, str], control.Route]:
    return {
        ("GET", "/truth"): lambda a: truth(sim, a),
        ("GET", "/order"): lambda a: order(sim, a),
        ("POST", "/price"): lambda a: price(sim, a),
        ("POST", "/step"): lambda a: sim.step_market(a.integer("n", 1, minimum=0)),
        ("POST", "/fill"): lambda a: fill(sim, a),
        ("POST", "/flow"): lambda a: sim.add_flow(a.side("side"), a.decimal("qty", positive=True)),
        ("POST", "/fault"): lambda a: sim.add_fault(a.fault()),
        ("POST", "/faults/clear"): lambda a: sim.faults.clear(),
        ("POST", "/book/pull"): lambda a: sim.pull_book(a.side("side", None)),
        ("POST", "/book/restore"): lambda a: sim.restore_book(),
        ("POST", "/book/cross"): lambda a: sim.cross_book(),
        ("POST", "/feed/freeze"): lambda a: sim.freeze_feed(a.boolean("frozen", True)),
        ("POST", "/orders/reject"): lambda a: reject(sim, a),
        ("POST", "/nonce/skip"): lambda a: skip_nonce(sim, a),
        ("POST", "/tokens/revoke"): lambda a: sim.revoke_tokens(),
        ("POST", "/shutdown"): lambda a: sim.shutdown_connections(a.integer("close_in_ms", 0, minimum=0)),
        ("GET", "/money"): lambda a: money(sim, a),
        ("POST", "/funding/settle"): lambda a: {"payments": [
            sim_money.position_funding_json(sim.settings.market, f) for f in sim.settle_funding()]},
        ("POST", "/funding/rate"): lambda a: sim.set_funding_rate(a.decimal("rate")),
        ("GET", "/stamps"): lambda a: sim.stamps.snapshot(),
        ("GET", "/stamps/counts"): lambda a: sim.stamps.counts(),
    }


def account_of(sim: LighterHost, a: ControlArgs) -> int:
    accounts = [i for i in sim.exchange.accounts if i != MARKET_MAKER_ACCOUNT]
    if a.has("account"):
        index = a.integer("account")
        if index not in sim.exchange.accounts:
            raise BadField("account", f"unknown account {index}")
        return index
    if len(accounts) != 1:
        raise BadField("account", f"missing (the sim has {len(accounts)} accounts)")
    return accounts[0]


def _dec(x: Any) -> str | None:
    return None if x is None else format(x, "f")


def truth(sim: LighterHost, a: ControlArgs) -> dict[str, Any]:
    acct = account_of(sim, a)
    m, height = sim.settings.market, sim.exchange.block_height
    return {
        "account": acct,
        "position": _dec(sim.position(acct)),
        "collateral": _dec(sim.collateral(acct)),
        "openOrders": [render.order_json(m, o, block_height=height) for o in sim.open_orders(acct)],
        "fills": [render.trade_json(m, t, block_height=height) for t in sim.fills(acct)],
        "reference": _dec(sim.market_model.reference),
        "bestBid": _dec(sim.book.best_bid),
        "bestAsk": _dec(sim.book.best_ask),
        "frozen": sim.frozen,
        "money": sim.money(acct).as_json(sim.collateral(acct)),
        "fundings": [sim_money.position_funding_json(m, f) for f in sim.fundings(acct)],
        "fundingRate": _dec(sim.funding.current),
    }


def money(sim: LighterHost, a: ControlArgs) -> dict[str, Any]:
    acct = account_of(sim, a)
    return sim.money(acct).as_json(sim.collateral(acct))


def order(sim: LighterHost, a: ControlArgs) -> dict[str, Any]:
    acct = account_of(sim, a)
    found = sim.order_by_client_id(acct, a.integer("client_order_index", minimum=0))
    height = sim.exchange.block_height
    return {"order": None if found is None else render.order_json(sim.settings.market, found, block_height=height)}


def price(sim: LighterHost, a: ControlArgs) -> None:
    if a.has("price"):
        sim.set_price(a.decimal("price", positive=True))
    else:
        sim.move_price(a.decimal("pct"))


def fill(sim: LighterHost, a: ControlArgs) -> None:
    qty = a.decimal("qty", None, positive=True)
    px = a.decimal("price", None, positive=True)
    ref = a.values.get("order")
    if isinstance(ref, str):  # the client's id, as Lighter renders it (`client_order_id`)
        coi = a.integer("order", minimum=0)
        found = sim.order_by_client_id(account_of(sim, a), coi)
        if found is None:
            raise BadField("order", f"unknown client_order_id {ref!r}")
        order_index = found.order_index
    elif isinstance(ref, int) and not isinstance(ref, bool):
        order_index = ref
    else:
        raise BadField("order", "expected an order_index (integer) or a client_order_id (string)")
    try:
        sim.force_fill(order_index, qty, price=px)
    except KeyError:
        raise BadField("order", f"unknown order {ref!r}") from None
    except ValueError as exc:  # not live any more
        raise BadField("order", str(exc)) from None


def reject(sim: LighterHost, a: ControlArgs) -> None:
    status = a.text("status", "canceled-margin-not-allowed")
    if not status.startswith("canceled-"):
        raise BadField("status", f"expected a canceled-* order status, got {status!r}")
    sim.reject_next_orders(a.integer("count", 1, minimum=1), status)


def skip_nonce(sim: LighterHost, a: ControlArgs) -> None:
    acct = account_of(sim, a)
    keys = sorted(sim.exchange.accounts[acct].api_keys)
    if a.has("api_key_index"):
        key = a.integer("api_key_index")
        if key not in keys:
            raise BadField("api_key_index", f"no api key {key} on account {acct}")
    elif len(keys) == 1:
        key = keys[0]
    else:
        raise BadField("api_key_index", f"missing (account {acct} has {len(keys)} keys)")
    sim.skip_nonce(acct, key, a.integer("by", 1, minimum=1))
