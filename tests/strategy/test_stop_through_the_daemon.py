"""Issue 12 points 3 and 4 through the whole daemon (in-process harness, real sockets, SIGTERM):
a stop never abandons a hedge, and daemon.on_stop decides what the legs look like afterwards."""

from __future__ import annotations

import dataclasses
import sys
from decimal import Decimal as D

import tomli_w
import trio
from loguru import logger

from hedged import config as config_mod
from hedged import daemon
from hedged.config import Config, CycleConfig, HedgeConfig, MetricsConfig, SimConfig
from hedged.errors import EXIT_HALTED, EXIT_OK
from hedged.venues.base import OrderStatus
from tests.daemon_harness import run_daemon

SIZE = D("0.5")


def stop_config(tmp_path, *, on_stop: str = "keep") -> Config:
    base = Config()
    return dataclasses.replace(
        base,
        daemon=dataclasses.replace(base.daemon, state_dir=tmp_path / "state", graceful_stop_s=8.0, on_stop=on_stop),
        cycle=CycleConfig(direction="buy", size_min=SIZE, size_max=SIZE, size_step=D("0.1"), delay_min_s=0,
                          delay_max_s=0, hold_min_s=60, hold_max_s=60),
        hedge=dataclasses.replace(HedgeConfig(), timeout_s=60.0),  # a resting hedge is still resting at the stop
        metrics=MetricsConfig(port=0),
        # No flow from other traders: the maker order fills when the test says so, a hedge resting on a
        # pulled book never fills.
        sim=dataclasses.replace(SimConfig(), lighter_latency="standard", flow_rate=0.0),
    )


async def _maker_fill(rt: daemon.Runtime) -> None:
    eng = rt.engine
    worker = eng.cycle.worker

    def resting() -> bool:
        rec = eng.ledger.order(eng.venues.extended.venue, worker.own_cid) if worker.own_cid else None
        return rec is not None and rec.status is OrderStatus.OPEN

    await eng.ledger.version.wait_value(lambda _: resting())
    eng.sim.extended.force_fill(worker.own_cid, SIZE)


def _hedge_resting(rt: daemon.Runtime) -> bool:
    eng = rt.engine
    orders = eng.executor.hedge_orders
    rec = eng.ledger.order(eng.venues.lighter.venue, orders[0]) if orders else None
    return rec is not None and rec.status is OrderStatus.OPEN


async def _fill_with_a_hedge_that_never_fills(rt: daemon.Runtime) -> None:
    sim = rt.engine.sim
    sim.lighter.freeze_feed()  # the adapter keeps the last book, so the hedge is priced and sent...
    sim.lighter.pull_book()  # ...into a book with no liquidity: it rests and never fills
    await _maker_fill(rt)
    await rt.engine.ledger.version.wait_value(lambda _: _hedge_resting(rt))


def _positions(rt: daemon.Runtime) -> tuple[D, D]:
    sim = rt.engine.sim
    return sim.extended.position(), sim.lighter.position(sim.lighter_account)


async def test_sigterm_with_a_hedge_that_never_fills_flattens_before_exit(tmp_path):
    with trio.fail_after(60):
        rt, code = await run_daemon(stop_config(tmp_path), _fill_with_a_hedge_that_never_fills)
    assert code == EXIT_OK
    assert _positions(rt) == (0, 0)  # the naked maker fill was traded away, not left open
    assert rt.engine.sim.lighter.open_orders(rt.engine.sim.lighter_account) == []


async def test_sigterm_with_a_hedge_that_never_fills_and_a_flatten_that_fails_halts_with_exit_3(tmp_path):
    async def also_no_maker_liquidity(rt: daemon.Runtime) -> None:
        await _fill_with_a_hedge_that_never_fills(rt)
        rt.engine.sim.extended.pull_book()  # the flatten IOC on the maker leg cannot fill either

    with trio.fail_after(60):
        rt, code = await run_daemon(stop_config(tmp_path), also_no_maker_liquidity)
    assert code == EXIT_HALTED
    assert rt.engine.halted is not None


async def test_on_stop_keep_leaves_the_hedged_legs_and_says_how_to_close_them(tmp_path):
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    try:
        async def hedged(rt: daemon.Runtime) -> None:
            await _maker_fill(rt)
            await rt.engine.ledger.version.wait_value(
                lambda _: rt.engine.ledger.position(rt.engine.venues.lighter.venue) == -SIZE)

        with trio.fail_after(60):
            rt, code = await run_daemon(stop_config(tmp_path, on_stop="keep"), hedged)
    finally:
        logger.remove(sink)
    assert code == EXIT_OK and _positions(rt) == (SIZE, -SIZE)
    summary = [line for line in lines if "cycles_summary" in line]
    legs = [line for line in lines if "legs_open" in line]
    assert summary and "legs=kept" in summary[-1]
    assert legs and "on_stop=keep" in legs[-1] and "hedged flatten" in legs[-1]
    # What an operator runs next: `hedged status` (a process, reading the state dir) says so too.
    path = tmp_path / "hedged.toml"
    path.write_text(tomli_w.dumps(config_mod.to_dict(rt.cfg)))
    done = await trio.run_process([sys.executable, "-m", "hedged.cli", "status", "--config", str(path)],
                                  capture_stdout=True, capture_stderr=True, check=False)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "legs open: extended=0.5" in out and "hedged flatten" in out, out


async def test_on_stop_flatten_closes_both_legs_before_exit(tmp_path):
    async def hedged(rt: daemon.Runtime) -> None:
        await _maker_fill(rt)
        await rt.engine.ledger.version.wait_value(
            lambda _: rt.engine.ledger.position(rt.engine.venues.lighter.venue) == -SIZE)

    with trio.fail_after(60):
        rt, code = await run_daemon(stop_config(tmp_path, on_stop="flatten"), hedged)
    assert code == EXIT_OK and _positions(rt) == (0, 0)
