"""Simulator throughput: book messages/s one connection sustains, and the sim's own time per REST request.

Targets (issue 4): >= 15,000 book msg/s on one connection, <= 0.2 ms added per REST request.

* Book: the Extended sim serves `/orderbooks/SOL-USD` on a 127.0.0.1 socket; its wait for the next
  book change is replaced by "change one level now" (or "run a full market step now", the whole book
  re-laid, which includes the market model's own step), so the stream never waits for the market.
  Two readers, each in its own process (so the reader's cost does not share the server's core):
  - `raw`: a minimal blocking socket reader that drains in 1 ms batches and only splits frames; it
    isolates the simulator's own cost (the server's CPU per message is printed too);
  - `trio-websocket`: `open_websocket_url` + `get_message()` per frame, what a daemon adapter sees end to end.
* REST: `ExtendedSim.handle()` called directly (no transport), mean CPU time per request (process
  time, so other load on the machine does not inflate it; it includes the engine's work that the
  request triggers), for a read, the book snapshot, and an order placement with and without Stark
  signature verification. The signature crypto alone (order hash + `fast_stark_crypto.verify`, the
  venue's cost, not the sim's plumbing) is measured on the same orders and printed separately.

`python bench/sim.py --client raw|trio URL SECONDS [SUBSCRIBE_JSON]` is the reader process (also used by
bench/sim_lighter.py, whose stream needs a subscribe message).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import time
from urllib.parse import urlsplit
from decimal import Decimal

import fast_stark_crypto
import trio
import trio_websocket

from hedged.sim.extended.server import ExtendedSim
from hedged.sim.extended.checks import NewOrder, order_hash, stark_amounts
from hedged.sim.extended.config import ExtendedSimSettings
from hedged.sim.common.transport import SimRequest

SECONDS = 2.0


def _settings(**kw) -> ExtendedSimSettings:
    return ExtendedSimSettings(live_market=False, ping_interval=None, rate_limit_per_min=0, **kw)


async def book_rate(full_steps: bool, reader: str = "raw") -> tuple[float, float]:
    """(messages/s the reader process saw, server CPU seconds per message)."""
    sim = ExtendedSim(_settings())
    async with trio.open_nursery() as nursery:
        server = await nursery.start(sim.serve)
        url = server.ws_url(sim.settings.ws_prefix + "/orderbooks/SOL-USD")
        book = sim.book
        step = book.step

        i = 0

        async def next_change() -> None:
            # The bench plays a market that always has the next change ready: the stream never
            # waits, so the figure is the stream path itself (diff, encode, frame, send).
            nonlocal i
            i += 1
            if full_steps:
                sim.market.step()
            else:
                price, size = book.bids[i % 5]
                book.bids[i % 5] = (price, size + step if i % 2 else size - step)
                book.version += 1
            await trio.lowlevel.checkpoint()

        sim.wait_book_change = next_change  # type: ignore[method-assign]
        # The client runs in its own process, so the figure is the server's, not shared with the client.
        cpu0, sent0 = time.process_time(), sim.book_frames_sent
        done = await trio.run_process(reader_command(reader, url), capture_stdout=True)
        cpu, sent = time.process_time() - cpu0, sim.book_frames_sent - sent0
        nursery.cancel_scope.cancel()
    return float(done.stdout.decode().strip()), cpu / max(sent, 1)


def reader_command(reader: str, url: str, subscribe: str | None = None, seconds: float = SECONDS) -> list[str]:
    """argv of a reader process: prints the messages/s it received (first frame starts the clock)."""
    argv = [sys.executable, os.path.abspath(__file__), "--client", reader, url, str(seconds)]
    return argv + ([subscribe] if subscribe else [])


def trio_client(url: str, seconds: float, subscribe: str | None) -> None:
    """End to end: a trio-websocket client reading every message, as an adapter does."""

    async def run() -> None:
        async with trio_websocket.open_websocket_url(url, extra_headers=[(b"User-Agent", b"bench")]) as ws:
            if subscribe:
                await ws.send_message(subscribe)
            await ws.get_message()
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                await ws.get_message()
                count += 1
            print(count / (time.perf_counter() - start))  # noqa: T201 - bench output read by the parent

    trio.run(run)


def client(url: str, seconds: float, subscribe: str | None = None) -> None:
    """A minimal blocking WebSocket reader (handshake, then count frames), so the figure
    measures the server, not a Python WebSocket client's own parsing speed."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: bench\r\n\r\n").encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    buf = buf[buf.index(b"\r\n\r\n") + 4 :]
    if subscribe:
        payload = subscribe.encode()
        # A masked text frame with an all-zero mask key (valid, and the payload needs no XOR).
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
    count, start = -1, time.perf_counter()  # -1: the first frame (SNAPSHOT) starts the clock
    while time.perf_counter() - start < seconds:
        pos = 0
        while len(buf) - pos >= 2:
            n, head = buf[pos + 1] & 0x7F, 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if len(buf) - pos < head + n:
                break
            if count < 0:
                start = time.perf_counter()
            count += 1
            pos += head + n
        # Drain in batches: a reader parked in recv() costs the sender a cross-process wakeup per
        # message (~100 us on this VM), which would measure the VM's scheduler, not the server.
        time.sleep(0.001)
        buf = buf[pos:] + sock.recv(1 << 22)
    print(count / (time.perf_counter() - start))  # noqa: T201 - bench output read by the parent
    sock.close()


def _signed_body(sim: ExtendedSim, n: int, price: Decimal) -> bytes:
    s = sim.settings
    expiry = sim.now_ms() + 3_600_000
    new = NewOrder(
        external_id=f"bench-{n}",
        market=s.market,
        type="LIMIT",
        side="BUY",
        qty=Decimal("0.1"),
        price=price,
        reduce_only=False,
        post_only=True,
        time_in_force="GTT",
        expiry_ms=expiry,
        fee=Decimal("0.0005"),
        nonce=n + 1,
        cancel_id=None,
    )
    r, sig = fast_stark_crypto.sign(sim.keys.private_key, order_hash(s, sim.keys.public_key, new))
    synthetic, collateral, fee = stark_amounts(s, "BUY", new.qty, new.price, new.fee)
    body = {
        "id": new.external_id,
        "market": s.market,
        "type": "LIMIT",
        "side": "BUY",
        "qty": "0.1",
        "price": str(price),
        "reduceOnly": False,
        "postOnly": True,
        "timeInForce": "GTT",
        "expiryEpochMillis": expiry,
        "fee": "0.0005",
        "nonce": str(n + 1),
        "selfTradeProtectionLevel": "ACCOUNT",
        "settlement": {"signature": {"r": hex(r), "s": hex(sig)}, "starkKey": hex(sim.keys.public_key),
                       "collateralPosition": str(s.vault)},
        "debuggingAmounts": {"collateralAmount": str(collateral), "feeAmount": str(fee), "syntheticAmount": str(synthetic)},
    }
    return json.dumps(body).encode()


async def rest_cost(verify: bool, n: int = 400) -> dict[str, float]:
    # Orders cross the book, so the engine refuses them (POST_ONLY_FAILED) right after the reply:
    # the account keeps a realistic handful of open orders while every request does the full work.
    sim = ExtendedSim(_settings(verify_signatures=verify, accept_delay=0.0))
    out: dict[str, float] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        headers = {"user-agent": "bench", "x-api-key": sim.keys.api_key, "content-type": "application/json"}
        price = sim.book.best_ask
        bodies = [_signed_body(sim, i, price) for i in range(n)]
        reads = {
            "GET /user/orders": SimRequest("GET", "/api/v1/user/orders", {}, headers),
            "GET /info/markets/SOL-USD/orderbook": SimRequest("GET", "/api/v1/info/markets/SOL-USD/orderbook", {}, headers),
            "GET /user/positions": SimRequest("GET", "/api/v1/user/positions", {}, headers),
        }
        for name, req in reads.items():
            start = time.process_time()
            for _ in range(n):
                resp = await sim.handle(req)
                assert resp.status == 200, resp.body
            out[name] = (time.process_time() - start) / n * 1000
        start = time.process_time()
        for body in bodies:
            resp = await sim.handle(SimRequest("POST", "/api/v1/user/order", {}, headers, body))
            assert resp.status == 200, resp.body
        label = "POST /user/order" + (" (with signature check)" if verify else " (signature check off)")
        out[label] = (time.process_time() - start) / n * 1000
        nursery.cancel_scope.cancel()
    return out


def signature_crypto_ms(n: int = 100) -> float:
    """CPU ms per order of the signature work alone: the order's message hash plus ECDSA verify."""
    sim = ExtendedSim(_settings())
    s = sim.settings
    orders = []
    for i in range(n):
        new = NewOrder(
            external_id=f"c-{i}", market=s.market, type="LIMIT", side="BUY", qty=Decimal("0.1"),
            price=Decimal("150"), reduce_only=False, post_only=True, time_in_force="GTT",
            expiry_ms=sim.now_ms() + 3_600_000, fee=Decimal("0.0005"), nonce=i + 1, cancel_id=None,
        )  # fmt: skip
        orders.append((new, fast_stark_crypto.sign(sim.keys.private_key, order_hash(s, sim.keys.public_key, new))))
    start = time.process_time()
    for new, (r, sig) in orders:
        assert fast_stark_crypto.verify(sim.keys.public_key, order_hash(s, sim.keys.public_key, new), r, sig)
    return (time.process_time() - start) / n * 1000


async def main() -> None:
    # On a shared machine the wall-clock rate depends on what else runs; the server's CPU time per
    # message gives the capacity of one free core as well.
    for label, full in (("one-level changes", False), ("full market steps", True)):
        rate, cpu = await book_rate(full_steps=full)
        print(
            f"book stream, one socket connection, {label}, raw-socket reader process: {rate:,.0f} msg/s; "
            f"server CPU {cpu * 1e6:.1f} us/msg = {1 / cpu:,.0f} msg/s per free core (target >= 15,000)"
        )
        rate, cpu = await book_rate(full_steps=full, reader="trio")
        print(f"book stream, one socket connection, {label}, trio-websocket reader process: {rate:,.0f} msg/s")
    costs = await rest_cost(verify=False)
    costs.update(await rest_cost(verify=True, n=100))
    for name, ms in costs.items():
        print(f"REST sim time per request, {name}: {ms:.3f} ms (target <= 0.2)")
    crypto = signature_crypto_ms()
    print(
        f"  of which Stark signature crypto (order hash + fast_stark_crypto.verify): {crypto:.3f} ms; "
        f"sim time excluding it: {costs['POST /user/order (with signature check)'] - crypto:.3f} ms"
    )


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--client":
        sub = sys.argv[5] if len(sys.argv) > 5 else None
        (trio_client if sys.argv[2] == "trio" else client)(sys.argv[3], float(sys.argv[4]), sub)
    else:
        trio.run(main)
