"""Issue 14 on Extended: fees from the venue's /user/fees rates as charged, funding history, the venue's
money picture, and the simulator's books adding up to the last unit (in-memory sim, autojump clock)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import trio
from adapter_fixtures import Observed, open_sim_client, until
from x10.models.balance import BalanceModel
from x10.models.market import MarketModel
from x10.models.position import PositionModel

from hedged.venues.base import Liquidity, OrderStatus, Side, TimeInForce
from hedged.sim.common.money import FundingSettings

D = Decimal
FEES = {"maker_fee": D("0.0002"), "taker_fee": D("0.0005"), "funding": FundingSettings(enabled=False)}


async def _maker_filled(client, sim, events, observed, side: Side, qty: Decimal, fills: list[Decimal]) -> str:
    top = client.top_of_book.value
    price = top.bid - 3 * client.rules.tick if side is Side.BUY else top.ask + 3 * client.rules.tick
    cid = client.new_client_id()
    await client.place_maker(side, qty, price, cid)
    await sim.wait_idle()
    better = -client.rules.tick if side is Side.BUY else client.rules.tick
    for i, part in enumerate(fills):  # the first at the order's price, later ones a tick better each
        sim.force_fill(cid, part, price + i * better)
    await until(events, observed, lambda o: cid in o.orders and o.orders[cid].status is OrderStatus.FILLED)
    return cid


async def _taker(client, sim, events, observed, side: Side, qty: Decimal) -> str:
    top = client.top_of_book.value
    price = top.ask + 10 * client.rules.tick if side is Side.BUY else top.bid - 10 * client.rules.tick
    cid = client.new_client_id()
    await client.place_taker(side, qty, price, cid, TimeInForce.IOC)
    await until(events, observed, lambda o: cid in o.orders and o.orders[cid].status is OrderStatus.FILLED)
    return cid


async def test_fees_follow_the_fee_endpoint_rates_and_the_venues_sign(autojump_clock) -> None:
    async with open_sim_client(sim_kw=FEES) as (client, sim, events):
        observed = Observed()
        await _maker_filled(client, sim, events, observed, Side.BUY, D("1.0"), [D("0.4"), D("0.6")])
        await _taker(client, sim, events, observed, Side.SELL, D("1.0"))
        await until(events, observed, lambda o: len(o.trades) >= 3 and o.position == 0)
        venue = {str(t["id"]): t for t in sim.fills()}
        for t in observed.trades.values():
            rate = D("0.0005") if t.liquidity is Liquidity.TAKER else D("0.0002")
            assert t.fee == (t.qty * t.price * rate).quantize(D("1e-6")) == D(venue[t.trade_id]["fee"]) > 0
            assert (t.liquidity is Liquidity.TAKER) == venue[t.trade_id]["isTaker"]
        assert {t.liquidity for t in observed.trades.values()} == {Liquidity.MAKER, Liquidity.TAKER}
        assert sum(t.fee for t in observed.trades.values()) == sim.money.fees


async def test_balance_change_equals_fills_cash_flows_fees_and_funding_to_the_last_unit(autojump_clock) -> None:
    async with open_sim_client(sim_kw=FEES) as (client, sim, events):
        observed = Observed()
        start = sim.balance()
        await _maker_filled(client, sim, events, observed, Side.BUY, D("0.7"), [D("0.3"), D("0.4")])
        sim.set_funding_rate(D("0.00012345"))
        sim.settle_funding()
        await trio.sleep(1.0)  # venue time moves on (mock clock)
        await _taker(client, sim, events, observed, Side.SELL, D("0.3"))  # partial close: pro rata entry cost
        sim.set_funding_rate(D("-0.0002"))
        sim.settle_funding()
        await _maker_filled(client, sim, events, observed, Side.SELL, D("0.4"), [D("0.4")])  # flat
        await until(events, observed, lambda o: o.position == 0)
        trades = list(observed.trades.values())
        funding = await client.funding()
        assert len(funding) == 2
        cash = sum((-t.side.sign * t.qty * t.price for t in trades), D(0))
        fees = sum((t.fee for t in trades), D(0))
        received = sum((p.amount for p in funding), D(0))
        assert sim.balance() - start == cash - fees + received  # exact, no tolerance
        book = sim.money
        assert (book.realised, book.fees, book.funding) == (cash, fees, received)
        assert book.expected_balance == sim.balance()
        money = await client.account_money()
        assert money.balance == sim.balance()  # all in whole 1e-6 units: the REST balance is exact


async def test_funding_history_lists_each_payment_once_with_its_sign(autojump_clock) -> None:
    async with open_sim_client(sim_kw={"funding": FundingSettings(enabled=False)}) as (client, sim, events):
        observed = Observed()
        await _taker(client, sim, events, observed, Side.SELL, D("1.0"))  # short
        sim.set_funding_rate(D("0.0001"))
        first = sim.settle_funding()
        await trio.sleep(1.0)
        sim.set_funding_rate(D("-0.00005"))
        second = sim.settle_funding()
        history = await client.funding()
        assert [p.payment_id for p in history] == [str(first["id"]), str(second["id"])]
        assert [p.amount for p in history] == [D(first["fundingFee"]), D(second["fundingFee"])]
        assert history[0].amount > 0 > history[1].amount  # short: received at +rate, paid at -rate
        assert history[0].position == D("-1.0") and history[0].rate == D("0.0001")
        assert sim.money.funding == sum(p.amount for p in history)
        later = await client.funding(since_ms=history[1].ts_ms)
        assert [p.payment_id for p in later] == [history[1].payment_id]


async def test_the_simulator_settles_funding_on_its_interval_grid_by_itself(autojump_clock) -> None:
    # One minute keeps the test short; the default is the venue's hour (same grid logic).
    kw = {"funding": FundingSettings(interval_s=60.0)}
    async with open_sim_client(sim_kw=kw) as (client, sim, events):
        observed = Observed()
        await _taker(client, sim, events, observed, Side.BUY, D("0.5"))
        await trio.sleep(60.0)  # past the next grid point of venue time: the sim's own task settles
        history = await client.funding()
        assert len(history) >= 1 and all(p.ts_ms % 60_000 == 0 for p in history)
        assert history[0].position == D("0.5") and history[0].amount == D(sim.fundings()[0]["fundingFee"])


async def test_funding_rate_is_the_markets_hourly_rate(autojump_clock) -> None:
    async with open_sim_client() as (client, sim, events):
        sim.set_funding_rate(D("0.00002345"))
        assert await client.funding_rate() == D("0.00002345")
        sim.set_funding_rate(D("-0.0001"))
        assert await client.funding_rate() == D("-0.0001")


async def test_account_money_and_the_sim_answers_parse_with_the_sdk_models(autojump_clock) -> None:
    async with open_sim_client(sim_kw=FEES) as (client, sim, events):
        observed = Observed()
        await _taker(client, sim, events, observed, Side.BUY, D("0.5"))
        sim.set_funding_rate(D("0.0001"))
        sim.settle_funding()
        money = await client.account_money()
        position = sim.engine.position
        assert money.balance == sim.balance()
        # The position's realisedPnl carries fees and funding (the SDK's RealisedPnlBreakdownModel).
        assert money.realised_pnl == (position.realised).quantize(D("1e-6")) == sim.money.funding - sim.money.fees
        assert money.mark_price == sim.engine.mark and money.unrealised_pnl is not None
        headers = {"X-Api-Key": sim.keys.api_key, "User-Agent": "t"}
        async with httpx.AsyncClient(transport=sim.http_transport(), base_url=sim.rest_url, headers=headers) as http:
            BalanceModel.model_validate((await http.get("/user/balance")).json()["data"])
            [pos] = (await http.get("/user/positions")).json()["data"]
            assert PositionModel.model_validate(pos).realised_pnl == money.realised_pnl
            [market] = (await http.get("/info/markets", params={"market": sim.settings.market})).json()["data"]
            assert MarketModel.model_validate(market).market_stats.funding_rate == sim.funding.current
            rows = (await http.get("/user/funding/history", params={"market": sim.settings.market})).json()
            assert rows["status"] == "OK" and rows["pagination"]["count"] == 1
            assert set(rows["data"][0]) == {"id", "accountId", "market", "positionId", "side", "size", "value",
                                            "markPrice", "fundingFee", "fundingRate", "paidTime"}


async def test_the_money_truth_and_funding_controls_are_on_the_http_control_surface(autojump_clock) -> None:
    async with open_sim_client(sim_kw=FEES) as (client, sim, events):
        observed = Observed()
        await _taker(client, sim, events, observed, Side.BUY, D("0.5"))
        async with httpx.AsyncClient(transport=sim.http_transport(), base_url="http://extended.sim/_sim") as ctl:
            assert (await ctl.post("/funding/rate", json={"rate": "0.0003"})).json() == {"ok": True}
            paid = (await ctl.post("/funding/settle")).json()["payment"]
            money = (await ctl.get("/money")).json()
            truth = (await ctl.get("/truth")).json()
        assert D(paid["fundingRate"]) == D("0.0003") and D(paid["fundingFee"]) < 0  # long pays at a positive rate
        assert money == truth["money"] == {
            "initialBalance": "10000", "balance": str(sim.balance()), "realisedPnl": "0",
            "feesPaid": str(sim.money.fees), "fundingReceived": paid["fundingFee"], "fills": sim.money.fills,
            "fundingPayments": 1}
        assert D(money["balance"]) == D(money["initialBalance"]) - D(money["feesPaid"]) + D(money["fundingReceived"])
        assert truth["fundings"] == [paid]
