"""Lighter simulator: the REST API under /api/v1 (request -> response, plus faults and rate limits).

Failures follow the venue's envelope: HTTP 400 with `{"code": <int>, "message": "..."}`; HTTP 429 when a
rate budget is spent. Fault targets are `"METHOD /path"` without the `/api/v1` prefix, e.g. `"POST /sendTx"`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import msgspec
import trio

from hedged.venues.base import Side
from hedged.sim.lighter import money as sim_money
from hedged.sim.lighter import render
from hedged.sim.lighter.exchange import MARKET_MAKER_ACCOUNT
from hedged.sim.lighter.tx import ERR_MALFORMED, ERR_UNKNOWN_ACCOUNT, TxRejected, parse_tx
from hedged.sim.common.faults import FaultKind
from hedged.sim.common.transport import SimRequest, SimResponse

if TYPE_CHECKING:
    from hedged.sim.lighter.host import LighterHost

PREFIX = "/api/v1"
ALL_API_KEYS = 255
_encode = msgspec.json.Encoder().encode


def _ok(body: dict[str, Any]) -> SimResponse:
    return SimResponse(200, _encode({"code": 200, **body}))


def _error(code: int, message: str, status: int = 400) -> SimResponse:
    return SimResponse(status, _encode({"code": code, "message": message}))


async def handle(sim: LighterHost, req: SimRequest) -> SimResponse:
    sim.stats["rest_requests"] += 1
    if not req.path.startswith(PREFIX):
        return _error(404, "not found", 404)
    route = req.path[len(PREFIX) :]
    endpoint = f"{req.method} {route}"
    handler = _ROUTES.get(endpoint)
    if handler is None:
        return _error(404, "not found", 404)
    if sim.rate_limited("rest") or (route.startswith("/sendTx") and sim.rate_limited("sendtx")):
        return _error(429, "Too Many Requests", 429)
    fault = sim.faults.on_request(endpoint)
    if fault is not None:
        if fault.kind is FaultKind.LOST_ACK:
            await handler(sim, req)
        if fault.kind in (FaultKind.TIMEOUT, FaultKind.LOST_ACK):
            if fault.delay is None:
                await trio.sleep_forever()
            await trio.sleep(fault.delay)
            return _error(504, "gateway timeout", 504)
        if fault.kind is FaultKind.HTTP_ERROR:
            return _error(fault.status, "internal server error", fault.status)
        if fault.kind is FaultKind.RATE_LIMIT:
            return _error(429, "Too Many Requests", 429)
        if fault.kind is FaultKind.NOT_FOUND:
            return _error(404, "not found", 404)
        if fault.kind is FaultKind.REJECT:
            code = fault.code or 21104
            return _error(code, "invalid nonce" if code == 21104 else "transaction rejected")
    try:
        resp = await handler(sim, req)
    except TxRejected as exc:
        return _error(exc.code, exc.message)
    if fault is not None and fault.kind is FaultKind.STALE_READ:
        await trio.sleep(fault.delay or 0.0)  # REST-vs-stream lag: this picture is `delay` s old on arrival
    return resp


def _int_arg(req: SimRequest, name: str, default: int | None = None) -> int:
    value = req.arg(name)
    if value is None or value == "":
        if default is None:
            raise TxRejected(ERR_MALFORMED, f"missing parameter {name}")
        return default
    try:
        return int(value)
    except ValueError:
        raise TxRejected(ERR_MALFORMED, f"invalid parameter {name}") from None


def _token(req: SimRequest) -> str | None:
    return req.headers.get("authorization") or req.arg("auth")


def _markets(sim: LighterHost, req: SimRequest) -> list[Any]:
    wanted = _int_arg(req, "market_id", 255)
    specs = [sim.settings.market, *sim.settings.extra_markets]
    return [m for m in specs if wanted in (255, m.market_id)]


async def _order_books(sim: LighterHost, req: SimRequest) -> SimResponse:
    return _ok({"order_books": [render.order_book_info(m) for m in _markets(sim, req)]})


async def _order_book_details(sim: LighterHost, req: SimRequest) -> SimResponse:
    ref = sim.market_model.reference
    details = [render.order_book_detail(m, last_price=ref, mark=ref) for m in _markets(sim, req)]
    return _ok({"order_book_details": details, "spot_order_book_details": []})


async def _order_book_orders(sim: LighterHost, req: SimRequest) -> SimResponse:
    m = sim.settings.market
    if _int_arg(req, "market_id") != m.market_id:
        return _ok({"total_asks": 0, "asks": [], "total_bids": 0, "bids": []})
    limit = max(1, min(250, _int_arg(req, "limit", 250)))
    now_ms = sim.now_ms()
    out: dict[str, Any] = {}
    for name, side in (("asks", Side.SELL), ("bids", Side.BUY)):
        # One synthetic order per level of the other traders' book, best first.
        levels = sim.book.levels(side)
        base = 2**48 + (1 if side is Side.SELL else 2) * 10_000_000
        out[name] = [
            render.simple_order_json(m, index=base + i, owner=MARKET_MAKER_ACCOUNT, size=size, price=price, ts_ms=now_ms)
            for i, (price, size) in enumerate(levels[:limit])
        ]
        out[f"total_{name}"] = len(out[name])
    return _ok(out)


async def _apikeys(sim: LighterHost, req: SimRequest) -> SimResponse:
    """`AccountApiKeys`: one key, or every key of the account with `api_key_index=255` (the venue's
    sentinel, also the default). The SDK's `SignerClient.check_client` compares `public_key` with its own."""
    acct = sim.exchange.accounts.get(_int_arg(req, "account_index"))
    if acct is None:
        raise TxRejected(ERR_UNKNOWN_ACCOUNT, "account not found")
    wanted = _int_arg(req, "api_key_index", ALL_API_KEYS)
    keys = [render.api_key_json(acct, index) for index in sorted(acct.api_keys) if wanted in (ALL_API_KEYS, index)]
    return _ok({"api_keys": keys})


async def _next_nonce(sim: LighterHost, req: SimRequest) -> SimResponse:
    nonce = sim.exchange.next_nonce(_int_arg(req, "account_index"), _int_arg(req, "api_key_index"))
    return _ok({"nonce": nonce})


def _form(req: SimRequest) -> dict[str, str]:
    ctype = req.headers.get("content-type", "")
    if "application/json" in ctype:
        try:
            data = json.loads(req.body or b"{}")
        except ValueError:
            raise TxRejected(ERR_MALFORMED, "invalid body") from None
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    # urlencoded (what the SDK sends); multipart is not simulated.
    return {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True).items()}


async def _send_tx(sim: LighterHost, req: SimRequest) -> SimResponse:
    form = _form(req)
    tx = parse_tx(form.get("tx_type"), form.get("tx_info"), now_ms=sim.expiry_now_ms())
    records, predicted = sim.submit([tx])
    return _ok({
        "message": '{"ratelimit": "ok"}', "tx_hash": records[0].tx_hash, "predicted_execution_time_ms": predicted,
        "volume_quota_remaining": 1000,
    })  # fmt: skip


async def _send_tx_batch(sim: LighterHost, req: SimRequest) -> SimResponse:
    form = _form(req)
    try:
        types = json.loads(form.get("tx_types", ""))
        infos = json.loads(form.get("tx_infos", ""))
    except ValueError:
        raise TxRejected(ERR_MALFORMED, "tx_types and tx_infos must be JSON lists") from None
    if not isinstance(types, list) or not isinstance(infos, list) or len(types) != len(infos) or not 0 < len(types) <= 15:
        raise TxRejected(ERR_MALFORMED, "tx_types/tx_infos: 1 to 15 entries of equal length")
    now_ms = sim.expiry_now_ms()
    txs = [parse_tx(t, i, now_ms=now_ms) for t, i in zip(types, infos, strict=True)]
    records, predicted = sim.submit(txs)
    return _ok({
        "message": '{"ratelimit": "ok"}', "tx_hash": [r.tx_hash for r in records],
        "predicted_execution_time_ms": predicted, "volume_quota_remaining": 1000,
    })  # fmt: skip


def account_view(sim: LighterHost, index: int) -> dict[str, Any]:
    """The `DetailedAccount` of one account (shared with the WS position frames)."""
    acct = sim.exchange.accounts.get(index)
    if acct is None:
        raise TxRejected(ERR_UNKNOWN_ACCOUNT, "account not found")
    m = sim.settings.market
    mark = sim.market_model.reference
    open_count = len(sim.exchange.open_orders(index))
    pos = sim.exchange.position(index)
    positions = [render.position_json(m, pos, mark=mark, open_orders=open_count)]
    used = m.size(abs(pos.size)) * mark * m.initial_margin_fraction
    return render.account_json(
        m, acct, positions=positions, available=acct.collateral - used, order_count=open_count, now_ms=sim.now_ms()
    )


async def _account(sim: LighterHost, req: SimRequest) -> SimResponse:
    by = req.arg("by") or "index"
    if by != "index":
        raise TxRejected(ERR_MALFORMED, "only by=index is simulated")
    return _ok({"total": 1, "accounts": [account_view(sim, _int_arg(req, "value"))], "next_cursor": ""})


def _orders(sim: LighterHost, orders: list[Any]) -> SimResponse:
    m, height = sim.settings.market, sim.exchange.block_height
    return _ok({"orders": [render.order_json(m, o, block_height=height) for o in orders]})


async def _active_orders(sim: LighterHost, req: SimRequest) -> SimResponse:
    account = sim.check_token(_token(req), _int_arg(req, "account_index"))
    market_id = _int_arg(req, "market_id", sim.settings.market.market_id)
    return _orders(sim, [o for o in sim.exchange.open_orders(account) if o.market_id == market_id])


async def _inactive_orders(sim: LighterHost, req: SimRequest) -> SimResponse:
    account = sim.check_token(_token(req), _int_arg(req, "account_index"))
    limit = max(1, min(100, _int_arg(req, "limit", 100)))
    done = [o for o in sim.exchange.orders.values() if o.account == account and not o.live]
    return _orders(sim, done[::-1][:limit])


async def _account_orders(sim: LighterHost, req: SimRequest) -> SimResponse:
    account = sim.check_token(_token(req), _int_arg(req, "account_index"))
    raw = req.arg("client_order_indexes") or ""
    try:
        wanted = {int(x) for x in raw.split(",") if x.strip()}
    except ValueError:
        raise TxRejected(ERR_MALFORMED, "invalid client_order_indexes") from None
    return _orders(sim, sim.exchange.orders_by_client_id(account, wanted))


_TRADE_SORTS = ("block_height", "timestamp", "trade_id")


async def _trades(sim: LighterHost, req: SimRequest) -> SimResponse:
    """`GET /trades`: `sort_by` and `limit` (1-100) required as in the SDK; trade ids grow with time here, so
    every `sort_by` gives the same order. `cursor` is opaque to clients (here: the last trade id served)."""
    m = sim.settings.market
    if req.arg("sort_by") not in _TRADE_SORTS:
        raise TxRejected(ERR_MALFORMED, "invalid parameter sort_by")
    limit = _int_arg(req, "limit")
    if not 1 <= limit <= 100:
        raise TxRejected(ERR_MALFORMED, "invalid parameter limit")
    limit = min(limit, sim.settings.page_limit_max)
    account = req.arg("account_index")
    if account is not None:
        trades = sim.exchange.account_trades(sim.check_token(_token(req), int(account)))
    else:
        trades = list(sim.exchange.trades)
    market_id = req.arg("market_id")
    if market_id:
        trades = [t for t in trades if t.market_id == _int_arg(req, "market_id")]
    order_index = req.arg("order_index")
    if order_index:
        trades = [t for t in trades if int(order_index) in (t.ask_id, t.bid_id)]
    ascending = req.arg("sort_dir") == "asc"
    trades = sorted(trades, key=lambda t: t.trade_id, reverse=not ascending)
    cursor = req.arg("cursor")
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            raise TxRejected(ERR_MALFORMED, "invalid parameter cursor") from None
        trades = [t for t in trades if (t.trade_id > after if ascending else t.trade_id < after)]
    page = trades[:limit]
    height = sim.exchange.block_height
    body: dict[str, Any] = {"trades": [render.trade_json(m, t, block_height=height) for t in page]}
    if len(trades) > limit:
        body["next_cursor"] = str(page[-1].trade_id)
    return _ok(body)


async def _recent_trades(sim: LighterHost, req: SimRequest) -> SimResponse:
    """`GET /recentTrades` (public, no token): the market's last `limit` (1-100) trades, newest first, each
    naming both accounts as the venue's `Trade` model does. No cursor: only the recent past."""
    limit = _int_arg(req, "limit")
    if not 1 <= limit <= 100:
        raise TxRejected(ERR_MALFORMED, "invalid parameter limit")
    market_id = _int_arg(req, "market_id")
    trades = sorted((t for t in sim.exchange.trades if t.market_id == market_id), key=lambda t: -t.trade_id)
    height = sim.exchange.block_height
    return _ok({"trades": [render.trade_json(sim.settings.market, t, block_height=height) for t in trades[:limit]]})


async def _tx(sim: LighterHost, req: SimRequest) -> SimResponse:
    rec = sim.exchange.txs.get(req.arg("value") or "")
    if rec is None:
        return _error(21500, "tx not found")
    acct = sim.exchange.accounts[rec.tx.account]
    body = render.tx_json(rec, l1_address=acct.l1_address, event_info=sim.exchange.event_info_json(rec))
    return _ok({**body, "committed_at": rec.executed_ms, "verified_at": rec.executed_ms})


async def _position_funding(sim: LighterHost, req: SimRequest) -> SimResponse:
    """`GET /positionFunding` (token required): our funding payments, newest first. `limit` 1-100 is required
    as in the SDK; `cursor` is opaque (here: the last funding id served); `start_timestamp`/`end_timestamp`
    bound `timestamp` (inclusive), `side` is long|short, `market_ids` a comma-separated list."""
    account = sim.check_token(_token(req), _int_arg(req, "account_index"))
    limit = _int_arg(req, "limit")
    if not 1 <= limit <= 100:
        raise TxRejected(ERR_MALFORMED, "invalid parameter limit")
    rows = sim.exchange.account_fundings(account)
    start, end = _int_arg(req, "start_timestamp", 0), _int_arg(req, "end_timestamp", 2**62)
    side, markets = req.arg("side"), req.arg("market_ids")
    wanted = {int(x) for x in markets.split(",") if x.strip()} if markets else None
    rows = [f for f in rows if start <= f.timestamp_ms <= end and (not side or f.position_side == side)
            and (wanted is None or f.market_id in wanted)]
    rows.sort(key=lambda f: f.funding_id, reverse=True)
    cursor = req.arg("cursor")
    if cursor:
        rows = [f for f in rows if f.funding_id < _int_arg(req, "cursor")]
    page = rows[: min(limit, sim.settings.page_limit_max)]
    body: dict[str, Any] = {"position_fundings": [sim_money.position_funding_json(sim.settings.market, f) for f in page]}
    if len(rows) > len(page):
        body["next_cursor"] = str(page[-1].funding_id)
    return _ok(body)


async def _funding_rates(sim: LighterHost, req: SimRequest) -> SimResponse:
    """`GET /funding-rates`: rates of several venues side by side (JSON numbers, as the SDK's model types
    them), each as an 8-hour rate (the normalisation the adapter assumes; UNCONFIRMED, docs/simulators.md)."""
    m = sim.settings.market
    ours = float(sim.funding.current * sim_money.FUNDING_RATES_HOURS)
    return _ok({"funding_rates": [
        {"market_id": m.market_id, "exchange": "binance", "symbol": m.symbol, "rate": 0.0001},
        {"market_id": m.market_id, "exchange": "lighter", "symbol": m.symbol, "rate": ours},
    ]})  # fmt: skip


_ROUTES = {
    "GET /orderBooks": _order_books,
    "GET /orderBookDetails": _order_book_details,
    "GET /orderBookOrders": _order_book_orders,
    "GET /nextNonce": _next_nonce,
    "GET /apikeys": _apikeys,
    "POST /sendTx": _send_tx,
    "POST /sendTxBatch": _send_tx_batch,
    "GET /account": _account,
    "GET /accountActiveOrders": _active_orders,
    "GET /accountInactiveOrders": _inactive_orders,
    "GET /accountOrders": _account_orders,
    "GET /trades": _trades,
    "GET /recentTrades": _recent_trades,
    "GET /tx": _tx,
    "GET /positionFunding": _position_funding,
    "GET /funding-rates": _funding_rates,
}
