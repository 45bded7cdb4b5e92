"""The Extended simulator on a real 127.0.0.1 socket: REST, both streams and the control endpoint."""

from decimal import Decimal
from typing import List

import httpx
import trio
import trio_websocket
from x10.models.account import AccountStreamDataModel
from x10.models.http import WrappedApiResponseModel, WrappedStreamResponseModel
from x10.models.market import MarketModel
from x10.models.orderbook import OrderbookUpdateModel



async def test_sim_serves_rest_streams_and_control_on_one_ephemeral_port(extended_sim_server, nursery):
    sim, server = extended_sim_server
    rest = server.http_url(sim.settings.rest_prefix)
    ws_base = server.ws_url(sim.settings.ws_prefix)
    headers = {"User-Agent": "t", "X-Api-Key": sim.keys.api_key}
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=rest, headers=headers) as http:
            markets = WrappedApiResponseModel[List[MarketModel]].model_validate_json((await http.get("/info/markets")).text)
            assert markets.data[0].name == "SOL-USD"
            async with trio_websocket.open_websocket_url(ws_base + "/orderbooks/SOL-USD", extra_headers=[(b"User-Agent", b"t")]) as book:
                first = WrappedStreamResponseModel[OrderbookUpdateModel].model_validate_json(await book.get_message())
                assert first.type == "SNAPSHOT" and first.seq == 1
            account_headers = [(b"User-Agent", b"t"), (b"X-Api-Key", sim.keys.api_key.encode())]
            async with trio_websocket.open_websocket_url(ws_base + "/account", extra_headers=account_headers) as acct:
                frames = [WrappedStreamResponseModel[AccountStreamDataModel].model_validate_json(await acct.get_message())
                          for _ in range(3)]
                assert [f.type for f in frames] == ["BALANCE", "POSITION", "ORDER"]
            control = httpx.AsyncClient(base_url=server.http_url(sim.settings.control_path))
            async with control:
                r = await control.post("/price", json={"price": "123.45"})
                assert r.json() == {"ok": True}
                truth = (await control.get("/truth")).json()
                assert truth["reference"] == "123.45" and truth["position"] == "0" and truth["openOrders"] == []
                assert (await control.post("/fault", json={"kind": "http_error", "target": "GET /user/balance"})).status_code == 200
                assert (await http.get("/user/balance")).status_code == 503
                assert (await control.post("/fault", json={"kind": "nonsense"})).status_code == 400
    assert abs((sim.book.best_bid + sim.book.best_ask) / 2 - Decimal("123.45")) < Decimal("0.1")
    nursery.cancel_scope.cancel()
