"""Lighter simulator REST: every response parsed with lighter-sdk's own pydantic models (strict validation).

The sim is driven in memory with plain httpx and txs signed by the real Go signer (hedged's signing.py).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import httpx
import pytest
import trio
from lighter.models import (
    DetailedAccounts,
    NextNonce,
    OrderBookDetails,
    OrderBookOrders,
    OrderBooks,
    Orders,
    RespSendTx,
    RespSendTxBatch,
    Trades,
)

from hedged.venues.base import Side
from hedged.sim.lighter.server import Latency, LighterSim, LighterSimSettings
from hedged.sim.common.faults import Fault, FaultKind

from tests.venues.lighter.sim_trader import LIGHTER_SIM_ACCOUNT as ACCT
from tests.venues.lighter.sim_trader import LIGHTER_SIM_KEY as KEY
from tests.venues.lighter.sim_trader import LighterSimTrader, prepare_sim



async def _get(http: httpx.AsyncClient, path: str, token: str | None = None, **params: object) -> httpx.Response:
    headers = {"authorization": token} if token else {}
    return await http.get(f"/api/v1/{path}", params=params, headers=headers)


async def _nonce(http: httpx.AsyncClient) -> int:
    r = await _get(http, "nextNonce", account_index=ACCT, api_key_index=KEY)
    return NextNonce.model_validate(r.json()).nonce


async def _orders_of(t: LighterSimTrader) -> list:
    r = await _get(t.http, "accountActiveOrders", t.token(), account_index=ACCT, market_id=2)
    assert r.status_code == 200, r.text
    return Orders.model_validate(r.json()).orders


def _ask(sim: LighterSim) -> Decimal:
    assert sim.book.best_ask is not None
    return sim.book.best_ask


async def test_market_listings_validate_and_carry_the_integer_encodings(lighter_sim_http: httpx.AsyncClient) -> None:
    books = OrderBooks.model_validate((await _get(lighter_sim_http, "orderBooks")).json())
    sol = next(b for b in books.order_books if b.symbol == "SOL")
    assert (sol.market_id, sol.supported_size_decimals, sol.supported_price_decimals) == (2, 3, 3)
    assert {b.symbol for b in books.order_books} == {"SOL", "ETH", "BTC"}
    details = OrderBookDetails.model_validate((await _get(lighter_sim_http, "orderBookDetails", market_id=2)).json())
    assert [(d.symbol, d.size_decimals, d.price_decimals) for d in details.order_book_details] == [("SOL", 3, 3)]


async def test_l3_book_snapshot_lists_levels_best_first(lighter_sim_http: httpx.AsyncClient) -> None:
    r = await _get(lighter_sim_http, "orderBookOrders", market_id=2, limit=5)
    book = OrderBookOrders.model_validate(r.json())
    assert book.total_asks == len(book.asks) == 5
    asks = [Decimal(a.price) for a in book.asks]
    bids = [Decimal(b.price) for b in book.bids]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True) and bids[0] < asks[0]


async def test_send_tx_acks_and_consumes_the_nonce(lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader) -> None:
    t = lighter_sim_trader
    tx = await t.sign_order(is_ask=False, qty="1.250", price=str(_ask(lighter_sim) + 1))
    reply = RespSendTx.model_validate((await t.send(tx)).json())
    assert reply.code == 200 and len(reply.tx_hash) == 80
    assert await _nonce(t.http) == 2


async def test_wrong_nonce_gets_21104_and_does_not_consume(lighter_sim_trader: LighterSimTrader) -> None:
    t = lighter_sim_trader
    r = await t.order(is_ask=False, qty="1", price="100", nonce=5)
    assert r.status_code == 400 and r.json()["code"] == 21104 and "invalid nonce" in r.json()["message"]
    assert await _nonce(t.http) == 1


async def test_skipped_nonce_fault_makes_the_client_nonce_stale(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader
) -> None:
    lighter_sim.skip_nonce(ACCT, KEY)
    r = await lighter_sim_trader.order(is_ask=False, qty="1", price="100")
    assert r.json()["code"] == 21104
    assert await _nonce(lighter_sim_trader.http) == 2


async def test_batch_needs_consecutive_nonces(lighter_sim_trader: LighterSimTrader) -> None:
    t = lighter_sim_trader
    a = await t.sign_order(is_ask=False, qty="1", price="100", tif=1, nonce=1)
    b = await t.sign_order(is_ask=False, qty="1", price="100", tif=1, nonce=3)
    form = {"tx_types": json.dumps([a.tx_type, b.tx_type]), "tx_infos": json.dumps([a.tx_info, b.tx_info])}
    bad = await t.http.post("/api/v1/sendTxBatch", data=form)
    assert bad.status_code == 400 and bad.json()["code"] == 21105
    c = await t.sign_order(is_ask=False, qty="1", price="100", tif=1, nonce=2)
    form["tx_infos"] = json.dumps([a.tx_info, c.tx_info])
    ok = RespSendTxBatch.model_validate((await t.http.post("/api/v1/sendTxBatch", data=form)).json())
    assert len(ok.tx_hash) == 2
    await t.sim.executed.wait_value(lambda n: n >= 2)
    assert len(await _orders_of(t)) == 2


async def test_unregistered_key_gets_21108(lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader) -> None:
    lighter_sim.exchange.accounts[ACCT].api_keys.clear()
    r = await lighter_sim_trader.order(is_ask=False, qty="1", price="100")
    assert r.json()["code"] == 21108


async def test_ioc_on_a_thin_book_fills_partly_and_ends_canceled(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader
) -> None:
    t = lighter_sim_trader
    depth = sum(size for _, size in lighter_sim.book.asks)
    r = await t.order(is_ask=False, qty=str(depth + 5), price=str(_ask(lighter_sim) * 2), coi=91007)
    assert r.status_code == 200
    await lighter_sim.executed.wait_value(lambda n: n >= 1)
    order = lighter_sim.order_by_client_id(ACCT, 91007)
    assert order is not None and order.status == "canceled-not-enough-liquidity"
    assert lighter_sim.position(ACCT) == depth
    r = await _get(t.http, "trades", t.token(), account_index=ACCT, market_id=2, limit=100, sort_by="timestamp")
    trades = Trades.model_validate(r.json()).trades
    assert sum(Decimal(tr.size) for tr in trades) == depth
    assert all(tr.bid_account_id == ACCT and tr.bid_client_id == 91007 and tr.is_maker_ask for tr in trades)
    accounts = DetailedAccounts.model_validate((await _get(t.http, "account", by="index", value=ACCT)).json())
    pos = accounts.accounts[0].positions[0]
    assert (pos.sign, Decimal(pos.position), pos.symbol) == (1, depth, "SOL")


async def test_pulled_book_leaves_a_hedge_unfilled(lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader) -> None:
    price = _ask(lighter_sim) + 1
    lighter_sim.pull_book(Side.SELL)
    await lighter_sim_trader.order(is_ask=False, qty="1", price=str(price), coi=7)
    await lighter_sim.executed.wait_value(lambda n: n >= 1)
    order = lighter_sim.order_by_client_id(ACCT, 7)
    assert order is not None and (order.status, order.filled_base) == ("canceled-not-enough-liquidity", 0)
    assert lighter_sim.position(ACCT) == 0


async def test_post_only_that_would_cross_is_canceled_post_only(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader
) -> None:
    await lighter_sim_trader.order(is_ask=False, qty="1", price=str(_ask(lighter_sim)), tif=2, coi=8)
    await lighter_sim.executed.wait_value(lambda n: n >= 1)
    assert lighter_sim.order_by_client_id(ACCT, 8).status == "canceled-post-only"  # type: ignore[union-attr]


async def test_resting_order_is_listed_modified_and_canceled(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader
) -> None:
    t = lighter_sim_trader
    await t.order(is_ask=False, qty="2", price="100", tif=1, coi=9)
    await lighter_sim.executed.wait_value(lambda n: n >= 1)
    (order,) = await _orders_of(t)
    assert (order.client_order_index, order.status, order.time_in_force, order.price) == (9, "open", "good-till-time", "100.000")
    mod = t.signer.sign_modify_order(market_index=2, order_index=order.order_index, base_amount=1500, price=101000, nonce=t.nonce)
    t.nonce += 1
    assert (await t.send(mod)).status_code == 200
    await lighter_sim.executed.wait_value(lambda n: n >= 2)
    (order,) = await _orders_of(t)
    assert (order.price, order.remaining_base_amount) == ("101.000", "1.500")
    cancel = t.signer.sign_cancel_order(market_index=2, order_index=order.order_index, nonce=t.nonce)
    t.nonce += 1
    assert (await t.send(cancel)).status_code == 200
    await lighter_sim.executed.wait_value(lambda n: n >= 3)
    assert await _orders_of(t) == []
    assert lighter_sim.order_by_client_id(ACCT, 9).status == "canceled"  # type: ignore[union-attr]


async def test_cancel_all_cancels_every_open_order(lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader) -> None:
    t = lighter_sim_trader
    for _ in range(3):
        await t.order(is_ask=True, qty="1", price="400", tif=1)
    assert (await t.send(t.signer.sign_cancel_all(nonce=t.nonce))).status_code == 200
    await lighter_sim.executed.wait_value(lambda n: n >= 4)
    assert lighter_sim.open_orders(ACCT) == []


async def test_tx_is_refused_once_its_expired_at_has_passed_on_the_signer_clock(nursery: trio.Nursery) -> None:
    # ExpiredAt is stamped by the signer from the host clock; a sim whose signer clock is an hour ahead sees it passed.
    sim = LighterSim(LighterSimSettings(seed=7), signer_clock=lambda: time.time() + 3600)
    signer = prepare_sim(sim)
    await nursery.start(sim.run)
    async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://lighter.sim") as http:
        t = LighterSimTrader(sim, signer, http)
        resp = await t.send(t.signer.sign_cancel_all(nonce=t.nonce))
    assert resp.status_code == 400 and resp.json()["code"] == 21121


async def test_forced_fill_of_a_resting_order_moves_the_position(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader
) -> None:
    await lighter_sim_trader.order(is_ask=True, qty="2", price="400", tif=1, coi=11)
    await lighter_sim.executed.wait_value(lambda n: n >= 1)
    order = lighter_sim.order_by_client_id(ACCT, 11)
    lighter_sim.force_fill(order.order_index, Decimal("0.5"))  # type: ignore[union-attr]
    assert lighter_sim.position(ACCT) == Decimal("-0.5")
    (listed,) = await _orders_of(lighter_sim_trader)
    assert (listed.status, listed.filled_base_amount, listed.remaining_base_amount) == ("open", "0.500", "1.500")


async def test_sequencer_rejection_comes_after_a_200_ack(lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader) -> None:
    lighter_sim.reject_next_orders(1)
    r = await lighter_sim_trader.order(is_ask=False, qty="1", price=str(_ask(lighter_sim) + 1), coi=12)
    assert r.json()["code"] == 200
    await lighter_sim.executed.wait_value(lambda n: n >= 1)
    assert lighter_sim.order_by_client_id(ACCT, 12).status == "canceled-margin-not-allowed"  # type: ignore[union-attr]


async def test_duplicate_client_order_index_is_refused(lighter_sim_trader: LighterSimTrader) -> None:
    assert (await lighter_sim_trader.order(is_ask=True, qty="1", price="400", tif=1, coi=5)).status_code == 200
    r = await lighter_sim_trader.order(is_ask=True, qty="1", price="400", tif=1, coi=5)
    assert r.json()["code"] == 21728


@pytest.mark.parametrize(
    ("token", "reason"),
    [(None, "required"), ("garbage", "invalid"), ("expired", "expired"), ("too_long", "too far")],
)
async def test_private_rest_needs_a_live_token(lighter_sim_trader: LighterSimTrader, token: str | None, reason: str) -> None:
    t = lighter_sim_trader
    tokens = {"expired": t.token(-10), "too_long": t.token(9 * 3600), "garbage": "x:y"}
    r = await _get(t.http, "accountActiveOrders", tokens.get(token or ""), account_index=ACCT, market_id=2)
    assert r.status_code == 400 and r.json()["code"] == 21504 and reason in r.json()["message"]


async def test_http_error_fault_does_not_apply_the_tx(lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader) -> None:
    lighter_sim.add_fault(Fault(FaultKind.HTTP_ERROR, target="POST /sendTx", status=503))
    r = await lighter_sim_trader.order(is_ask=True, qty="1", price="400", tif=1)
    assert r.status_code == 503
    assert await _nonce(lighter_sim_trader.http) == 1


async def test_lost_ack_applies_the_tx_but_the_reply_never_comes(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, autojump_clock: trio.testing.MockClock
) -> None:
    lighter_sim.add_fault(Fault(FaultKind.LOST_ACK, target="POST /sendTx"))
    with trio.move_on_after(5) as scope:
        await lighter_sim_trader.order(is_ask=True, qty="1", price="400", tif=1, coi=77)
    assert scope.cancelled_caught
    await lighter_sim.executed.wait_value(lambda n: n >= 1)
    assert lighter_sim.order_by_client_id(ACCT, 77).status == "open"  # type: ignore[union-attr]


async def test_rate_limit_answers_429_past_the_budget(lighter_sim_http: httpx.AsyncClient) -> None:
    sim = LighterSim(LighterSimSettings(rest_per_minute=3))
    async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://l") as http:
        codes = [(await _get(http, "orderBooks")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


@pytest.mark.parametrize("lighter_sim_settings", [LighterSimSettings(latency=Latency(taker_s=0.3, maker_s=0.2))])
async def test_taker_orders_match_only_after_the_deliberate_delay(
    lighter_sim: LighterSim, lighter_sim_trader: LighterSimTrader, autojump_clock: trio.testing.MockClock
) -> None:
    start = trio.current_time()
    r = await lighter_sim_trader.order(is_ask=False, qty="1", price=str(_ask(lighter_sim) + 1), coi=21)
    assert lighter_sim.order_by_client_id(ACCT, 21) is None  # acked, not yet matched
    assert r.json()["predicted_execution_time_ms"] >= lighter_sim.now_ms() + 250
    await lighter_sim.executed.wait_value(lambda n: n >= 1)
    assert trio.current_time() - start == pytest.approx(0.3, abs=0.01)
    assert lighter_sim.order_by_client_id(ACCT, 21).status == "filled"  # type: ignore[union-attr]
