"""The whole daemon on the simulators when a venue service fails or the venue refuses our credentials.

The simulators run in the test and outlive the daemon, which reaches them as a testnet (URL
overrides, throw-away secrets in the environment), so a test can set fault knobs before the
daemon starts and read the venues' truth after it stopped. Real sockets and the real clock,
one absolute deadline per test (tests/conftest.py rule 2).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import fast_stark_crypto  # noqa: F401  (the sim's signature check; imported here so a missing wheel fails loudly)
import trio

from hedged import daemon
from hedged.alerts import IncidentStore
from hedged.config import Config, CycleConfig, ExtendedVenueConfig, LighterVenueConfig, MetricsConfig, SimConfig, VenuesConfig
from hedged.errors import EXIT_HALTED
from hedged.nursery import Notifier
from hedged.venues.assembly import SimPair
from hedged.venues.credentials import REFUSAL_BOUND
from hedged.venues.sim.faults import Fault, FaultKind
from tests.daemon_harness import run_daemon


def _config(tmp_path: Path, pair: SimPair, *, lighter_key_index: int | None = None) -> Config:
    base = Config()
    ext_rest, ext_ws = pair.extended_urls
    lig_rest, lig_ws = pair.lighter_urls
    return dataclasses.replace(
        base,
        daemon=dataclasses.replace(base.daemon, state_dir=tmp_path / "state", graceful_stop_s=10),
        cycle=CycleConfig(size_min=Decimal("0.5"), size_max=Decimal("1"), size_step=Decimal("0.1"),
                          delay_min_s=0, delay_max_s=0.1, hold_min_s=0.2, hold_max_s=0.4),
        venues=VenuesConfig(
            extended=ExtendedVenueConfig(mode="testnet", rest_url=ext_rest, ws_url=ext_ws,
                                         vault=pair.extended.settings.vault,
                                         stark_public_key=pair.extended.keys.public_key_hex),
            lighter=LighterVenueConfig(mode="testnet", rest_url=lig_rest, ws_url=lig_ws,
                                       account_index=pair.lighter_account,
                                       api_key_index=lighter_key_index or pair.lighter_key_index),
        ),
        metrics=MetricsConfig(port=0),
        sim=dataclasses.replace(SimConfig(), lighter_latency="zero", flow_rate=5.0),
    )


def _secrets(pair: SimPair, monkeypatch, **override: str) -> None:
    for line in pair.env_lines():
        name, value = line.split("=", 1)
        monkeypatch.setenv(name, override.get(name, value))


async def _run_until_it_stops_by_itself(cfg: Config, after_ready: Callable[[daemon.Runtime], Awaitable[None]] | None = None
                                        ) -> tuple[daemon.Runtime, int]:
    """`daemon.main(cfg)` with no signal sent: it must end on its own (a halt). `after_ready` runs once ready."""
    runtime: list[daemon.Runtime] = []
    codes: list[int] = []
    ready = trio.Event()

    class ReadyNotifier(Notifier):
        async def ready(self) -> None:
            ready.set()

    async with trio.open_nursery() as n:
        async def run() -> None:
            codes.append(await daemon.main(cfg, notifier=ReadyNotifier(environ={}), on_runtime=runtime.append))
            n.cancel_scope.cancel()

        n.start_soon(run)
        if after_ready is not None:
            await ready.wait()
            await after_ready(runtime[0])
        await trio.sleep_forever()
    return runtime[0], codes[0]


def _incidents(cfg: Config, event: str) -> list:
    with IncidentStore(Path(cfg.daemon.state_dir) / "incidents.sqlite3", readonly=True) as store:
        return [r.incident for r in store.list() if r.incident.event == event]


def _refusals(rt: daemon.Runtime, venue: str) -> float:
    return rt.metrics.credential_refusals.labels(venue)._value.get()


async def _cycles_completed(rt: daemon.Runtime, n: int) -> None:
    cycle = rt.engine.cycle
    await rt.engine.ledger.version.wait_value(lambda _: cycle.summary.completed >= n)


# ---- point 5: every venue service can be restarted ------------------------------------------------


async def test_each_venue_service_is_restarted_by_the_supervisor_and_trading_goes_on(tmp_path, monkeypatch,
                                                                                      sim_config):
    pair = SimPair.build(sim_config, extended_chain_id="SN_SEPOLIA")
    _secrets(pair, monkeypatch)
    # Each venue service fails once at the venue: a refused market read it does not retry.
    pair.lighter.add_fault(Fault(FaultKind.HTTP_ERROR, target="GET /orderBooks", status=503, count=1))
    pair.extended.faults.add(Fault(FaultKind.HTTP_ERROR, target="GET /info/markets", status=400, count=1))
    with trio.fail_after(90):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            cfg = _config(tmp_path, pair)
            rt, code = await run_daemon(cfg, lambda rt: _cycles_completed(rt, 2))
            sims.cancel_scope.cancel()
    assert code == 0
    restarts = {s.name: s.restarts for s in rt.supervisor.services}
    assert restarts["venue:lighter"] == 1 and restarts["venue:extended"] == 1, restarts
    s = rt.engine.cycle.summary
    assert s.completed >= 2 and s.maker_volume > 0 and s.hedge_volume > 0
    ext, lig = pair.extended.position(), pair.lighter.position(pair.lighter_account)
    assert abs(ext + lig) <= rt.engine.cycle.tolerance()
    assert _incidents(cfg, "credentials_refused") == []


# ---- point 9: credentials the venue refuses stop trading, loudly ----------------------------------


async def test_a_wrong_stark_key_halts_with_exit_3_after_a_few_refused_orders_and_one_alert(tmp_path, monkeypatch,
                                                                                           sim_config):
    pair = SimPair.build(sim_config, extended_chain_id="SN_SEPOLIA")
    wrong = hex(random.Random(5).getrandbits(240) | 1)  # not the key registered for the vault
    _secrets(pair, monkeypatch, HEDGED_EXTENDED_STARK_PRIVATE_KEY=wrong)
    with trio.fail_after(60):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            cfg = _config(tmp_path, pair)
            rt, code = await _run_until_it_stops_by_itself(cfg)
            sims.cancel_scope.cancel()
    assert code == EXIT_HALTED
    assert rt.engine.halted is not None and rt.engine.halted.startswith("extended refused our credentials")
    assert "\n" not in rt.engine.halted and wrong not in rt.engine.halted
    assert _refusals(rt, "extended") == REFUSAL_BOUND
    assert len(_incidents(cfg, "credentials_refused")) == 1
    assert pair.extended.open_orders() == [] and pair.extended.position() == 0


async def test_revoked_lighter_tokens_halt_with_exit_3_and_one_alert(tmp_path, monkeypatch, sim_config):
    pair = SimPair.build(sim_config, extended_chain_id="SN_SEPOLIA")
    _secrets(pair, monkeypatch)
    async def trade_then_revoke(rt: daemon.Runtime) -> None:
        await _cycles_completed(rt, 1)
        pair.lighter.revoke_tokens()  # every token the daemon can mint for the next hours is refused

    with trio.fail_after(90):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            cfg = _config(tmp_path, pair)
            rt, code = await _run_until_it_stops_by_itself(cfg, trade_then_revoke)
            sims.cancel_scope.cancel()
    assert code == EXIT_HALTED
    assert rt.engine.halted is not None and rt.engine.halted.startswith("lighter refused our credentials")
    assert _refusals(rt, "lighter") >= REFUSAL_BOUND
    assert len(_incidents(cfg, "credentials_refused")) == 1
    assert pair.extended.open_orders() == []


async def test_an_unregistered_lighter_api_key_halts_with_exit_3_instead_of_restarting(tmp_path, monkeypatch,
                                                                                      sim_config):
    pair = SimPair.build(sim_config, extended_chain_id="SN_SEPOLIA")
    _secrets(pair, monkeypatch)
    with trio.fail_after(90):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            cfg = _config(tmp_path, pair, lighter_key_index=pair.lighter_key_index + 1)  # no key registered there
            rt, code = await _run_until_it_stops_by_itself(cfg)
            sims.cancel_scope.cancel()
    assert code == EXIT_HALTED
    assert rt.engine.halted is not None and rt.engine.halted.startswith("lighter refused our credentials")
    assert len(_incidents(cfg, "credentials_refused")) == 1
    assert pair.extended.open_orders() == [] and pair.extended.position() == 0
