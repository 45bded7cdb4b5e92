"""LighterClient: a falling cumulative reaches the ledger; the trade history back-fills fills made while away."""

import random
import sys
from decimal import Decimal
from pathlib import Path

import trio
from lighter.models.trades import Trades

from hedged.ledger import LedgerCore
from hedged.ledger.orders import Leg, Roles
from hedged.venues.base import Liquidity, OrderStatus, Side, TimeInForce, Venue, VenueEvent
from hedged.venues.lighter.client import LighterClient
from hedged.sim.lighter.server import LighterSim, LighterSimSettings, trio_wall_clock

sys.path.insert(0, str(Path(__file__).parent))
from lighter_harness import _KEYS, ACCOUNT, KEY, running, settings_for  # noqa: E402

D = Decimal
ROLES = Roles(maker=Leg(Venue.EXTENDED, "SOL-USD"), hedge=Leg(Venue.LIGHTER, "SOL"))


def away(client) -> Decimal:
    return client.rules.round_price(client.top_of_book.value.bid * D("0.9"), up=False)


def through(client, side: Side) -> Decimal:
    top = client.top_of_book.value
    if side is Side.BUY:
        return client.rules.round_price(top.ask * D("1.01"), up=True)
    return client.rules.round_price(top.bid * D("0.99"), up=False)


async def test_a_falling_cumulative_fill_reaches_the_ledger_as_cumulative_regressed(tmp_path, autojump_clock):
    ledger = LedgerCore(ROLES)
    async with running(tmp_path) as h:
        cid = h.client.new_client_id()
        ledger.register_hedge(cid, Side.BUY, D("1.000"))
        await h.client.place_taker(Side.BUY, D("1.000"), away(h.client), cid, TimeInForce.GTT)
        opened = await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        h.sim.force_fill(int(opened.order_id), D("0.600"))
        await h.wait_order(cid, lambda u: u.filled_qty == D("0.600"))
        await trio.sleep(1)
        h.sim.regress_fill(int(opened.order_id), D("0.200"))
        regressed = await h.wait_order(cid, lambda u: u.filled_qty == D("0.200"))
        for event in h.seen:
            ledger.apply(event)
        assert ledger.counters["cumulative_regressed"] == 1 and ledger.reconcile_requested
        assert ledger.positions[ROLES.hedge] == D("0.600")  # an anomaly never subtracts
        assert regressed.status is OrderStatus.PARTIALLY_FILLED
        assert h.client.statistics().counters["regressed_updates"] == 1
        # Later news is still judged against the highest fill seen.
        h.sim.force_fill(int(opened.order_id), D("0.100"))
        grown = await h.wait_order(cid, lambda u: u.filled_qty > D("0.600"))
        assert grown.filled_qty == D("0.700")


async def test_trade_history_back_fills_fills_made_while_no_client_was_connected(tmp_path, autojump_clock):
    wall = trio_wall_clock()
    sim = LighterSim(LighterSimSettings(seed=3, page_limit_max=2), wall_clock=wall)
    sim.add_account(ACCOUNT, collateral=D(1_000_000))
    sim.register_api_key(ACCOUNT, KEY, _KEYS.public_key)

    def new_client() -> LighterClient:
        return LighterClient(settings_for(tmp_path), rng=random.Random(1), http_transport=sim.http_transport(),
                             ws_connect=sim.connect_ws, wall_clock=wall)

    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        first = new_client()
        send, recv = trio.open_memory_channel[VenueEvent](10_000)
        async with trio.open_nursery() as inner:
            await inner.start(first.run, send)
            taker = first.new_client_id()
            await first.place_taker(Side.BUY, D("0.300"), through(first, Side.BUY), taker)
            resting = [first.new_client_id(), first.new_client_id()]
            await first.place_taker(Side.BUY, D("1.000"), away(first), resting[0], TimeInForce.GTT)
            ask = first.rules.round_price(first.top_of_book.value.ask * D("1.1"), up=True)
            await first.place_taker(Side.SELL, D("0.500"), ask, resting[1], TimeInForce.GTT)
            with trio.fail_after(10):
                while len(sim.open_orders(ACCOUNT)) < 2:
                    await sim.executed.wait_transition()
            inner.cancel_scope.cancel()  # the daemon is down from here
        before_down = len(sim.fills(ACCOUNT))
        since = sim.now_ms()
        for order in sorted(sim.open_orders(ACCOUNT), key=lambda o: o.order_index):
            for qty in ("0.100", "0.150"):
                await trio.sleep(0.01)
                sim.force_fill(order.order_index, D(qty))
        assert len(sim.fills(ACCOUNT)) == before_down + 4
        second = new_client()
        send2, recv2 = trio.open_memory_channel[VenueEvent](10_000)
        await nursery.start(second.run, send2)
        history = await second.trades()
        truth = sorted(sim.fills(ACCOUNT), key=lambda t: t.trade_id)
        assert [t.trade_id for t in history] == [str(t.trade_id) for t in truth]
        assert [t.ts_ms for t in history] == sorted(t.ts_ms for t in history)
        assert all(type(t.qty) is Decimal and type(t.price) is Decimal for t in history)
        signed = sum((t.qty * t.side.sign for t in history), D(0))
        assert signed == sim.position(ACCOUNT)  # our side of every trade, never the counterparty's
        by_client = {}
        for t in history:
            by_client.setdefault(t.client_id, set()).add((t.side, t.liquidity))
        assert by_client[taker] == {(Side.BUY, Liquidity.TAKER)}
        assert by_client[resting[0]] == {(Side.BUY, Liquidity.MAKER)}
        assert by_client[resting[1]] == {(Side.SELL, Liquidity.MAKER)}
        assert all(t.venue is Venue.LIGHTER and t.market == "SOL" for t in history)
        recent = await second.trades(since_ms=since)
        assert [t.trade_id for t in recent] == [t.trade_id for t in history if t.ts_ms >= since]
        assert len(recent) == 4
        nursery.cancel_scope.cancel()


async def test_simulated_trade_pages_parse_with_the_sdk_model_and_follow_next_cursor(tmp_path, autojump_clock):
    async with running(tmp_path, sim_settings=LighterSimSettings(seed=1, page_limit_max=2)) as h:
        for _ in range(3):
            cid = h.client.new_client_id()
            await h.client.place_taker(Side.BUY, D("0.100"), through(h.client, Side.BUY), cid)
            await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        token = await h.client.tokens.valid()
        import httpx

        pages, cursor = [], None
        async with httpx.AsyncClient(transport=h.sim.http_transport(), base_url="http://lighter.sim") as http:
            while True:
                params = {"account_index": ACCOUNT, "market_id": 2, "sort_by": "timestamp", "limit": 100}
                if cursor:
                    params["cursor"] = cursor
                r = await http.get("/api/v1/trades", params=params, headers={"authorization": token})
                page = Trades.model_validate(r.json())
                pages.append(page)
                cursor = page.next_cursor
                if cursor is None:
                    break
            unauthenticated = await http.get("/api/v1/trades", params={"account_index": ACCOUNT, "sort_by": "timestamp",
                                                                       "limit": 10})
        assert [len(p.trades) for p in pages] == [2, 1]
        ids = [t.trade_id for p in pages for t in p.trades]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
        assert unauthenticated.status_code == 400


async def test_a_cancel_frame_without_a_fill_amount_keeps_the_status_and_the_last_known_fill(tmp_path, autojump_clock):
    import msgspec

    from hedged.venues.lighter import wire

    async with running(tmp_path) as h:
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, D("1.000"), away(h.client), cid, TimeInForce.GTT)
        opened = await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        h.sim.force_fill(int(opened.order_id), D("0.400"))
        await h.wait_order(cid, lambda u: u.filled_qty == D("0.400"))
        # An abbreviated update: the status only, no filled_base_amount (not "0").
        frame = msgspec.convert({"orders": {"2": [{"order_index": int(opened.order_id), "client_order_index": int(cid),
                                 "status": "canceled", "updated_at": opened.ts_ms + 5_000}]}}, wire.OrdersUpdate)
        await h.client.account.on_orders(frame)
        h.drain()
        final = h.seen[-1]
        assert final.status is OrderStatus.CANCELLED and final.filled_qty == D("0.400")
        assert h.client.statistics().counters["regressed_updates"] == 0
