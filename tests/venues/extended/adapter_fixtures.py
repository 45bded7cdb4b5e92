"""Constructed Extended payloads for the adapter's unit tests (values invented, shapes exact)."""

from __future__ import annotations

import json
import random
from typing import Any

import fast_stark_crypto

MARKET = "SOL-USD"


def market_json(**trading: Any) -> dict[str, Any]:
    cfg = {"minOrderSize": "0.1", "minOrderSizeChange": "0.01", "minPriceChange": "0.01",
           "maxMarketOrderValue": "500000", "maxLimitOrderValue": "2500000", "maxPositionValue": "5000000",
           "maxLeverage": "20.00", "maxNumOrders": 200, "limitPriceCap": "0.05", "limitPriceFloor": "0.05",
           "riskFactorConfig": [{"upperBound": "250000", "riskFactor": "0.05"}]}
    cfg.update(trading)
    return {
        "name": MARKET, "type": "PERPETUAL", "status": "ACTIVE", "assetName": "SOL", "assetPrecision": 2,
        "collateralAssetName": "USD", "collateralAssetPrecision": 6, "active": True, "isRfq": False,
        "isOffHours": False, "tradingHours": "CONTINUOUS",
        "marketStats": {"dailyVolume": "1", "dailyVolumeBase": "1", "dailyPriceChange": "0", "dailyLow": "140",
                        "dailyHigh": "145", "lastPrice": "142.41", "askPrice": "142.43", "bidPrice": "142.40",
                        "markPrice": "142.415", "indexPrice": "142.42", "fundingRate": "0.000012",
                        "nextFundingRate": 1795593600000, "openInterest": "1", "openInterestBase": "1"},
        "tradingConfig": cfg,
        "l2Config": {"type": "STARKX", "collateralId": "0x1e2f", "collateralResolution": 1000000,
                     "syntheticId": "0x534f4c2d33", "syntheticResolution": 1000},
    }


def order_json(**over: Any) -> dict[str, Any]:
    order = {"id": 1802260413377142784, "accountId": 55012, "externalId": "hd-1", "market": MARKET,
             "type": "LIMIT", "side": "BUY", "status": "NEW", "price": "142.37", "averagePrice": "0",
             "qty": "1.37", "filledQty": "0", "payedFee": "0", "reduceOnly": False, "postOnly": True,
             "timeInForce": "GTT", "createdTime": 1795540000100, "updatedTime": 1795540000100,
             "expiryTime": 1795622560208}
    order.update(over)
    return order


def position_json(**over: Any) -> dict[str, Any]:
    pos = {"id": 1, "accountId": 55012, "market": MARKET, "status": "OPENED", "side": "LONG", "leverage": "5",
           "size": "0.40", "value": "56.95", "openPrice": "142.37", "markPrice": "142.38", "unrealisedPnl": "0",
           "realisedPnl": "0", "createdAt": 1795540002900, "updatedAt": 1795540002900}
    pos.update(over)
    return pos


def trade_json(**over: Any) -> dict[str, Any]:
    trade = {"id": 77, "accountId": 55012, "market": MARKET, "orderId": 1802260413377142784,
             "externalOrderId": "hd-1", "side": "BUY", "price": "142.37", "qty": "0.40", "value": "56.948",
             "fee": "0", "tradeType": "TRADE", "isTaker": False, "createdTime": 1795540002900}
    trade.update(over)
    return trade


def frame(type_: str | None, data: Any, seq: int, *, ts: int = 1795540001234, error: str | None = None) -> bytes:
    return json.dumps({"type": type_, "data": data, "error": error, "ts": ts, "seq": seq}).encode()


def book_frame(type_: str, seq: int, bids: list[tuple[str, str, str | None]], asks: list[tuple[str, str, str | None]],
               market: str = MARKET) -> bytes:
    def levels(rows):
        out = []
        for p, q, c in rows:
            lv = {"p": p, "q": q}
            if c is not None:
                lv["c"] = c
            out.append(lv)
        return out

    return frame(type_, {"m": market, "b": levels(bids), "a": levels(asks)}, seq)


def envelope(data: Any = None, *, status: str = "OK", error: dict | None = None) -> bytes:
    body: dict[str, Any] = {"status": status}
    if data is not None:
        body["data"] = data
    if error is not None:
        body["error"] = error
    return json.dumps(body).encode()


def throwaway_keys(seed: int) -> tuple[str, str]:
    """A test-only Stark key pair derived from `seed` (never a real key)."""
    private = random.Random(seed).getrandbits(250) | 1
    return hex(private), hex(fast_stark_crypto.get_public_key(private))


# ------------------------------------------------------------- against the simulator

import math  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from decimal import Decimal  # noqa: E402

import trio  # noqa: E402

from hedged.venues.base import OrderUpdate, PositionSnapshot, Side, Trade  # noqa: E402


@dataclass
class Observed:
    """What a ledger would conclude from the adapter's events (max filled per order, last position)."""

    orders: dict[str, OrderUpdate] = field(default_factory=dict)
    filled: dict[str, Decimal] = field(default_factory=dict)
    trades: dict[str, Trade] = field(default_factory=dict)
    position: Decimal | None = None
    log: list = field(default_factory=list)

    def apply(self, event) -> None:
        self.log.append(event)
        if isinstance(event, OrderUpdate):
            key = event.client_id or f"#{event.order_id}"
            self.filled[key] = max(self.filled.get(key, Decimal(0)), event.filled_qty)
            self.orders[key] = event
        elif isinstance(event, Trade):
            assert event.trade_id not in self.trades, f"trade {event.trade_id} forwarded twice"
            self.trades[event.trade_id] = event
        elif isinstance(event, PositionSnapshot):
            self.position = event.size


@asynccontextmanager
async def open_sim_client(*, seed: int = 11, live_market: bool = False, sim_kw: dict | None = None,
                          client_kw: dict | None = None, wrap_transport=None, api_key: str | None = None,
                          wrap_ws=None) -> AsyncIterator[tuple]:
    """An ExtendedSim (in memory) and a running ExtendedClient wired to it.

    Yields (client, sim, events receive channel).
    """
    from hedged.venues.extended.client import ExtendedClient, ExtendedSettings
    from hedged.sim.extended.server import ExtendedSim
    from hedged.sim.extended.config import ExtendedSimSettings

    sim = ExtendedSim(ExtendedSimSettings(seed=seed, live_market=live_market, domain_chain_id="SN_SIM",
                                          **(sim_kw or {})))
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        settings = ExtendedSettings(
            rest_url=sim.rest_url, ws_url=sim.ws_url, market=sim.settings.market,
            api_key=api_key or sim.keys.api_key,
            stark_private_key=sim.keys.private_key_hex, stark_public_key=sim.keys.public_key_hex,
            vault=sim.settings.vault, signing_domain="sim", **(client_kw or {}))
        transport = sim.http_transport()
        if wrap_transport is not None:
            transport = wrap_transport(transport)
        connect = sim.connect_ws if wrap_ws is None else wrap_ws(sim.connect_ws)
        client = ExtendedClient(settings, http_transport=transport, ws_connect=connect,
                                rng=random.Random(seed), wall_clock=lambda: sim.now_ms() / 1000)
        send, receive = trio.open_memory_channel(math.inf)
        await nursery.start(client.run, send)
        try:
            yield client, sim, receive
        finally:
            nursery.cancel_scope.cancel()


async def until(events, observed: Observed, predicate, *, timeout: float = 60.0) -> None:
    """Feed events into `observed` until `predicate(observed)` holds; fail after `timeout` (mock) seconds."""
    with trio.fail_after(timeout):
        while not predicate(observed):
            observed.apply(await events.receive())


def venue_truth(sim, client_id: str):
    """The simulator's view of one order, normalized with the adapter's own mapping."""
    import msgspec

    from hedged.venues.extended import wire

    return wire.to_order_update(msgspec.convert(sim.order(client_id), wire.Order))


def assert_reaches_truth(observed: Observed, sim) -> None:
    """Every order the venue knows has the venue's filled qty and status in `observed`; positions agree."""
    for external in sim.engine.by_external:
        truth = venue_truth(sim, external)
        seen = observed.orders.get(external)
        assert seen is not None, f"order {external} never reported"
        assert observed.filled[external] == truth.filled_qty, external
        assert seen.status is truth.status, (external, seen.status, truth.status)
    assert observed.position == sim.position()


def settled(sim, *client_ids: str):
    """Predicate: `observed` has every listed order in the venue's status and filled qty, and the position."""

    def check(observed: Observed) -> bool:
        for cid in client_ids:
            truth = venue_truth(sim, cid)
            seen = observed.orders.get(cid)
            if seen is None or seen.status is not truth.status or observed.filled.get(cid) != truth.filled_qty:
                return False
        return observed.position == sim.position()

    return check


class RecordingTransport:
    """Wraps an httpx transport and records (trio time, method, path) of every request sent."""

    def __new__(cls, inner):
        import httpx

        class _Recording(httpx.AsyncBaseTransport):
            def __init__(self) -> None:
                self.log: list[tuple[float, str, str]] = []

            async def handle_async_request(self, request):
                self.log.append((trio.current_time(), request.method, request.url.path))
                return await inner.handle_async_request(request)

        return _Recording()


class GarbageFirst:
    """A ws_connect wrapper: each connection first yields the garbage listed for its URL, then the real stream."""

    def __init__(self, inner, garbage: dict[str, list]) -> None:
        self.inner = inner
        self.garbage = garbage

    @asynccontextmanager
    async def __call__(self, url, headers):
        pending = [m for key, msgs in self.garbage.items() if key in url for m in msgs]
        async with self.inner(url, headers) as ws:
            yield _Prefixed(ws, pending)


class _Prefixed:
    def __init__(self, ws, pending: list) -> None:
        self._ws = ws
        self._pending = pending

    async def get_message(self):
        if self._pending:
            await trio.lowlevel.checkpoint()
            return self._pending.pop(0)
        return await self._ws.get_message()

    def __getattr__(self, name):
        return getattr(self._ws, name)


async def rest_maker(client, sim, side: Side = Side.BUY, qty: str = "1") -> str:
    """Rest a post-only order a little behind the touch; returns its client id."""
    cid = client.new_client_id()
    top = client.top_of_book.value
    price = top.bid - Decimal("0.05") if side is Side.BUY else top.ask + Decimal("0.05")
    await client.place_maker(side, Decimal(qty), price, cid)
    await sim.wait_idle()
    return cid
