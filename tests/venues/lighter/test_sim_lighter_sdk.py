"""`hedged sim` as a testnet stand-in for the official lighter-sdk clients (issue 13 point 12).

The SDK itself talks to the Lighter simulator on a loopback socket: `AccountApi.apikeys` and
`SignerClient.check_client` (whose Go signer fetches `GET /api/v1/apikeys`), and `WsClient`
subscribing to `account_all/{id}`. Responses are parsed by the SDK's own models. The SDK runs
asyncio/blocking code, so it runs in a worker thread; every wait carries an absolute deadline.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import lighter
import trio
from lighter.models import AccountApiKeys, AccountPosition, Trade

from hedged.venues.lighter.signing import generate_api_key
from tests.venues.lighter.sim_trader import LIGHTER_SIM_ACCOUNT, LighterSimTrader, prepare_sim


def _sdk(coro_fn):
    """Run an async SDK call to completion in this (worker) thread's own event loop."""
    return asyncio.run(coro_fn())


async def test_sdk_apikeys_parses_and_check_client_passes_against_the_simulator(sim_pair_tcp):
    pair = sim_pair_tcp
    url, account, key_index = pair.lighter_urls[0], pair.lighter_account, pair.lighter_key_index
    registered = pair.lighter.exchange.accounts[account].api_keys[key_index]

    async def apikeys() -> tuple[AccountApiKeys, AccountApiKeys]:
        async with lighter.ApiClient(configuration=lighter.Configuration(host=url)) as api:
            accounts = lighter.AccountApi(api)
            return (await accounts.apikeys(account_index=account, api_key_index=255),
                    await accounts.apikeys(account_index=account, api_key_index=key_index))

    def check(private_key: str) -> str | None:
        async def run():
            client = lighter.SignerClient(url=url, account_index=account, api_private_keys={key_index: private_key})
            try:
                return client.check_client()
            finally:
                await client.close()
        return _sdk(run)

    with trio.fail_after(30):
        every, one = await trio.to_thread.run_sync(_sdk, apikeys)
        assert isinstance(every, AccountApiKeys) and every.code == 200
        assert [(k.account_index, k.api_key_index, k.public_key) for k in one.api_keys] == [
            (account, key_index, registered)]
        assert {k.api_key_index for k in every.api_keys} == {key_index}
        assert one.api_keys[0].nonce == pair.lighter.exchange.next_nonce(account, key_index)
        assert await trio.to_thread.run_sync(check, pair.lighter_private_key) is None
        # Another key than the registered one: the SDK's check must say so.
        assert await trio.to_thread.run_sync(check, generate_api_key().private_key)


async def test_sdk_ws_client_gets_the_account_all_snapshot_and_an_update_per_trade(sim_pair_tcp):
    pair = sim_pair_tcp
    signer = prepare_sim(pair.lighter)  # a second, funded account that will trade
    frames_in, frames_out = trio.open_memory_channel[dict](100)
    token = trio.lowlevel.current_trio_token()

    def on_account_update(account_id: str, message: dict) -> None:
        trio.from_thread.run_sync(frames_in.send_nowait, {"account_id": account_id, **message}, trio_token=token)

    client = lighter.WsClient(ws_url=pair.lighter_urls[1], account_ids=[LIGHTER_SIM_ACCOUNT],
                              on_account_update=on_account_update)

    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            # abandon_on_cancel: on a failure the deadline ends the test; `finally` closes the socket,
            # which ends the SDK's blocking loop in its thread.
            n.start_soon(lambda: trio.to_thread.run_sync(client.run, abandon_on_cancel=True))
            try:
                await _trade_and_check(pair, signer, frames_out)
            finally:
                if client.ws is not None:  # from a thread: the sim's side of the close runs on this loop
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(client.ws.close)


async def _trade_and_check(pair, signer, frames_out) -> None:
    snapshot = await frames_out.receive()
    assert snapshot["type"] == "subscribed/account_all", snapshot
    assert snapshot["account_id"] == str(LIGHTER_SIM_ACCOUNT) and snapshot["account"] == LIGHTER_SIM_ACCOUNT
    assert snapshot["trades"] == {} and snapshot["total_trades_count"] == 0
    flat = AccountPosition.from_dict(snapshot["positions"]["2"])
    assert Decimal(flat.position) == 0

    async with httpx.AsyncClient(base_url=pair.lighter_urls[0]) as http:
        trader = LighterSimTrader(pair.lighter, signer, http)
        # An IOC buy through the best ask: it trades at once.
        response = await trader.order(is_ask=False, qty="0.5", price=str(pair.lighter.book.best_ask + 1), tif=0)
        assert response.status_code == 200, response.text
    update = await frames_out.receive()
    while not update["trades"]:
        update = await frames_out.receive()
    assert update["type"] == "update/account_all"
    (trade,) = [Trade.from_dict(t) for t in update["trades"]["2"]]
    assert trade.bid_account_id == LIGHTER_SIM_ACCOUNT and Decimal(trade.size) > 0
    position = AccountPosition.from_dict(update["positions"]["2"])
    assert position.sign == 1 and Decimal(position.position) == Decimal(trade.size)
    assert update["total_trades_count"] >= 1
