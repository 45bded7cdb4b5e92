"""Lighter simulator throughput: book messages/s one connection sustains, and the sim's time per REST request.

Targets (issue 4): >= 15,000 book msg/s on one connection, <= 0.2 ms added per REST request.

* Book: the sim serves `/stream` on a 127.0.0.1 socket; a producer task changes one book level per
  iteration and publishes (the sim's feed step) as fast as the stream drains it, while a trio-websocket
  client in the same process counts `update/order_book` frames. Both ends share this process, so the
  figure is a floor for what the server alone sustains. A second figure uses full market steps (the
  whole book re-laid each time, every level changed), the heaviest realistic update.
* REST: `LighterSim.handle()` called directly (no transport), mean per request, for the market list,
  nextNonce, the L3 book, and sendTx of pre-signed txs (signing is the client's cost, done beforehand).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from urllib.parse import urlencode

import trio
import trio_websocket

from hedged.venues.lighter.sim import LighterSim, LighterSimSettings
from hedged.venues.lighter.sim_testing import LIGHTER_SIM_ACCOUNT, prepare_sim
from hedged.venues.sim.transport import SimRequest

SECONDS = 2.0


async def _raw_ws_frames(stream: trio.SocketStream, seconds: float) -> int:
    """Count server frames with a minimal parser (no client-side WebSocket library cost)."""
    buf = bytearray()
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        buf += await stream.receive_some(1 << 16)
        while len(buf) >= 2:
            n, head = buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, head = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, head = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < head + n:
                break
            del buf[: head + n]
            count += 1
    return count


async def _raw_subscribe(port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(
        b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += await stream.receive_some(4096)
    head = head.split(b"\r\n\r\n", 1)[1]
    payload = json.dumps({"type": "subscribe", "channel": "order_book/2"}).encode()
    # A masked text frame with an all-zero mask key (valid, and the payload needs no XOR).
    await stream.send_all(bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
    # No producer runs yet, so the snapshot is the last frame: read until its JSON closes.
    while not head.endswith(b"}}"):
        head += await stream.receive_some(1 << 16)
    return stream


async def book_rate(full_steps: bool, raw_client: bool = False) -> float:
    sim = LighterSim(LighterSimSettings())
    book = sim.book
    async with trio.open_nursery() as nursery:
        server = await nursery.start(sim.serve_tcp)

        async def produce() -> None:
            i = 0
            while sim.sessions:
                # Keep the connection's queue topped up without overflowing it (the sim drops a reader
                # that falls ws_queue_size frames behind); then yield so the writer drains it.
                (session,) = sim.sessions
                while session._send.statistics().current_buffer_used < 512:  # noqa: SLF001
                    if full_steps:
                        sim.market_model.step()
                    else:
                        price, size = book.bids[i % 5]
                        book.bids[i % 5] = (price, size + book.step if i % 2 else size - book.step)
                        book.version += 1
                    sim.feed.publish(sim.now_ms())
                    i += 1
                await trio.sleep(0)

        if raw_client:
            stream = await _raw_subscribe(server.port)
            nursery.start_soon(produce)
            count = await _raw_ws_frames(stream, SECONDS)
            await stream.aclose()
            nursery.cancel_scope.cancel()
            return count / SECONDS
        async with trio_websocket.open_websocket_url(server.ws_url("/stream")) as ws:
            await ws.get_message()  # connected
            await ws.send_message(json.dumps({"type": "subscribe", "channel": "order_book/2"}))
            await ws.get_message()  # snapshot
            nursery.start_soon(produce)
            count = 0
            start = time.perf_counter()
            while time.perf_counter() - start < SECONDS:
                await ws.get_message()
                count += 1
            rate = count / (time.perf_counter() - start)
        nursery.cancel_scope.cancel()
    return rate


def _get(path: str, **params: object) -> SimRequest:
    query = {k: [str(v)] for k, v in params.items()}
    return SimRequest("GET", "/api/v1/" + path, query, {})


async def rest_costs(n: int = 2000) -> dict[str, float]:
    sim = LighterSim(LighterSimSettings())
    signer = prepare_sim(sim)
    sim.market_model.advance(trio.current_time())
    m = sim.settings.market
    ask = sim.book.asks[0][0]
    txs = [
        signer.sign_create_order(
            market_index=m.market_id, client_order_index=i + 1, base_amount=10, price=m.price_units(ask - 10),
            is_ask=False, order_type=0, time_in_force=1, order_expiry=-1, nonce=i + 1,
        )
        for i in range(n)
    ]  # fmt: skip
    cases = {
        "GET orderBooks": lambda i: _get("orderBooks"),
        "GET nextNonce": lambda i: _get("nextNonce", account_index=LIGHTER_SIM_ACCOUNT, api_key_index=5),
        "GET orderBookOrders (limit 20)": lambda i: _get("orderBookOrders", market_id=2, limit=20),
        "POST sendTx (accept only)": lambda i: SimRequest(
            "POST", "/api/v1/sendTx", {}, {"content-type": "application/x-www-form-urlencoded"},
            urlencode({"tx_type": txs[i].tx_type, "tx_info": txs[i].tx_info}).encode(),
        ),
    }  # fmt: skip
    out = {}
    for name, make in cases.items():
        reqs = [make(i) for i in range(n)]
        start = time.perf_counter()
        for req in reqs:
            resp = await sim.handle(req)
            assert resp.status == 200, resp.body
        out[name] = (time.perf_counter() - start) / n * 1000
    return out


async def main() -> None:
    print(f"lighter sim book, one-level changes: {await book_rate(False):,.0f} msg/s (target >= 15,000)")
    print(f"lighter sim book, full market steps: {await book_rate(True):,.0f} msg/s")
    print(f"lighter sim book, one-level changes, raw-socket reader: {await book_rate(False, True):,.0f} msg/s")
    print(f"lighter sim book, full market steps, raw-socket reader: {await book_rate(True, True):,.0f} msg/s")
    for name, ms in (await rest_costs()).items():
        print(f"lighter sim REST {name}: {ms:.3f} ms/request (target <= 0.2)")


if __name__ == "__main__":
    trio.run(main)
