"""Extended simulator REST: every response parses with the official x10 models; auth and errors."""

from decimal import Decimal
from typing import List

import httpx
from x10.models.account import AccountLeverageModel, AccountModel
from x10.models.balance import BalanceModel
from x10.models.fee import TradingFeeModel
from x10.models.http import WrappedApiResponseModel
from x10.models.market import MarketModel
from x10.models.order import OpenOrderModel, PlacedOrderModel
from x10.models.orderbook import OrderbookUpdateModel
from x10.models.position import PositionModel
from x10.models.trade import AccountTradeModel

from hedged.sim.common.faults import Fault, FaultKind


def parse(model, response: httpx.Response):
    return WrappedApiResponseModel[model].model_validate_json(response.text)


async def place(http, sign, *args, **kw) -> PlacedOrderModel:
    r = await http.post("/user/order", json=sign(*args, **kw))
    assert r.status_code == 200, r.text
    return parse(PlacedOrderModel, r).data


async def test_markets_parse_as_market_models_with_signing_inputs(extended_sim_http, extended_sim):
    r = await extended_sim_http.get("/info/markets", params={"market": "SOL-USD"})
    markets = parse(List[MarketModel], r).data
    assert [m.name for m in markets] == ["SOL-USD"]
    cfg = markets[0].trading_config
    assert (cfg.min_price_change, cfg.min_order_size_change, cfg.min_order_size) == (
        Decimal("0.01"), Decimal("0.01"), Decimal("0.1"))
    assert markets[0].l2_config.synthetic_resolution == 1000
    other = await extended_sim_http.get("/info/markets", params={"market": "BTC-USD"})
    assert parse(List[MarketModel], other).data == []


async def test_rest_order_book_parses_and_matches_the_simulated_book(extended_sim_http, extended_sim):
    r = await extended_sim_http.get("/info/markets/SOL-USD/orderbook")
    book = parse(OrderbookUpdateModel, r).data
    assert book.bid[0].price == extended_sim.book.best_bid
    assert book.ask[0].price == extended_sim.book.best_ask
    missing = await extended_sim_http.get("/info/markets/NOPE-USD/orderbook")
    assert missing.status_code == 404 and parse(OrderbookUpdateModel, missing).error.code == 1001


async def test_fees_account_and_leverage_parse(extended_sim_http, extended_sim):
    fees = parse(List[TradingFeeModel], await extended_sim_http.get("/user/fees", params={"market": "SOL-USD"})).data
    assert fees[0].taker_fee_rate == Decimal("0.00025") and fees[0].maker_fee_rate == 0
    account = parse(AccountModel, await extended_sim_http.get("/user/account/info")).data
    assert account.l2_vault == extended_sim.settings.vault and int(account.l2_key, 16) == extended_sim.keys.public_key
    lev = parse(List[AccountLeverageModel], await extended_sim_http.get("/user/leverage")).data
    assert lev[0].leverage == Decimal("5")
    r = await extended_sim_http.patch("/user/leverage", json={"market": "SOL-USD", "leverage": "3"})
    assert r.status_code == 200 and parse(type(None), r).status == "OK"
    lev = parse(List[AccountLeverageModel], await extended_sim_http.get("/user/leverage")).data
    assert lev[0].leverage == Decimal("3")


async def test_placed_order_is_readable_everywhere_once_the_engine_accepted_it(
    extended_sim_http, extended_sim, extended_sim_sign, autojump_clock
):
    price = extended_sim.book.best_bid
    placed = await place(extended_sim_http, extended_sim_sign, "BUY", "1.37", price, external_id="hd-a")
    assert placed.external_id == "hd-a"
    # REST lags the engine: unknown until the engine acted.
    early = await extended_sim_http.get(f"/user/orders/{placed.id}")
    assert early.status_code == 404 and parse(OpenOrderModel, early).error.code == 404
    await extended_sim.wait_idle()
    by_id = parse(OpenOrderModel, await extended_sim_http.get(f"/user/orders/{placed.id}")).data
    assert (by_id.status, by_id.qty, by_id.price, by_id.external_id) == ("NEW", Decimal("1.37"), price, "hd-a")
    by_ext = parse(List[OpenOrderModel], await extended_sim_http.get("/user/orders/external/hd-a")).data
    assert [o.id for o in by_ext] == [placed.id]
    open_orders = parse(List[OpenOrderModel], await extended_sim_http.get("/user/orders", params={"market": "SOL-USD"})).data
    assert [o.id for o in open_orders] == [placed.id]


async def test_fills_show_in_positions_trades_balance_and_history(
    extended_sim_http, extended_sim, extended_sim_sign, autojump_clock
):
    placed = await place(extended_sim_http, extended_sim_sign, "SELL", "2", extended_sim.book.best_ask, external_id="hd-s")
    await extended_sim.wait_idle()
    extended_sim.force_fill("hd-s", Decimal("0.5"))
    positions = parse(List[PositionModel], await extended_sim_http.get("/user/positions")).data
    assert [(p.side, p.size, p.status) for p in positions] == [("SHORT", Decimal("0.5"), "OPENED")]
    trades = parse(List[AccountTradeModel], await extended_sim_http.get("/user/trades")).data
    assert [(t.order_id, t.qty, t.is_taker) for t in trades] == [(placed.id, Decimal("0.5"), False)]
    balance = parse(BalanceModel, await extended_sim_http.get("/user/balance")).data
    assert balance.initial_margin > 0
    r = await extended_sim_http.delete(f"/user/order/{placed.id}")
    assert r.json() == {"status": "OK"}
    await extended_sim.wait_idle()
    history = await extended_sim_http.get("/user/orders/history")
    closed = parse(List[OpenOrderModel], history).data
    assert [(o.status, o.filled_qty, o.cancelled_qty) for o in closed] == [("CANCELLED", Decimal("0.5"), Decimal("1.5"))]
    assert parse(List[OpenOrderModel], history).pagination.count == 1


async def test_balance_is_404_when_it_is_zero(extended_sim_http, extended_sim):
    extended_sim.engine.balance = Decimal(0)
    r = await extended_sim_http.get("/user/balance")
    assert r.status_code == 404 and parse(BalanceModel, r).status == "ERROR"


async def test_user_endpoints_need_the_api_key_and_every_request_a_user_agent(extended_sim):
    async with httpx.AsyncClient(transport=extended_sim.http_transport(), base_url=extended_sim.rest_url) as bare:
        no_ua = await bare.get("/info/markets", headers={"User-Agent": ""})
        assert no_ua.status_code == 400
        wrong = await bare.get("/user/orders", headers={"User-Agent": "t", "X-Api-Key": "nope"})
        assert wrong.status_code == 401
        public = await bare.get("/info/markets", headers={"User-Agent": "t"})
        assert public.status_code == 200


async def test_cancels_and_mass_cancel_reply_ok_and_cancel_later(
    extended_sim_http, extended_sim, extended_sim_sign, autojump_clock
):
    price = extended_sim.book.best_bid - Decimal("0.05")
    for ext in ("m1", "m2", "m3"):
        await place(extended_sim_http, extended_sim_sign, "BUY", "1", price, external_id=ext)
    await extended_sim.wait_idle()
    r = await extended_sim_http.delete("/user/order", params={"externalId": "m1"})
    assert r.json() == {"status": "OK"}
    r = await extended_sim_http.post("/user/order/massCancel", json={"externalOrderIds": ["m2"]})
    assert r.json() == {"status": "OK"}
    assert len(extended_sim.open_orders()) == 3  # nothing happened yet: asynchronous
    await extended_sim.wait_idle()
    assert [o["externalId"] for o in extended_sim.open_orders()] == ["m3"]
    await extended_sim_http.post("/user/order/massCancel", json={"cancelAll": True})
    await extended_sim.wait_idle()
    assert extended_sim.open_orders() == []
    bad = await extended_sim_http.post("/user/order/massCancel", json={})
    assert bad.status_code == 400 and parse(type(None), bad).error.code == 1133
    unknown = await extended_sim_http.delete("/user/order/12345")
    assert unknown.status_code == 404


async def test_rate_limit_and_injected_http_errors(extended_sim_http, extended_sim):
    extended_sim.faults.add(Fault(FaultKind.HTTP_ERROR, target="GET /user/positions", status=503))
    r = await extended_sim_http.get("/user/positions")
    assert r.status_code == 503 and parse(type(None), r).error.code == 1006
    assert (await extended_sim_http.get("/user/positions")).status_code == 200
    extended_sim.faults.add(Fault(FaultKind.RATE_LIMIT, target="GET /user/*"))
    assert (await extended_sim_http.get("/user/positions")).status_code == 429


async def test_rolling_per_minute_budget_returns_429(nursery, autojump_clock):
    import trio

    from hedged.sim.extended.server import ExtendedSim
    from hedged.sim.extended.config import ExtendedSimSettings

    sim = ExtendedSim(ExtendedSimSettings(live_market=False, rate_limit_per_min=3, ping_interval=None))
    await nursery.start(sim.run)
    async with httpx.AsyncClient(transport=sim.http_transport(), base_url=sim.rest_url, headers={"User-Agent": "t"}) as c:
        codes = [(await c.get("/info/markets")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        await trio.sleep(61)
        assert (await c.get("/info/markets")).status_code == 200


async def test_malformed_parameters_get_a_400_envelope_not_a_crash(extended_sim_http):
    r = await extended_sim_http.get("/user/trades", params={"cursor": "abc"})
    assert r.status_code == 400 and parse(type(None), r).error.code == 1133
    r = await extended_sim_http.post("/user/order/massCancel", json={"orderIds": ["x"]})
    assert r.status_code == 400
    r = await extended_sim_http.post("/user/order", content=b"{not json")
    assert r.status_code == 400 and parse(type(None), r).error.code == 1133
