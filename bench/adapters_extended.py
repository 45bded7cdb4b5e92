"""Extended adapter benchmark: signing (Trio thread vs worker thread), place -> ack round trip
against the in-memory simulator, and book messages/s decoded and applied (target >= 15,000/s).

    .venv/bin/python bench/adapters_extended.py [--orders 300] [--book-frames 50000] [--no-sim]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hedged.venues.base import Side, TimeInForce  # noqa: E402
from hedged.venues.extended.book import BookFeed, same_top  # noqa: E402
from hedged.venues.extended.signing import DOMAINS, OrderSigner  # noqa: E402
from hedged.venues.extended.wire import decode_frame  # noqa: E402
from stats import fmt_ms, pct  # bench/stats.py (the script directory is on sys.path)

MARKET_JSON = {
    "name": "SOL-USD", "type": "PERPETUAL", "assetName": "SOL", "assetPrecision": 2, "collateralAssetName": "USD",
    "collateralAssetPrecision": 6, "active": True, "isRfq": False, "isOffHours": False, "tradingHours": "CONTINUOUS",
    "marketStats": {k: "1" for k in ("dailyVolume", "dailyVolumeBase", "dailyPriceChange", "dailyLow", "dailyHigh",
                                     "lastPrice", "askPrice", "bidPrice", "markPrice", "indexPrice", "fundingRate",
                                     "openInterest", "openInterestBase")} | {"nextFundingRate": 0},
    "tradingConfig": {"minOrderSize": "0.1", "minOrderSizeChange": "0.01", "minPriceChange": "0.01",
                      "maxMarketOrderValue": "1", "maxLimitOrderValue": "1", "maxPositionValue": "1",
                      "maxLeverage": "20", "maxNumOrders": 200, "limitPriceCap": "0.05", "limitPriceFloor": "0.05",
                      "riskFactorConfig": []},
    "l2Config": {"type": "STARKX", "collateralId": "0x1e2f", "collateralResolution": 1000000,
                 "syntheticId": "0x534f4c2d33", "syntheticResolution": 1000},
}


async def bench_signing(n: int) -> None:
    import fast_stark_crypto

    rng = random.Random(7)
    private = rng.getrandbits(250) | 1
    signer = OrderSigner(vault=4242, private_key=hex(private), public_key=hex(fast_stark_crypto.get_public_key(private)),
                         domain=DOMAINS["sim"], market=MARKET_JSON, fee_cap=Decimal("0.00025"), rng=rng)
    kw = dict(side=Side.BUY, qty=Decimal("1.37"), price=Decimal("142.37"), post_only=True, tif=TimeInForce.GTT)
    inline, worker = [], []
    for i in range(n):
        t = time.perf_counter()
        await signer.sign_async(in_thread=False, external_id=f"b{i}", **kw)
        inline.append(time.perf_counter() - t)
    for i in range(n):
        t = time.perf_counter()
        await signer.sign_async(in_thread=True, external_id=f"w{i}", **kw)
        worker.append(time.perf_counter() - t)
    print(f"signing create_order_object on the Trio thread  : {fmt_ms(inline)}")
    print(f"signing create_order_object via trio.to_thread  : {fmt_ms(worker)}")


def book_frames(n: int, seed: int = 3) -> list[bytes]:
    """A SNAPSHOT of 50 levels a side, then DELTAs of 1-6 level changes (with `c`), seq +1 each."""
    rng = random.Random(seed)
    bids = {Decimal("142.40") - Decimal("0.01") * i: Decimal(rng.randint(1, 500)) / 10 for i in range(50)}
    asks = {Decimal("142.43") + Decimal("0.01") * i: Decimal(rng.randint(1, 500)) / 10 for i in range(50)}

    def lv(p: Decimal, q: Decimal, c: Decimal | None = None) -> dict[str, str]:
        out = {"p": str(p), "q": str(q)}
        if c is not None:
            out["c"] = str(c)
        return out

    frames = [json.dumps({"type": "SNAPSHOT", "data": {"m": "SOL-USD", "b": [lv(p, q, q) for p, q in bids.items()],
                                                       "a": [lv(p, q, q) for p, q in asks.items()]},
                          "error": None, "ts": 1, "seq": 1}).encode()]
    for seq in range(2, n + 1):
        changes: dict[str, list] = {"b": [], "a": []}
        for _ in range(rng.randint(1, 6)):
            side, levels = ("b", bids) if rng.random() < 0.5 else ("a", asks)
            price = rng.choice(list(levels))
            new = Decimal(rng.randint(0, 500)) / 10
            changes[side].append(lv(price, new - levels[price], new))
            levels[price] = new if new > 0 else Decimal("0.1")  # keep the ladder populated
        frames.append(json.dumps({"type": "DELTA", "data": {"m": "SOL-USD", **changes}, "error": None,
                                  "ts": seq, "seq": seq}).encode())
    return frames


def bench_book(n: int) -> None:
    frames = book_frames(n)
    feed = BookFeed("SOL-USD")
    top = None
    per_message: list[float] = []
    t0 = time.perf_counter()
    for raw in frames:
        t = time.perf_counter()
        feed.apply(decode_frame(raw))  # exactly what the stream task does per message
        new_top = feed.top(t)
        if not same_top(top, new_top):
            top = new_top
        per_message.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    print(f"book full-depth decode+apply+top               : {len(frames) / elapsed:,.0f} msg/s "
          f"(n={len(frames)}, target >= 15,000/s)")
    print(f"book time behind the socket per message        : {fmt_ms(per_message)}  max {max(per_message) * 1e3:.3f} ms")


async def bench_place_ack(n: int) -> None:
    try:
        from tests_support_extended import open_sim_client  # type: ignore[import-not-found]
    except ImportError:
        open_sim_client = None
    if open_sim_client is None:
        try:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "venues" / "extended"))
            from adapter_fixtures import open_sim_client  # type: ignore[no-redef]
        except ImportError as exc:
            print(f"place -> ack round trip                         : skipped (simulator not available: {exc})")
            return
    rtt_rest, rtt_stream = [], []
    # Limiter and sim budget lifted: this measures the round trip, not the 1,000/min pacing.
    async with open_sim_client(seed=11, live_market=False, sim_kw={"rate_limit_per_min": 0},
                               client_kw={"rate_limit_per_minute": 10**9}
                               ) as (client, sim, events):
        top = client.top_of_book.value
        price = client.rules.round_price(top.bid - client.rules.tick * 5, up=False)
        for i in range(n):
            cid = client.new_client_id()
            t = time.perf_counter()
            await client.place_maker(Side.BUY, Decimal("0.1"), price, cid)
            rtt_rest.append(time.perf_counter() - t)
            while True:
                ev = await events.receive()
                if getattr(ev, "client_id", None) == cid and getattr(ev, "status", None) is not None \
                        and ev.status.value == "open":
                    break
            rtt_stream.append(time.perf_counter() - t)
            await client.cancel(client_id=cid)
    print(f"place -> REST ack (in-memory sim)               : {fmt_ms(rtt_rest)}")
    print(f"place -> NEW on the account stream (in-mem sim) : {fmt_ms(rtt_stream)}"
          f"  [includes the sim's accept_delay {sim.settings.accept_delay * 1e3:.0f} ms]")


async def main() -> None:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--book-frames", type=int, default=50_000)
    parser.add_argument("--no-sim", action="store_true")
    args = parser.parse_args()
    await bench_signing(args.orders)
    bench_book(args.book_frames)
    if not args.no_sim:
        await bench_place_ack(min(args.orders, 200))


if __name__ == "__main__":
    trio.run(main)
