"""The world one DST seed runs in: config, both simulators, the virtual wall clock, the cables, the trace.

Everything here is decided by the seed: the market (price path, other traders' flow, book depth), the
cycle sizes and sides (through the daemon's own seeded RNG), and Trio's scheduling order, which Trio
itself randomises per batch; DST seeds that order the way Hypothesis does (`deterministic_scheduling`).
The simulators outlive every engine of a seed: a crash tears the engine down, never the venues.

A `Cable` stands between one engine and one venue (the in-memory HTTP transport and WebSocket
connector). Cutting it is what SIGKILL does to a process's sockets: every later request fails at once
and every open WebSocket breaks, so nothing a dying engine tries in its `finally` blocks reaches the
venue. Each engine gets fresh cables.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import trio
from loguru import logger

from hedged.config import Config
from hedged.secrets import SECRETS
from hedged.venues.assembly import SimPair
from hedged.sim.lighter.server import trio_wall_clock
from hedged.sim.common.transport import MemoryHttpTransport, MemoryWsConnector

EPOCH_S = 1_767_225_600  # 2026-01-01T00:00:00Z: every seed's venues start their wall clocks here


def dst_config(seed: int, state_dir: Path) -> Config:
    """The shipped defaults, made cheap to simulate (a coarser market tick, three book levels) and
    varied by the seed where the daemon's behaviour depends on it (cycle sizes, market, latency)."""
    rng = random.Random(f"{seed}:config")
    c = Config()
    r = dataclasses.replace
    size_max = Decimal(rng.choice(["1", "2", "3"]))
    return r(
        c,
        daemon=r(c.daemon, state_dir=state_dir),
        metrics=r(c.metrics, enabled=False),  # no HTTP listener in a simulation
        cycle=r(c.cycle, direction=rng.choice(["random", "random", "buy", "sell"]), size_max=size_max,
                delay_min_s=1.0, delay_max_s=4.0, hold_min_s=2.0, hold_max_s=8.0),
        sim=r(c.sim, seed=seed, tick_interval_s=1.0, depth_levels=3,
              volatility=rng.choice([0.0002, 0.0005, 0.001]),
              flow_rate=rng.choice([0.5, 1.0, 2.0]),
              lighter_latency=rng.choice(["standard", "standard", "premium", "zero"]),
              **money_knobs(seed)),
    )


FUNDING_INTERVALS_S = (30.0, 45.0, 60.0, 90.0)
HISTORY_PATHS = {("extended", "funding"): "/user/funding/history", ("lighter", "funding"): "/api/v1/positionFunding",
                 ("extended", "trades"): "/user/trades", ("lighter", "trades"): "/api/v1/trades"}


def money_knobs(seed: int) -> dict[str, Any]:
    """The seed's fee schedule on Lighter and funding interval of both sims (the venues settle hourly,
    which a 3-minute run from an on-the-hour epoch would never reach). Drawn from their own stream, so
    the config's other draws, and with them the seed's market and plan, are what they were before."""
    rng = random.Random(f"{seed}:money")
    return {"funding_interval_s": rng.choice(FUNDING_INTERVALS_S), "lighter_fees": rng.choice(["standard", "premium"])}


@contextmanager
def deterministic_scheduling(seed: int) -> Iterator[None]:
    """Make Trio's run-queue order a function of `seed` (what Trio's Hypothesis plugin does), for the
    duration: the process's other Trio runs keep Trio's own randomised order.

    Trio shuffles each scheduler batch with a module-level `random.Random` so tests see every order;
    sorting the batch by task creation order and seeding that RNG gives one order per seed.
    """
    import trio._core._run as run  # noqa: PLC0415 - the only way in; pinned trio version (requirements.lock)

    flag, state = run._ALLOW_DETERMINISTIC_SCHEDULING, run._r.getstate()  # noqa: SLF001
    run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]  # noqa: SLF001
    run._r.seed(f"{seed}:trio")  # noqa: SLF001
    try:
        yield
    finally:
        run._ALLOW_DETERMINISTIC_SCHEDULING = flag  # type: ignore[misc]  # noqa: SLF001
        run._r.setstate(state)  # noqa: SLF001


class _CutError(httpx.ConnectError):
    pass


class Cable:
    """One engine's connection to one venue simulator; `cut()` breaks it for good."""

    def __init__(self, handler: Any, rng: random.Random, *, ping_interval: float | None = None,
                 pong_timeout: float = 10.0, on_served: Any = None) -> None:
        self.is_cut = False
        self.on_served = on_served  # (cable, request path, venue ms it reached the venue): the world's record
        self.stopping = False  # its engine was asked to stop: what it reads now may be abandoned by the stop
        self.rng = rng  # one-way REST latency, 0.5-15 ms each way: REST reads take time, as on a network
        self._http = MemoryHttpTransport(handler)
        self._streams: list[Any] = []
        self._scopes: set[trio.CancelScope] = set()
        self.in_flight = 0  # REST requests on the wire (sent, reply not yet received)
        self.ws_connect = _CableConnector(self, handler, ping_interval=ping_interval, pong_timeout=pong_timeout)

    def cut(self) -> None:
        self.is_cut = True
        for scope in self._scopes:
            scope.cancel()
        for stream in self._streams:
            stream.send_stream.close()
            stream.receive_stream.close()
        self._streams.clear()

    def http_transport(self) -> httpx.AsyncBaseTransport:
        return _CableTransport(self)


class _CableTransport(httpx.AsyncBaseTransport):
    def __init__(self, cable: Cable) -> None:
        self._cable = cable

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        cable = self._cable
        if not cable.is_cut:
            with trio.CancelScope() as scope:
                cable._scopes.add(scope)  # noqa: SLF001
                cable.in_flight += 1
                try:
                    await trio.sleep(cable.rng.uniform(0.0005, 0.015))
                    served = trio.current_time()
                    response = await cable._http.handle_async_request(request)  # noqa: SLF001
                    if cable.on_served is not None and response.status_code == 200:
                        cable.on_served(cable, request.url.path, served)
                    await trio.sleep(cable.rng.uniform(0.0005, 0.015))
                    return response
                finally:
                    cable.in_flight -= 1
                    cable._scopes.discard(scope)  # noqa: SLF001
        await trio.lowlevel.checkpoint()
        raise httpx.ConnectError("dst: cable cut", request=request)  # the reply, if any, never arrives


class _CableConnector(MemoryWsConnector):
    """The simulator's own in-memory connector, remembering each connection's streams for `cut()`."""

    def __init__(self, cable: Cable, handler: Any, **kw: Any) -> None:
        super().__init__(handler, **kw)
        self._cable = cable

    def __call__(self, url: str, headers: Any = None, **kw: Any) -> Any:
        if self._cable.is_cut:
            raise OSError("dst: cable cut")
        return super().__call__(url, headers, **kw)

    def _open(self, client_stream: Any, server_stream: Any, *args: Any) -> Any:
        self._cable._streams.extend((client_stream, server_stream))  # noqa: SLF001
        return super()._open(client_stream, server_stream, *args)


class World:
    """Both simulators for one seed, and the engine-independent things around them."""

    def __init__(self, seed: int, state_dir: Path) -> None:
        self.seed = seed
        self.cfg = dst_config(seed, state_dir)
        self.wall = trio_wall_clock(float(EPOCH_S))
        # id_base=0: ids a function of the seed (one world per seed, so they never repeat within it)
        self.pair = SimPair.build(self.cfg, wall_clock=self.wall, start_epoch_ms=EPOCH_S * 1000, id_base=0)
        # Lighter publishes its book every 50 ms, twenty times per (1 s) market step: twice per step is enough.
        self.pair.lighter.settings = dataclasses.replace(self.pair.lighter.settings, book_interval_s=0.5)
        self.account = self.pair.lighter_account
        self.pair.remember_secrets(SECRETS)  # throw-away keys, but the trace redacts them like any log
        self._reads: list[tuple[str, str, int, Cable]] = []  # (venue, history, venue ms, cable) of each read

    def _served(self, cable: Cable, path: str, at: float) -> None:
        if cable.stopping:
            return
        for (venue, kind), tail in HISTORY_PATHS.items():
            if path.endswith(tail):
                self._reads.append((venue, kind, round((self.wall() - trio.current_time() + at) * 1000), cable))

    def history_reads(self, kind: str) -> dict[str, list[int]]:
        """Venue ms at which each venue served a read of its `kind` history ("trades", "funding") to an
        engine that was neither killed nor stopping (its reply may never have reached the journal):
        invariant 7's horizon, past which a trade or payment the streams did not bring may be missing."""
        out: dict[str, list[int]] = {"extended": [], "lighter": []}
        for venue, k, ms, cable in self._reads:
            if k == kind and not cable.is_cut:
                out[venue].append(ms)
        return out

    @asynccontextmanager
    async def running(self) -> AsyncIterator[World]:
        async with self.pair.running():
            yield self

    def cables(self, life: int) -> tuple[Cable, Cable]:
        ext = self.pair.extended.settings
        rng = random.Random(f"{self.seed}:cables:{life}")
        return (Cable(self.pair.extended, random.Random(rng.random()), ping_interval=ext.ping_interval,
                      pong_timeout=ext.pong_timeout, on_served=self._served),
                Cable(self.pair.lighter, random.Random(rng.random()), on_served=self._served))

    def engine_kw(self, ext: Cable, lig: Cable) -> dict[str, Any]:
        wall = {"wall_clock": self.wall}
        return {"sim": self.pair, "in_memory": True,
                "venue_kw": {"extended": {**wall, "http_transport": ext.http_transport(), "ws_connect": ext.ws_connect},
                             "lighter": {**wall, "http_transport": lig.http_transport(), "ws_connect": lig.ws_connect}}}

    # ---- truth (the simulators', never the daemon's)

    def positions(self) -> tuple[Decimal, Decimal]:
        return self.pair.extended.position(), self.pair.lighter.position(self.account)

    def open_orders(self) -> tuple[int, int]:
        return len(self.pair.extended.open_orders()), len(self.pair.lighter.open_orders(self.account))

    def venues_idle(self) -> bool:
        """Nothing rests on either venue and nothing is due: no placement or cancel behind a delay."""
        p = self.pair
        return (self.open_orders() == (0, 0) and p.extended.pending_actions == 0 and p.lighter.pending_txs == 0)

    def new_fills(self, seen: tuple[int, int]) -> list[tuple[int, str, Decimal]]:
        """Fills after the first `seen` (extended, lighter) ones: (venue ms, venue, signed qty), in venue time."""
        out: list[tuple[int, int, str, Decimal]] = []
        for t in self.pair.extended.fills()[seen[0]:]:
            q = Decimal(t["qty"])
            out.append((int(t["createdTime"]), 0, "extended", q if t["side"] == "BUY" else -q))
        lig = self.pair.lighter
        for t in lig.fills(self.account)[seen[1]:]:
            q = lig.settings.market.size(t.size)
            out.append((t.timestamp_ms, 1, "lighter", q if t.bid_account == self.account else -q))
        out.sort(key=lambda x: (x[0], x[1]))
        return [(ms, venue, q) for ms, _, venue, q in out]

    def now_ms(self) -> int:
        return round(self.wall() * 1000)


_NOISE = re.compile(r"(tx_hash=)[0-9a-f]+")


class Trace:
    """The seed's event trace: DST's own events and the daemon's log lines, stamped with virtual time.

    Only what a seed determines goes in: temp paths and signature-derived hashes (the Lighter signer's
    signatures are randomised) are normalised, so the same seed gives the same bytes.
    """

    def __init__(self, state_dir: Path) -> None:
        self.lines: list[str] = []
        self._root = str(state_dir.parent)
        self._sink: int | None = None

    def add(self, event: str) -> None:
        self.lines.append(f"{trio.current_time():10.3f} {event}")

    def _log(self, message: Any) -> None:
        text = SECRETS.redact(message.record["message"]).replace(self._root, "$DST")
        text = _NOISE.sub(r"\1*", text)
        self.lines.append(f"{trio.current_time():10.3f} | {text}")

    def __enter__(self) -> Trace:
        self._sink = logger.add(self._log, level="INFO", format="{message}", filter=lambda r: not r["message"].startswith("sim_listening"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sink is not None:
            logger.remove(self._sink)
            self._sink = None

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
