"""REST side of the Extended simulator: auth, rate limit, faults, and the routes of extended.md §4."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from hedged.sim.extended import wire
from hedged.sim.extended.checks import Reject, check_order
from hedged.sim.common.faults import FaultKind
from hedged.sim.common.transport import SimRequest, SimResponse

if TYPE_CHECKING:
    from hedged.sim.extended.host import ExtendedHost

NOT_FOUND_CODE = 404  # the venue's code for "not found" is UNCONFIRMED (docs show "NOT_FOUND"); the SDK needs an int


def _resp(status: int, body: bytes) -> SimResponse:
    return SimResponse(status, body)


def _err(status: int, code: int, message: str) -> SimResponse:
    return SimResponse(status, wire.error(code, message))


def _ok(data: Any = None, **kw: Any) -> SimResponse:
    return SimResponse(200, wire.ok(data, **kw))


def _not_found(what: str = "Not found") -> SimResponse:
    return _err(404, NOT_FOUND_CODE, what)


async def _hang(delay: float | None) -> SimResponse:
    if delay is None:
        await trio.sleep_forever()
    await trio.sleep(delay)
    return _err(504, 1006, "Gateway timeout")


async def handle(sim: ExtendedHost, req: SimRequest) -> SimResponse:
    s = sim.settings
    if not req.path.startswith(s.rest_prefix + "/"):
        return _not_found()
    rel = req.path[len(s.rest_prefix) :]
    sim.stats_requests += 1
    if sim.rate_limited():
        return _err(429, 429, "Too many requests")
    if s.require_user_agent and not req.headers.get("user-agent"):
        return _err(400, 1133, "User-Agent header is required")
    if rel.startswith("/user/") and req.headers.get("x-api-key") != sim.keys.api_key:
        return _err(401, 401, "Unauthorized")
    fault = sim.faults.on_request(f"{req.method} {rel}")
    if fault is not None:
        logger.info("sim_fault endpoint={} {} kind={}", req.method, rel, fault.kind)
        if fault.kind is FaultKind.HTTP_ERROR:
            return _err(fault.status, 1006, "Simulated server error")
        if fault.kind is FaultKind.RATE_LIMIT:
            return _err(429, 429, "Too many requests")
        if fault.kind is FaultKind.TIMEOUT:
            return await _hang(fault.delay)
        if fault.kind is FaultKind.NOT_FOUND:
            return _not_found()
    route = _route(req.method, rel)
    if route is None:
        return _not_found()
    handler, arg = route
    try:
        resp = handler(sim, req, arg)
    except Reject as r:
        return _err(r.status, r.code, r.message)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # Malformed parameters (a non-numeric cursor, a list where an object belongs...).
        return _err(400, 1133, f"Invalid request: {type(exc).__name__}")
    if fault is not None and fault.kind is FaultKind.LOST_ACK:
        return await _hang(fault.delay)  # applied, but the reply is lost
    if fault is not None and fault.kind is FaultKind.STALE_READ:
        await trio.sleep(fault.delay or 0.0)  # REST-vs-stream lag: this picture is `delay` s old on arrival
    await trio.lowlevel.checkpoint()
    return resp


Route = Callable[["ExtendedHost", SimRequest, str], SimResponse]


def _route(method: str, rel: str) -> tuple[Route, str] | None:
    parts = rel.strip("/").split("/")
    key = (method, tuple(parts))
    exact: dict[tuple[str, tuple[str, ...]], Route] = {
        ("GET", ("info", "markets")): _markets,
        ("GET", ("user", "fees")): _fees,
        ("POST", ("user", "order")): _place,
        ("DELETE", ("user", "order")): _cancel_external,
        ("POST", ("user", "order", "massCancel")): _mass_cancel,
        ("GET", ("user", "orders")): _open_orders,
        ("GET", ("user", "orders", "history")): _history,
        ("GET", ("user", "positions")): _positions,
        ("GET", ("user", "balance")): _balance,
        ("GET", ("user", "trades")): _trades,
        ("GET", ("user", "funding", "history")): _funding_history,
        ("GET", ("user", "account", "info")): _account,
        ("GET", ("user", "leverage")): _leverage,
        ("PATCH", ("user", "leverage")): _set_leverage,
        ("POST", ("user", "deadmanswitch")): _deadman,
    }
    if key in exact:
        return exact[key], ""
    if method == "GET" and len(parts) == 4 and parts[:2] == ["info", "markets"] and parts[3] == "orderbook":
        return _orderbook, parts[2]
    if method == "DELETE" and len(parts) == 3 and parts[:2] == ["user", "order"]:
        return _cancel_id, parts[2]
    if method == "GET" and len(parts) == 3 and parts[:2] == ["user", "orders"]:
        return _order_by_id, parts[2]
    if method == "GET" and len(parts) == 4 and parts[:3] == ["user", "orders", "external"]:
        return _orders_by_external, parts[3]
    return None


def _json_body(req: SimRequest) -> Any:
    try:
        return json.loads(req.body or b"null")
    except ValueError:
        raise Reject(1133, "body is not valid JSON") from None


# ---------------------------------------------------------------- public


def _markets(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    wanted = req.args("market")
    if wanted and sim.settings.market not in wanted:
        return _ok([])
    return _ok([sim.market_data()])


def _orderbook(sim: ExtendedHost, req: SimRequest, market: str) -> SimResponse:
    if market != sim.settings.market:
        return _err(404, 1001, "Market not found")
    book = sim.book
    return _ok({"market": market, "bid": wire.levels_json(book.bids), "ask": wire.levels_json(book.asks)})


# ---------------------------------------------------------------- orders


def _place(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    now_ms = sim.now_ms()
    new = check_order(sim.settings, sim.keys, _json_body(req), now_ms, sim.engine.mark)
    order = sim.engine.submit(new, now_ms)
    sim.schedule(sim.settings.accept_delay, sim.accept_order, order.id)
    return _ok({"id": order.id, "externalId": order.external_id})


def _cancel_id(sim: ExtendedHost, req: SimRequest, raw: str) -> SimResponse:
    try:
        order_id = int(raw)
    except ValueError:
        return _not_found("Order not found")
    if order_id not in sim.engine.orders:
        return _not_found("Order not found")
    sim.schedule(sim.settings.cancel_delay, sim.cancel_orders, [order_id])
    return _ok()


def _cancel_external(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    external = req.arg("externalId")
    if not external:
        raise Reject(1133, "externalId is required")
    order_id = sim.engine.by_external.get(external)
    if order_id is None:
        return _not_found("Order not found")
    sim.schedule(sim.settings.cancel_delay, sim.cancel_orders, [order_id])
    return _ok()


def _mass_cancel(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    body = _json_body(req)
    if not isinstance(body, dict) or not any(body.get(k) for k in ("orderIds", "externalOrderIds", "markets", "cancelAll")):
        raise Reject(1133, "at least one of orderIds, externalOrderIds, markets, cancelAll is required")
    engine = sim.engine
    live = [o for o in engine.orders.values() if o.is_open or o.status == "PENDING"]
    ids = {int(i) for i in body.get("orderIds") or ()}
    externals = set(body.get("externalOrderIds") or ())
    markets = set(body.get("markets") or ())
    chosen = [
        o.id
        for o in live
        if body.get("cancelAll") or o.id in ids or o.external_id in externals or o.market in markets
    ]
    if chosen:
        sim.schedule(sim.settings.cancel_delay, sim.cancel_orders, chosen)
    return _ok()


def _filtered(req: SimRequest, orders: list[wire.SimOrder]) -> list[wire.SimOrder]:
    market, side, otype = req.args("market"), req.arg("side"), req.arg("type")
    return [
        o
        for o in orders
        if (not market or o.market in market) and (not side or o.side == side) and (not otype or o.type == otype)
    ]


def _open_orders(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    return _ok([sim.engine.order_data(o) for o in _filtered(req, sim.engine.open_orders())])


def _visible(sim: ExtendedHost, o: wire.SimOrder) -> bool:
    """REST lags the engine: unknown until accepted, then `get_by_id_lag` more seconds."""
    return o.accepted_at is not None and trio.current_time() >= o.accepted_at + sim.settings.get_by_id_lag


def _order_by_id(sim: ExtendedHost, req: SimRequest, raw: str) -> SimResponse:
    try:
        o = sim.engine.orders.get(int(raw))
    except ValueError:
        o = None
    if o is None or not _visible(sim, o):
        return _not_found("Order not found")
    return _ok(sim.engine.order_data(o))


def _orders_by_external(sim: ExtendedHost, req: SimRequest, external: str) -> SimResponse:
    order_id = sim.engine.by_external.get(external)
    o = sim.engine.orders.get(order_id) if order_id is not None else None
    if o is None or not _visible(sim, o):
        return _not_found("Order not found")
    return _ok([sim.engine.order_data(o)])


def _page(sim: ExtendedHost, req: SimRequest, items: list[dict[str, Any]]) -> SimResponse:
    """Newest first; `cursor` = the last id of the previous page."""
    items = sorted(items, key=lambda d: d["id"], reverse=True)
    cursor = int(req.arg("cursor") or 0)
    limit = min(int(req.arg("limit") or 100), sim.settings.page_limit_max)
    if cursor:
        items = [d for d in items if d["id"] < cursor]
    page = items[:limit]
    pagination = {"count": len(page)}
    if page:
        pagination["cursor"] = page[-1]["id"]
    return _ok(page, pagination=pagination)


def _history(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    closed = [o for o in sim.engine.orders.values() if o.status in ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")]
    return _page(sim, req, [sim.engine.order_data(o) for o in _filtered(req, closed)])


# ---------------------------------------------------------------- account


def _fees(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    s = sim.settings
    markets = req.args("market") or [s.market]
    return _ok(
        [
            {"market": m, "makerFeeRate": wire.dec(s.maker_fee), "takerFeeRate": wire.dec(s.taker_fee), "builderFeeRate": "0"}
            for m in markets
        ]
    )


def _positions(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    engine = sim.engine
    data = engine.position_data()
    market, side = req.args("market"), req.arg("side")
    if not engine.position.size or (market and data["market"] not in market) or (side and data["side"] != side):
        return _ok([])
    return _ok([data])


def _balance(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    if sim.engine.balance == 0:
        return _not_found("Balance not found")
    return _ok(sim.engine.balance_data(sim.now_ms()))


def _trades(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    market, side = req.args("market"), req.arg("side")
    trades = [t for t in sim.engine.trades if (not market or t["market"] in market) and (not side or t["side"] == side)]
    # `externalOrderId` is a stream-only extra (the SDK's REST model has no such field): not served here,
    # so clients cannot come to rely on it.
    return _page(sim, req, [{k: v for k, v in t.items() if k != "externalOrderId"} for t in trades])


def _funding_history(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    """Our funding payments, newest first, paged like `/user/trades`. The docs name the lower bound
    `fromTime`, some clients send `startTime`: both are honoured (epoch ms, inclusive)."""
    market, side = req.args("market"), req.arg("side")
    since = int(req.arg("fromTime") or req.arg("startTime") or 0)
    rows = [f for f in sim.engine.fundings
            if (not market or f["market"] in market) and (not side or f["side"] == side) and f["paidTime"] >= since]
    return _page(sim, req, rows)


def _account(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    return _ok(wire.account_json(sim.settings, sim.keys))


def _leverage(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    return _ok([{"market": sim.settings.market, "leverage": wire.dec(sim.engine.leverage)}])


def _set_leverage(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    body = _json_body(req)
    try:
        leverage = Decimal(str(body["leverage"]))
    except (KeyError, TypeError, InvalidOperation):
        raise Reject(1133, "leverage is required") from None
    if body.get("market") != sim.settings.market:
        raise Reject(1001, "Market not found", status=404)
    if not 1 <= leverage <= sim.settings.max_leverage:
        raise Reject(1133, "Invalid leverage")
    sim.engine.leverage = leverage
    return _ok()


def _deadman(sim: ExtendedHost, req: SimRequest, _: str) -> SimResponse:
    try:
        seconds = int(req.arg("countdownTime") or "")
    except ValueError:
        raise Reject(1133, "countdownTime is required") from None
    sim.set_deadman(seconds)
    return _ok()
