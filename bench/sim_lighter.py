"""Lighter simulator throughput: book messages/s one connection sustains, and the sim's time per REST request.

Targets (issue 4): >= 15,000 book msg/s on one connection, <= 0.2 ms added per REST request.

* Book: the sim serves `/stream` on a 127.0.0.1 socket; a producer task changes one book level per
  iteration and publishes (the sim's feed step) as fast as the stream drains it. A second figure uses
  full market steps (the whole book re-laid each time, every level changed, the market model's own
  step included), the heaviest realistic update. Readers run in their own process (bench/sim.py
  `--client`), so their cost does not share the server's core:
  - `raw`: a minimal socket reader that only splits frames: isolates the simulator's own cost
    (the server's CPU per message is printed too);
  - `trio-websocket`: `get_message()` per frame, what a daemon adapter sees end to end.
* REST: `LighterSim.handle()` called directly (no transport), mean per request, for the market list,
  nextNonce, the L3 book, and sendTx of pre-signed txs (signing is the client's cost, done beforehand).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlencode

import trio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim import reader_command  # noqa: E402 - the shared reader process of bench/sim.py

from hedged.sim.lighter.server import LighterSim, LighterSimSettings
from tests.venues.lighter.sim_trader import LIGHTER_SIM_ACCOUNT, prepare_sim
from hedged.sim.common.transport import SimRequest

SECONDS = 2.0


async def book_rate(full_steps: bool, reader: str = "raw") -> tuple[float, float]:
    """(messages/s the reader process saw, server CPU seconds per published update)."""
    sim = LighterSim(LighterSimSettings())
    book = sim.book
    subscribed = trio.Event()
    snapshot = sim.feed.snapshot

    def snapshot_and_start() -> dict[str, Any]:
        subscribed.set()  # the reader's subscription is in: start producing
        return snapshot()

    sim.feed.snapshot = snapshot_and_start  # type: ignore[method-assign]
    published = 0
    async with trio.open_nursery() as nursery:
        server = await nursery.start(sim.serve_tcp)

        async def produce() -> None:
            nonlocal published
            await subscribed.wait()
            while sim.sessions:
                # Keep the connection's queue topped up without overflowing it (the sim drops a reader
                # that falls ws_queue_size frames behind); then yield so the writer drains it.
                (session,) = sim.sessions
                while session._send.statistics().current_buffer_used < 512:  # noqa: SLF001
                    i = published
                    if full_steps:
                        sim.market_model.step()
                    else:
                        price, size = book.bids[i % 5]
                        book.bids[i % 5] = (price, size + book.step if i % 2 else size - book.step)
                        book.version += 1
                    sim.feed.publish(sim.now_ms())
                    published += 1
                await trio.sleep(0)

        nursery.start_soon(produce)
        subscribe = json.dumps({"type": "subscribe", "channel": "order_book/2"})
        cpu0 = time.process_time()
        done = await trio.run_process(reader_command(reader, server.ws_url("/stream"), subscribe), capture_stdout=True)
        cpu = time.process_time() - cpu0
        nursery.cancel_scope.cancel()
    return float(done.stdout.decode().strip()), cpu / max(published, 1)


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
    for label, full in (("one-level changes", False), ("full market steps", True)):
        rate, cpu = await book_rate(full)
        print(
            f"lighter sim book, {label}, raw-socket reader process: {rate:,.0f} msg/s; "
            f"server CPU {cpu * 1e6:.1f} us/msg = {1 / cpu:,.0f} msg/s per free core (target >= 15,000)"
        )
        rate, _ = await book_rate(full, reader="trio")
        print(f"lighter sim book, {label}, trio-websocket reader process: {rate:,.0f} msg/s")
    for name, ms in (await rest_costs()).items():
        print(f"lighter sim REST {name}: {ms:.3f} ms/request (target <= 0.2)")


if __name__ == "__main__":
    trio.run(main)
