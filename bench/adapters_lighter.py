"""Lighter adapter benchmark: signing (Trio thread vs worker thread), place -> ack against the
in-memory simulator (WS sendtx and REST sendTx), and book messages/s decoded and applied.

    .venv/bin/python bench/adapters_lighter.py [--orders 200] [--book-frames 50000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import trio

from hedged.venues.base import Side, TimeInForce, TopOfBook, Venue
from hedged.venues.lighter import signing
from hedged.venues.lighter.book import BookSync
from hedged.venues.lighter.client import LighterClient, LighterSettings
from hedged.venues.lighter.wire import BookUpdate, FrameDecoder
from stats import fmt_ms, pct  # bench/stats.py (the script directory is on sys.path)

ACCOUNT, KEY = 604118, 5


async def bench_signing(n: int) -> None:
    keys = signing.generate_api_key()
    signer = signing.Signer.create(url="http://bench", private_key=keys.private_key, chain_id=300, api_key_index=KEY,
                                   account_index=ACCOUNT)

    def sign(nonce: int) -> signing.SignedTx:
        return signer.sign_create_order(market_index=2, client_order_index=nonce + 1, base_amount=1250, price=142655,
                                        is_ask=False, order_type=signing.ORDER_TYPE_LIMIT,
                                        time_in_force=signing.TIF_IOC, order_expiry=0, nonce=nonce)  # fmt: skip

    on_trio, awaited, waited, spaced = [], [], [], []
    for i in range(n):
        t = time.perf_counter()
        sign(i)  # deliberately on the Trio thread, to show why the adapter never does this
        on_trio.append(time.perf_counter() - t)
    for i in range(n):
        t = time.perf_counter()
        await trio.to_thread.run_sync(sign, i)
        awaited.append(time.perf_counter() - t)
    with signing.SignerThread() as thread:
        for i in range(n):
            t = time.perf_counter()
            thread.call(sign, i)
            waited.append(time.perf_counter() - t)
        for i in range(min(n, 50)):  # as hedges come: a tenth of a second apart, the caches cold
            await trio.sleep(0.1)
            t = time.perf_counter()
            thread.call(sign, i)
            spaced.append(time.perf_counter() - t)
    print(f"signing SignCreateOrder on the Trio thread      : {fmt_ms(on_trio)}")
    print(f"signing SignCreateOrder via trio.to_thread       : {fmt_ms(awaited)}")
    print(f"signing SignCreateOrder via SignerThread.call    : {fmt_ms(waited)}")
    print(f"  the same, calls 0.1 s apart (as hedges come)   : {fmt_ms(spaced)}")


async def bench_place(n: int, *, over_ws: bool) -> None:
    from hedged.sim.lighter.server import LighterSim, LighterSimSettings

    sim = LighterSim(LighterSimSettings(seed=3))
    keys = signing.generate_api_key()
    sim.add_account(ACCOUNT, collateral=Decimal(10_000_000))
    sim.register_api_key(ACCOUNT, KEY, keys.public_key)
    with tempfile.TemporaryDirectory() as state:
        settings = LighterSettings(rest_url="http://lighter.sim", ws_url="ws://lighter.sim/stream", market="SOL",
                                   account_index=ACCOUNT, api_key_index=KEY, api_private_key=keys.private_key,
                                   chain_id=300, state_dir=Path(state), tier="premium", tx_over_ws=over_ws)  # fmt: skip
        client = LighterClient(settings, rng=random.Random(1), http_transport=sim.http_transport(),
                               ws_connect=sim.connect_ws)  # fmt: skip
        send, recv = trio.open_memory_channel(100_000)
        samples = []
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.run)
            await nursery.start(client.run, send)
            nursery.start_soon(_drain, recv)
            for i in range(n):
                top = client.top_of_book.value
                assert top is not None and top.bid is not None
                # A resting buy well below the book: measures the ack, not the matching.
                price = client.rules.round_price(top.bid * Decimal("0.8"), up=False)
                side_qty = Decimal("0.100")  # above both minimums (size and 10 USDC notional)
                t = time.perf_counter()
                await client.place_taker(Side.BUY, side_qty, price, client.new_client_id(), TimeInForce.GTT)
                samples.append(time.perf_counter() - t)
                if i % 20 == 19:
                    await client.cancel_all()
            nursery.cancel_scope.cancel()
    path = "WS jsonapi/sendtx" if over_ws else "REST sendTx     "
    print(f"place -> ack ({path}) vs in-memory sim   : {fmt_ms(samples)}")


async def _drain(recv: trio.MemoryReceiveChannel) -> None:
    async for _ in recv:
        pass


def book_frames(n: int, rng: random.Random) -> tuple[bytes, list[bytes]]:
    snap_levels = lambda mid, sgn: [{"price": f"{mid + sgn * i * 0.01:.3f}", "size": f"{rng.uniform(1, 50):.3f}"}
                                    for i in range(1, 51)]  # fmt: skip
    nonce = 1000
    snap = {"type": "subscribed/order_book", "channel": "order_book:2",
            "order_book": {"nonce": nonce, "begin_nonce": 0, "asks": snap_levels(142.0, 1), "bids": snap_levels(142.0, -1)}}  # fmt: skip
    frames = []
    for _ in range(n):
        begin, nonce = nonce, nonce + rng.randint(1, 20)
        side = lambda sgn: [{"price": f"{142.0 + sgn * rng.randint(1, 60) * 0.01:.3f}",
                             "size": "0.000" if rng.random() < 0.2 else f"{rng.uniform(1, 50):.3f}"}
                            for _ in range(rng.randint(1, 4))]  # fmt: skip
        frames.append(msgspec.json.encode({"type": "update/order_book", "channel": "order_book:2", "offset": nonce * 3,
                                           "order_book": {"nonce": nonce, "begin_nonce": begin, "asks": side(1),
                                                          "bids": side(-1), "offset": nonce * 3}}))  # fmt: skip
    return msgspec.json.encode(snap), frames


def bench_book(n: int) -> None:
    snap, frames = book_frames(n, random.Random(5))
    decoder, sync = FrameDecoder(), BookSync()
    sync.on_snapshot(decoder.decode(snap).order_book)
    lag = []
    t0 = time.perf_counter()
    for raw in frames:
        t = time.perf_counter()
        frame = decoder.decode(raw)
        assert isinstance(frame, BookUpdate)
        sync.on_update(frame.order_book)
        bid, ask = sync.book.best_bid(), sync.book.best_ask()
        # What LighterClient.on_book publishes after every applied frame.
        TopOfBook(Venue.LIGHTER, "SOL", bid[0], bid[1], ask[0], ask[1], time.perf_counter())
        lag.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    assert sync.gaps == 0 and decoder.malformed == 0
    print(f"book update frames decoded+applied               : {n / elapsed:,.0f} msg/s "
          f"(per frame p50 {statistics.median(lag) * 1e6:.1f} us, p99 {pct(lag, 0.99) * 1e6:.1f} us; target >= 15,000/s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signatures", type=int, default=300)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--book-frames", type=int, default=50_000)
    args = parser.parse_args()
    from loguru import logger

    logger.remove()  # the figures, not the event log
    trio.run(bench_signing, args.signatures)
    trio.run(lambda: bench_place(args.orders, over_ws=True))
    trio.run(lambda: bench_place(args.orders, over_ws=False))
    bench_book(args.book_frames)


if __name__ == "__main__":
    main()
