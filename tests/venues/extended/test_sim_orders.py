"""Extended simulator order entry: Stark signatures, validations with the real codes, async outcomes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from x10.models.account import AccountStreamDataModel
from x10.models.http import WrappedApiResponseModel, WrappedStreamResponseModel

from hedged.sim.extended.checks import stark_amounts
from hedged.sim.extended.config import ExtendedSimSettings

Frame = WrappedStreamResponseModel[AccountStreamDataModel]


async def post(http, body):
    r = await http.post("/user/order", json=body)
    return r, WrappedApiResponseModel[dict].model_validate_json(r.text)


async def read_orders(ws, n):
    """Read account frames until `n` ORDER entries arrived; every frame must parse with x10."""
    orders = []
    while len(orders) < n:
        frame = Frame.model_validate_json(await ws.get_message())
        orders += frame.data.orders or []
    return orders


def test_stark_amounts_match_the_worked_example_of_the_brief():
    s = ExtendedSimSettings()
    assert stark_amounts(s, "BUY", Decimal("1.37"), Decimal("142.37"), Decimal("0.0002")) == (1370, -195046900, 39010)
    assert stark_amounts(s, "SELL", Decimal("1.37"), Decimal("142.37"), Decimal("0.0002")) == (-1370, 195046900, 39010)


async def test_sdk_signed_order_is_accepted_and_becomes_new_on_the_stream(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, autojump_clock
):
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        body = extended_sim_sign("BUY", "1.37", extended_sim.book.best_bid, external_id="hd-1")
        r, env = await post(extended_sim_http, body)
        assert r.status_code == 200 and env.data["externalId"] == "hd-1"
        [order] = await read_orders(ws, 1) or [None]
        while order.external_id != "hd-1":  # skip the initial (empty) restatement
            [order] = await read_orders(ws, 1)
        assert (order.status, order.id, order.time_in_force) == ("NEW", env.data["id"], "GTT")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b.update(price=str(Decimal(b["price"]) - Decimal("0.01"))),
        lambda b: b.update(qty="2.00"),
        lambda b: b.update(nonce=str(int(b["nonce"]) + 1)),
        lambda b: b.update(expiryEpochMillis=b["expiryEpochMillis"] + 1000),
        lambda b: b.update(fee="0.0006"),
        lambda b: b.update(side="SELL"),
        lambda b: b["settlement"]["signature"].update(r=hex(int(b["settlement"]["signature"]["r"], 16) + 1)),
    ],
    ids=["price", "qty", "nonce", "expiry", "fee", "side", "r"],
)
async def test_tampered_order_is_rejected_with_invalid_signature(extended_sim, extended_sim_http, extended_sim_sign, tamper):
    body = extended_sim_sign("BUY", "1.37", extended_sim.book.best_bid - Decimal("0.10"))
    tamper(body)
    r, env = await post(extended_sim_http, body)
    assert r.status_code == 400 and env.error.code == 1101
    assert extended_sim.engine.orders == {}


async def test_wrong_key_and_wrong_vault_are_rejected(extended_sim, extended_sim_http, extended_sim_sign):
    body = extended_sim_sign("BUY", "1", extended_sim.book.best_bid)
    body["settlement"]["starkKey"] = hex(extended_sim.keys.public_key + 1)
    assert (await post(extended_sim_http, body))[1].error.code == 1100
    body = extended_sim_sign("BUY", "1", extended_sim.book.best_bid)
    body["settlement"]["collateralPosition"] = "1"
    assert (await post(extended_sim_http, body))[1].error.code == 1102


@pytest.mark.parametrize(
    ("args", "kw", "code"),
    [
        (("BUY", "0.05", None), {}, 1120),  # below min size
        (("BUY", "0.105", None), {}, 1121),  # off the size step
        (("BUY", "1", "off-tick"), {}, 1124),
        (("BUY", "1", "far-above"), {}, 1141),  # outside the price band
        (("BUY", "1", None), {"expire_in": timedelta(days=91)}, 1135),
        (("BUY", "1", None), {"post_only": False, "fee": Decimal("0.0001")}, 1128),
        (("BUY", "1000", None), {}, 1140),  # costs more than the balance at 5x
    ],
    ids=["min-size", "step", "tick", "band", "expiry", "fee-cap", "cost"],
)
async def test_invalid_orders_get_the_venue_error_codes(extended_sim, extended_sim_http, extended_sim_sign, args, kw, code):
    side, qty, price = args
    best = extended_sim.book.best_bid
    price = {None: best, "off-tick": best + Decimal("0.005"), "far-above": best * 2}[price]
    r, env = await post(extended_sim_http, extended_sim_sign(side, qty, price, **kw))
    assert r.status_code in (400, 404) and env.status == "ERROR" and env.error.code == code


async def test_duplicate_external_id_and_unknown_replace_target_are_refused(
    extended_sim, extended_sim_http, extended_sim_sign
):
    price = extended_sim.book.best_bid
    assert (await post(extended_sim_http, extended_sim_sign("BUY", "1", price, external_id="dup")))[0].status_code == 200
    assert (await post(extended_sim_http, extended_sim_sign("BUY", "1", price, external_id="dup")))[1].error.code == 1134
    assert (await post(extended_sim_http, extended_sim_sign("BUY", "1", price, replaces="ghost")))[1].error.code == 1142


@pytest.mark.parametrize(
    "extended_sim_settings",
    [ExtendedSimSettings(live_market=False, ping_interval=None, post_only_failed_status=st) for st in ("CANCELLED", "REJECTED")],
    ids=["cancelled", "rejected"],
)
async def test_crossing_post_only_order_ends_with_post_only_failed(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, extended_sim_settings, autojump_clock
):
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        r, _ = await post(extended_sim_http, extended_sim_sign("BUY", "1", extended_sim.book.best_ask, external_id="x"))
        assert r.status_code == 200  # REST accepts; the engine refuses later
        await extended_sim.wait_idle()
        [order] = [o for o in await read_orders(ws, 1) if o.external_id == "x"] or [None]
    assert order is not None
    assert (order.status, order.status_reason) == (extended_sim_settings.post_only_failed_status, "POST_ONLY_FAILED")
    assert extended_sim.open_orders() == [] and extended_sim.position() == 0


async def test_partial_fill_then_cancel_reports_cancelled_with_filled_qty(
    extended_sim, extended_sim_http, extended_sim_sign, extended_sim_headers, autojump_clock
):
    async with extended_sim.connect_ws(extended_sim.ws_url + "/account", extended_sim_headers) as ws:
        _, env = await post(extended_sim_http, extended_sim_sign("BUY", "1.37", extended_sim.book.best_bid, external_id="p"))
        await extended_sim.wait_idle()
        extended_sim.force_fill("p", Decimal("0.40"))
        await extended_sim_http.delete(f"/user/order/{env.data['id']}")
        await extended_sim.wait_idle()
        seen = [o for o in await read_orders(ws, 3) if o.external_id == "p"]
    assert [(o.status, o.filled_qty) for o in seen] == [
        ("NEW", Decimal("0")),
        ("PARTIALLY_FILLED", Decimal("0.40")),
        ("CANCELLED", Decimal("0.40")),
    ]
    assert seen[-1].cancelled_qty == Decimal("0.97") and seen[-1].average_price == extended_sim.book.best_bid


async def test_replacing_order_cancels_the_previous_one_with_order_replaced(
    extended_sim, extended_sim_http, extended_sim_sign, autojump_clock
):
    price = extended_sim.book.best_bid
    await post(extended_sim_http, extended_sim_sign("BUY", "1", price, external_id="v1"))
    await extended_sim.wait_idle()
    await post(extended_sim_http, extended_sim_sign("BUY", "1", price - Decimal("0.01"), external_id="v2", replaces="v1"))
    await extended_sim.wait_idle()
    assert extended_sim.order("v1")["status"] == "CANCELLED" and extended_sim.order("v1")["statusReason"] == "ORDER_REPLACED"
    assert [o["externalId"] for o in extended_sim.open_orders()] == ["v2"]


async def test_ioc_taker_order_fills_against_the_book_and_cancels_the_rest(
    extended_sim, extended_sim_http, extended_sim_sign, autojump_clock
):
    available = sum(q for _, q in extended_sim.book.asks[:1])
    price = extended_sim.book.best_ask
    await post(extended_sim_http, extended_sim_sign("BUY", str(available + 1), price, post_only=False, ioc=True, external_id="t"))
    await extended_sim.wait_idle()
    order = extended_sim.order("t")
    assert order["status"] == "CANCELLED" and Decimal(order["filledQty"]) == available
    assert extended_sim.position() == available
    assert all(f["isTaker"] for f in extended_sim.fills())
    assert Decimal(order["cancelledQty"]) == 1
