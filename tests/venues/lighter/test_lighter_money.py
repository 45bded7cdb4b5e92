"""Issue 14 on Lighter: fees as charged, funding on the stream and in the history, the venue's money
picture, and the simulator's books adding up to the last unit (in-memory sim, autojump clock)."""

import sys
from decimal import Decimal
from pathlib import Path

import httpx
import msgspec
import trio
from lighter.models.account_position import AccountPosition
from lighter.models.funding_rates import FundingRates
from lighter.models.position_funding import PositionFunding
from lighter.models.position_fundings import PositionFundings
from lighter.models.trade import Trade as SdkTrade

from hedged.venues.base import FundingPayment, Liquidity, OrderStatus, PositionSnapshot, Side, Trade
from hedged.venues.lighter import normalize, wire
from hedged.sim.lighter.server import LighterSimSettings
from hedged.sim.lighter.render import trade_json
from hedged.sim.lighter.tx import LighterFees
from hedged.venues.lighter.streams import STREAMS
from hedged.sim.common.money import FundingSettings

sys.path.insert(0, str(Path(__file__).parent))
from lighter_harness import ACCOUNT, running  # noqa: E402

D = Decimal
PREMIUM = LighterSimSettings(fees=LighterFees.premium(), funding=FundingSettings(enabled=False))


async def _taker(h, side: Side, qty: Decimal) -> str:
    top = h.client.top_of_book.value
    price = h.client.rules.round_price(top.ask * D("1.01"), up=True) if side is Side.BUY else \
        h.client.rules.round_price(top.bid * D("0.99"), up=False)
    cid = h.client.new_client_id()
    await h.client.place_taker(side, qty, price, cid)
    done = await h.wait_order(cid, lambda u: u.status.is_terminal)
    assert done.status is OrderStatus.FILLED
    return cid


async def _maker_filled(h, side: Side, qty: Decimal) -> str:
    top = h.client.top_of_book.value
    price = top.ask + 5 * h.client.rules.tick if side is Side.SELL else top.bid - 5 * h.client.rules.tick
    cid = h.client.new_client_id()
    await h.client.place_maker(side, qty, price, cid)
    await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
    order = h.sim.order_by_client_id(ACCOUNT, h.client.registry.coi_for(cid))
    h.sim.force_fill(order.order_index)
    await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
    return cid


def _trades(h) -> list[Trade]:
    h.drain()
    return [e for e in h.seen if isinstance(e, Trade)]


async def test_premium_fees_are_reported_per_fill_as_the_venue_charges_them(tmp_path, autojump_clock):
    async with running(tmp_path, sim_settings=PREMIUM) as h:
        await _taker(h, Side.BUY, D("0.500"))
        await _maker_filled(h, Side.SELL, D("0.500"))
        trades = _trades(h)
        assert {t.liquidity for t in trades} == {Liquidity.TAKER, Liquidity.MAKER}
        for t in trades:
            rate = D("0.00028") if t.liquidity is Liquidity.TAKER else D("0.00004")
            assert t.fee == t.qty * t.price * rate > 0  # positive = paid, exactly the published rate
        assert sum(t.fee for t in trades) == h.sim.money(ACCOUNT).fees
        # What the venue sends validates with the SDK's model (fee rates as ints, omitted when zero).
        for row in h.sim.exchange.account_trades(ACCOUNT):
            sdk = SdkTrade.model_validate(trade_json(h.sim.settings.market, row, block_height=1))
            assert (sdk.taker_fee, sdk.maker_fee) == (280, 40)


async def test_standard_tier_charges_no_fee_and_omits_the_rates(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        await _taker(h, Side.BUY, D("0.200"))
        [trade] = _trades(h)
        assert trade.fee == 0 and h.sim.money(ACCOUNT).fees == 0
        row = trade_json(h.sim.settings.market, h.sim.exchange.account_trades(ACCOUNT)[0], block_height=1)
        assert "taker_fee" not in row and "maker_fee" not in row


async def test_balance_change_equals_fills_cash_flows_fees_and_funding_to_the_last_unit(tmp_path, autojump_clock):
    async with running(tmp_path, sim_settings=PREMIUM) as h:
        start = h.sim.collateral(ACCOUNT)
        await _taker(h, Side.BUY, D("0.700"))
        h.sim.set_funding_rate(D("0.00012345"))
        h.sim.settle_funding()
        await _maker_filled(h, Side.SELL, D("0.300"))  # a partial close: pro rata entry cost
        h.sim.set_funding_rate(D("-0.0002"))
        h.sim.settle_funding()
        await _taker(h, Side.SELL, D("0.400"))  # flat
        await h.wait_for(lambda e: isinstance(e, PositionSnapshot) and e.size == 0)
        trades = _trades(h)
        funding = await h.client.funding()
        assert len(trades) >= 3 and len(funding) == 2
        cash = sum((-t.side.sign * t.qty * t.price for t in trades), D(0))
        fees = sum((t.fee for t in trades), D(0))
        received = sum((p.amount for p in funding), D(0))
        assert h.sim.collateral(ACCOUNT) - start == cash - fees + received  # exact, no tolerance
        book = h.sim.money(ACCOUNT)
        assert (book.realised, book.fees, book.funding) == (cash, fees, received)
        assert book.expected_balance == h.sim.collateral(ACCOUNT)
        assert h.sim.money_books[ACCOUNT] is book


async def test_funding_arrives_on_the_stream_and_in_the_history_once_each(tmp_path, autojump_clock):
    async with running(tmp_path, stream_funding=True) as h:
        assert h.client.health().streams["account_all"].subscribed
        await _taker(h, Side.SELL, D("1.000"))  # short: receives funding at a positive rate
        h.sim.set_funding_rate(D("0.0001"))
        [first] = h.sim.settle_funding()
        await trio.sleep(1.0)  # venue time moves on (mock clock): the second round is a second later
        h.sim.set_funding_rate(D("-0.00005"))
        [second] = h.sim.settle_funding()
        await h.wait_for(lambda e: isinstance(e, FundingPayment) and e.amount == second.change)
        h.drain()
        streamed = [e for e in h.seen if isinstance(e, FundingPayment)]
        history = await h.client.funding()
        assert [p.payment_id for p in streamed] == [p.payment_id for p in history]  # each once, in order
        assert len({p.payment_id for p in history}) == 2
        assert [p.amount for p in history] == [first.change, second.change]
        assert history[0].amount > 0 > history[1].amount  # short: received, then paid
        assert history[0].position == D("-1.000") and history[0].rate == D("0.0001")
        assert h.sim.money(ACCOUNT).funding == first.change + second.change
        later = await h.client.funding(since_ms=history[1].ts_ms)
        assert [p.payment_id for p in later] == [history[1].payment_id]


async def test_the_simulator_settles_funding_on_its_interval_grid_by_itself(tmp_path, autojump_clock):
    # A one-minute interval keeps the test short (the default is the venues' hour; the grid logic is the same).
    sim_settings = LighterSimSettings(funding=FundingSettings(interval_s=60.0))
    async with running(tmp_path, sim_settings=sim_settings, stream_funding=True) as h:
        await _taker(h, Side.BUY, D("0.500"))
        paid = await h.wait_for(lambda e: isinstance(e, FundingPayment), timeout=61)
        assert paid.ts_ms % 60_000 == 0 and paid.position == D("0.500")
        assert paid.amount == h.sim.fundings(ACCOUNT)[0].change != 0
        assert [p.payment_id for p in await h.client.funding()] == [paid.payment_id]


async def test_sim_answers_parse_with_the_sdk_models(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        await _taker(h, Side.BUY, D("0.500"))
        h.sim.settle_funding()
        token = await h.client.tokens.valid()
        async with httpx.AsyncClient(transport=h.sim.http_transport(), base_url="http://lighter.sim") as http:
            r = await http.get("/api/v1/positionFunding", params={"account_index": ACCOUNT, "limit": 10},
                               headers={"authorization": token})
            page = PositionFundings.model_validate(r.json())
            assert len(page.position_fundings) == 1 and page.position_fundings[0].position_side == "long"
            rates = FundingRates.model_validate((await http.get("/api/v1/funding-rates")).json())
            assert {r.exchange for r in rates.funding_rates} >= {"lighter"}
            acct = (await http.get("/api/v1/account", params={"by": "index", "value": ACCOUNT})).json()
            pos = AccountPosition.model_validate(acct["accounts"][0]["positions"][0])
            assert D(pos.total_funding_paid_out) == -h.sim.money(ACCOUNT).funding


async def test_funding_rate_is_the_hourly_rate_of_the_venue(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        h.sim.set_funding_rate(D("0.00002345"))
        assert await h.client.funding_rate() == D("0.00002345")
        h.sim.set_funding_rate(D("-0.0001"))
        assert await h.client.funding_rate() == D("-0.0001")


async def test_account_money_is_the_venues_picture(tmp_path, autojump_clock):
    async with running(tmp_path, sim_settings=PREMIUM) as h:
        await _taker(h, Side.BUY, D("0.500"))
        h.sim.set_funding_rate(D("0.0001"))
        h.sim.settle_funding()
        await _taker(h, Side.SELL, D("0.200"))
        money = await h.client.account_money()
        truth = h.sim.exchange.position(ACCOUNT)
        assert money.balance == h.sim.collateral(ACCOUNT).quantize(D("1e-6"))  # the venue's 6 decimals
        assert money.realised_pnl == truth.realized_pnl.quantize(D("1e-6"))
        assert money.funding_total == h.sim.money(ACCOUNT).funding
        assert money.mark_price == h.sim.market_model.reference.quantize(D("0.001"))
        assert money.unrealised_pnl is not None


def test_a_short_position_funding_row_is_a_signed_payment():
    row = wire.WireFunding(timestamp=1_767_229_200, market_id=2, funding_id=7, change="-0.125000", rate="0.0001",
                           position_size="2.500", position_side="short")
    p = normalize.funding_payment(row, "SOL")
    assert (p.amount, p.position, p.payment_id) == (D("-0.125"), D("-2.5"), "2:7")
    assert p.ts_ms == 1_767_229_200_000  # seconds are read as seconds
    assert normalize.funding_payment(msgspec.structs.replace(row, timestamp=1_767_229_200_000), "SOL").ts_ms \
        == 1_767_229_200_000  # and ms as ms


async def test_the_money_truth_and_funding_controls_are_on_the_http_control_surface(tmp_path, autojump_clock):
    async with running(tmp_path, sim_settings=PREMIUM) as h:
        await _taker(h, Side.BUY, D("0.500"))
        async with httpx.AsyncClient(transport=h.sim.http_transport(), base_url="http://lighter.sim/_sim") as ctl:
            assert (await ctl.post("/funding/rate", json={"rate": "0.0003"})).json() == {"ok": True}
            [paid] = (await ctl.post("/funding/settle")).json()["payments"]
            assert D(PositionFunding.model_validate(paid).rate) == D("0.0003")
            money = (await ctl.get("/money")).json()
            truth = (await ctl.get("/truth")).json()
        book = h.sim.money(ACCOUNT)
        assert money == truth["money"] == {
            "initialBalance": "1000000", "balance": str(h.sim.collateral(ACCOUNT)), "realisedPnl": "0",
            "feesPaid": str(book.fees), "fundingReceived": paid["change"], "fills": book.fills, "fundingPayments": 1}
        assert D(money["balance"]) == D(money["initialBalance"]) - D(money["feesPaid"]) + D(money["fundingReceived"])
        assert truth["fundings"] == [paid]


async def test_by_default_funding_comes_from_the_history_and_account_all_is_not_subscribed(tmp_path, autojump_clock):
    async with running(tmp_path) as h:
        assert set(h.client.health().streams) == set(STREAMS) and "account_all" not in STREAMS
        await _taker(h, Side.BUY, D("0.500"))
        [paid] = h.sim.settle_funding()
        [got] = await h.client.funding()
        assert got.amount == paid.change
        h.drain()
        assert not [e for e in h.seen if isinstance(e, FundingPayment)]
