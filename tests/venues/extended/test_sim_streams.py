"""Extended simulator WS v1 streams: every frame parses with x10; seq, q/c, snapshots, account state."""

from decimal import Decimal

import pytest
import trio
import trio_websocket
from x10.models.account import AccountStreamDataModel
from x10.models.http import WrappedStreamResponseModel
from x10.models.orderbook import OrderbookUpdateModel

from hedged.venues.base import Side
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.sim.common.market import MarketSettings

BookFrame = WrappedStreamResponseModel[OrderbookUpdateModel]
AccountFrame = WrappedStreamResponseModel[AccountStreamDataModel]


def apply(book: dict[Decimal, Decimal], levels: list[dict], snapshot: bool) -> None:
    """The brief's rule: SNAPSHOT q is absolute; DELTA sets c when present (q is the change)."""
    for lv in levels:
        price = Decimal(lv["p"])
        size = Decimal(lv["q"]) if snapshot else Decimal(lv["c"])
        if size == 0:
            book.pop(price, None)
        else:
            book[price] = size


async def test_book_stream_snapshot_then_deltas_rebuild_the_venue_book(extended_sim, extended_sim_headers, autojump_clock):
    import json

    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    async with extended_sim.connect_ws(extended_sim.ws_url + "/orderbooks/SOL-USD", {"User-Agent": "t"}) as ws:
        seqs, types = [], []
        for i in range(30):
            if i:
                extended_sim.step_market()
            text = await ws.get_message()
            frame = BookFrame.model_validate_json(text)  # the SDK must accept every frame
            raw = json.loads(text)
            seqs.append(frame.seq)
            types.append(frame.type)
            snapshot = frame.type == "SNAPSHOT"
            if snapshot:
                bids.clear(), asks.clear()
            else:
                for lv in raw["data"]["b"] + raw["data"]["a"]:
                    before = (bids if lv in raw["data"]["b"] else asks).get(Decimal(lv["p"]), Decimal(0))
                    assert Decimal(lv["q"]) == Decimal(lv["c"]) - before  # q is the change
            apply(bids, raw["data"]["b"], snapshot)
            apply(asks, raw["data"]["a"], snapshot)
            assert frame.data.market == "SOL-USD"
    assert seqs == list(range(1, 31))
    assert types[0] == "SNAPSHOT" and set(types[1:]) == {"DELTA"}
    assert sorted(bids.items(), reverse=True) == extended_sim.book.bids
    assert sorted(asks.items()) == extended_sim.book.asks


@pytest.mark.parametrize(
    "extended_sim_settings",
    [ExtendedSimSettings(live_market=True, ping_interval=None, book_snapshot_interval=5.0)],
)
async def test_live_market_streams_deltas_and_a_periodic_snapshot(extended_sim, autojump_clock):
    async with extended_sim.connect_ws(extended_sim.ws_url + "/orderbooks/SOL-USD", {"User-Agent": "t"}) as ws:
        frames = [BookFrame.model_validate_json(await ws.get_message()) for _ in range(80)]
    snapshots = [f.seq for f in frames if f.type == "SNAPSHOT"]
    assert snapshots[0] == 1 and len(snapshots) >= 2
    assert [f.seq for f in frames] == list(range(1, 81))


async def test_depth_one_stream_sends_only_top_of_book_snapshots(extended_sim, autojump_clock):
    url = extended_sim.ws_url + "/orderbooks/SOL-USD?depth=1"
    async with extended_sim.connect_ws(url, {"User-Agent": "t"}) as ws:
        frames = []
        for i in range(5):
            if i:
                extended_sim.move_price(Decimal("0.5"))
            frames.append(BookFrame.model_validate_json(await ws.get_message()))
    assert {f.type for f in frames} == {"SNAPSHOT"}
    assert all(len(f.data.bid) == 1 and len(f.data.ask) == 1 for f in frames)
    assert frames[-1].data.bid[0].price == extended_sim.book.best_bid


async def test_account_stream_restates_balance_positions_and_open_orders_on_connect(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, autojump_clock
):
    await extended_sim_http.post("/user/order", json=extended_sim_sign("SELL", "2", extended_sim.book.best_ask, external_id="o1"))
    await extended_sim.wait_idle()
    extended_sim.force_fill("o1", Decimal("0.5"))
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        frames = [AccountFrame.model_validate_json(await ws.get_message()) for _ in range(3)]
    assert [(f.type, f.seq) for f in frames] == [("BALANCE", 1), ("POSITION", 2), ("ORDER", 3)]
    assert frames[0].data.balance.balance == Decimal("10000")
    [position] = frames[1].data.positions
    assert (position.side, position.size) == ("SHORT", Decimal("0.5"))
    [order] = frames[2].data.orders
    assert (order.external_id, order.status, order.filled_qty) == ("o1", "PARTIALLY_FILLED", Decimal("0.5"))


async def test_a_fill_emits_order_trade_position_and_balance_and_mass_cancel_batches_orders(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, autojump_clock
):
    best = extended_sim.book.best_bid
    for i in range(3):
        await extended_sim_http.post("/user/order", json=extended_sim_sign("BUY", "1", best, external_id=f"b{i}"))
    await extended_sim.wait_idle()
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        for _ in range(3):
            await ws.get_message()
        extended_sim.add_flow(Side.SELL, Decimal("1.5"))  # another trader hits our bids
        fill_frames = [AccountFrame.model_validate_json(await ws.get_message()) for _ in range(4)]
        await extended_sim_http.post("/user/order/massCancel", json={"markets": ["SOL-USD"]})
        await extended_sim.wait_idle()
        cancel = AccountFrame.model_validate_json(await ws.get_message())
    assert [f.type for f in fill_frames] == ["ORDER", "TRADE", "POSITION", "BALANCE"]
    assert [(o.external_id, o.status, o.filled_qty) for o in fill_frames[0].data.orders] == [
        ("b0", "FILLED", Decimal("1")),
        ("b1", "PARTIALLY_FILLED", Decimal("0.5")),
    ]
    trades = fill_frames[1].data.trades
    assert [t.qty for t in trades] == [Decimal("1"), Decimal("0.5")] and not any(t.is_taker for t in trades)
    assert len({t.id for t in trades}) == 2
    assert fill_frames[2].data.positions[0].size == Decimal("1.5")
    assert cancel.type == "ORDER" and [(o.external_id, o.status) for o in cancel.data.orders] == [
        ("b1", "CANCELLED"),
        ("b2", "CANCELLED"),
    ]
    assert [f.seq for f in fill_frames] == [4, 5, 6, 7] and cancel.seq == 8


@pytest.mark.parametrize(
    "extended_sim_settings",
    [
        ExtendedSimSettings(
            live_market=True,
            ping_interval=None,
            market_settings=MarketSettings(seed=4, flow_rate=5.0, volatility=0.0),
        )
    ],
)
async def test_other_traders_flow_fills_a_resting_order_at_the_best_bid(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, autojump_clock
):
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        body = extended_sim_sign("BUY", "3", extended_sim.book.best_bid, external_id="r")
        await extended_sim_http.post("/user/order", json=body)
        statuses = []
        with trio.fail_after(120):  # simulated seconds
            while "FILLED" not in statuses:
                frame = AccountFrame.model_validate_json(await ws.get_message())
                statuses += [o.status for o in frame.data.orders or () if o.external_id == "r"]
    assert statuses[0] == "NEW" and "PARTIALLY_FILLED" in statuses  # random partial sizes, not one lump
    fills = [f for f in extended_sim.fills() if f["externalOrderId"] == "r"]
    assert sum(Decimal(f["qty"]) for f in fills) == 3 and extended_sim.position() == 3


async def test_account_stream_refuses_a_missing_key_and_unknown_streams_404(extended_sim):
    with pytest.raises(trio_websocket.ConnectionRejected) as info:
        async with extended_sim.connect_ws(extended_sim.ws_url + "/account", {"User-Agent": "t"}):
            pass
    assert info.value.status_code == 401
    with pytest.raises(trio_websocket.ConnectionRejected) as info:
        async with extended_sim.connect_ws(extended_sim.ws_url + "/orderbooks/BTC-USD", {"User-Agent": "t"}):
            pass
    assert info.value.status_code == 404
