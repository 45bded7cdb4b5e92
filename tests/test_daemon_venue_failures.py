"""The whole daemon on the simulators when a venue service fails or the venue refuses our credentials.

The simulators run in the test and outlive the daemon, which reaches them as a testnet (URL
overrides, throw-away secrets in the environment), so a test can set fault knobs before the
daemon starts and read the venues' truth after it stopped. Real sockets and the real clock,
one absolute deadline per test (tests/conftest.py rule 2).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import trio

from hedged import daemon
from hedged.alerts import IncidentStore
from hedged.config import Config, CycleConfig, ExtendedVenueConfig, LighterVenueConfig, MetricsConfig, SimConfig, VenuesConfig
from hedged.errors import EXIT_HALTED
from hedged.ledger import Journal, LedgerCore, Leg, Roles
from hedged.venues.assembly import SimPair
from hedged.venues.base import Venue
from hedged.venues.credentials import REFUSAL_BOUND
from hedged.sim.common.faults import Fault, FaultKind
from tests.daemon_harness import hedged_process, run_daemon


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
    assert _incidents(Path(cfg.daemon.state_dir), "credentials_refused") == []


# ---- point 9: credentials the venue refuses stop trading, loudly ----------------------------------
#
# Through the `hedged` process: the exit code is what systemd sees (3 is in RestartPreventExitStatus)
# and the last stderr line is what the operator reads. The simulators stay in this test.

REPO = Path(__file__).resolve().parent.parent


def _toml(tmp_path: Path, pair: SimPair, *, lighter_key_index: int | None = None) -> Path:
    text = pair.venue_toml()
    if lighter_key_index is not None:
        text = text.replace(f"api_key_index = {pair.lighter_key_index}", f"api_key_index = {lighter_key_index}")
    text += "\n[cycle]\nsize_min = 0.5\nsize_max = 1\nsize_step = 0.1\ndelay_min_s = 0\ndelay_max_s = 0.1\n" \
            "hold_min_s = 0.2\nhold_max_s = 0.4\n"
    path = tmp_path / "hedged.toml"
    path.write_text(text)
    return path


async def _hedged_until_exit(tmp_path: Path, config: Path, on_line: Callable[[bytes], None] | None = None
                             ) -> tuple[int, str]:
    buf = bytearray()
    async with hedged_process("--config", str(config), "--metrics-port", "0", "--state-dir",
                              str(tmp_path / "state"), cwd=tmp_path) as proc:
        while chunk := await proc.stderr.receive_some(65536):
            buf.extend(chunk)
            if on_line is not None:
                on_line(bytes(buf))
        code = await proc.wait()
    return code, buf.decode(errors="replace")


def _incidents(state: Path, event: str) -> list:
    with IncidentStore(state / "incidents.sqlite3", readonly=True) as store:
        return [r.incident for r in store.list() if r.incident.event == event]


async def test_a_wrong_stark_key_halts_with_exit_3_after_a_few_refused_orders_and_one_alert(tmp_path, monkeypatch,
                                                                                           sim_config):
    pair = SimPair.build(sim_config, extended_chain_id="SN_SEPOLIA")
    wrong = hex(random.Random(5).getrandbits(240) | 1)  # not the key registered for the vault
    _secrets(pair, monkeypatch, HEDGED_EXTENDED_STARK_PRIVATE_KEY=wrong)
    with trio.fail_after(60):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            code, err = await _hedged_until_exit(tmp_path, _toml(tmp_path, pair))
            sims.cancel_scope.cancel()
    assert code == EXIT_HALTED, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hedged: halted: extended refused our credentials 3 times: POST /user/order"), last
    assert "1101" in last and wrong not in err
    assert err.count("credentials_refused venue=extended") == REFUSAL_BOUND  # counted, not 211 at INFO
    assert len(_incidents(tmp_path / "state", "credentials_refused")) == 1
    assert pair.extended.open_orders() == [] and pair.extended.position() == 0


async def test_revoked_lighter_tokens_halt_with_exit_3_and_one_alert(tmp_path, monkeypatch, sim_config):
    pair = SimPair.build(sim_config, extended_chain_id="SN_SEPOLIA")
    _secrets(pair, monkeypatch)
    revoked = []

    def revoke_after_the_first_cycle(log: bytes) -> None:
        if not revoked and b"cycle n=1 " in log:
            revoked.append(True)
            pair.lighter.revoke_tokens()  # every token the daemon can mint for the next hours is refused

    with trio.fail_after(90):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            code, err = await _hedged_until_exit(tmp_path, _toml(tmp_path, pair), revoke_after_the_first_cycle)
            sims.cancel_scope.cancel()
    assert revoked
    assert code == EXIT_HALTED, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hedged: halted: lighter refused our credentials 3 times: auth token"), last
    (incident,) = _incidents(tmp_path / "state", "credentials_refused")
    # The halt does not trade on (a venue refusing us may not be able to): the incident carries the
    # legs as they were, for the operator's `hedged flatten`.
    assert set(incident.positions) == {"extended", "lighter"}
    assert pair.extended.open_orders() == []


async def test_an_unregistered_lighter_api_key_halts_with_exit_3_instead_of_restarting(tmp_path, monkeypatch,
                                                                                      sim_config):
    pair = SimPair.build(sim_config, extended_chain_id="SN_SEPOLIA")
    _secrets(pair, monkeypatch)
    with trio.fail_after(90):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            config = _toml(tmp_path, pair, lighter_key_index=pair.lighter_key_index + 1)  # no key registered there
            code, err = await _hedged_until_exit(tmp_path, config)
            sims.cancel_scope.cancel()
    assert code == EXIT_HALTED, err
    assert err.strip().splitlines()[-1].startswith("hedged: halted: lighter refused our credentials 3 times"), err
    assert "service_restarting name=venue:lighter" not in err
    assert len(_incidents(tmp_path / "state", "credentials_refused")) == 1
    assert pair.extended.open_orders() == [] and pair.extended.position() == 0


async def test_a_maker_fill_made_while_down_is_journaled_by_a_start_that_halts_on_refused_lighter_tokens(
        tmp_path, monkeypatch, sim_config):
    # DST seed 3003: the daemon is killed with a maker order resting; it fills while the daemon is down;
    # the next start finds Lighter refusing every token and halts (exit 3) before the reconciler, which
    # waits for both venues, could back-fill anything. That maker fill was then in no journal. A
    # credentials halt first back-fills the venue whose credentials work.
    quiet = dataclasses.replace(sim_config, sim=dataclasses.replace(sim_config.sim, flow_rate=0.0))
    pair = SimPair.build(quiet, extended_chain_id="SN_SEPOLIA")  # no flow: a maker order rests, unfilled
    _secrets(pair, monkeypatch)
    with trio.fail_after(120):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            config = _toml(tmp_path, pair)  # the simulators' URLs exist once they serve
            resting, accept = trio.Event(), pair.extended.accept_order

            def accept_order(order_id: int) -> None:  # the simulator says when a maker order rests
                accept(order_id)
                if pair.extended.open_orders():
                    resting.set()

            pair.extended.accept_order = accept_order
            async with hedged_process("--config", str(config), "--metrics-port", "0", "--state-dir",
                                      str(tmp_path / "state"), cwd=tmp_path) as proc:
                await resting.wait()
                proc.kill()  # a crash: no cleanup reaches a venue
                await proc.wait()
            assert pair.extended.position() == 0
            (order,) = pair.extended.open_orders()
            pair.extended.force_fill(order["id"], Decimal(order["qty"]) - Decimal(order["filledQty"]))
            pair.lighter.revoke_tokens()
            code, err = await _hedged_until_exit(tmp_path, config)
            sims.cancel_scope.cancel()
    assert code == EXIT_HALTED, err
    assert err.strip().splitlines()[-1].startswith("hedged: halted: lighter refused our credentials"), err
    market = Config().market  # the toml names no market: the defaults
    roles = Roles(maker=Leg(Venue.EXTENDED, market.extended), hedge=Leg(Venue.LIGHTER, market.lighter))
    core = LedgerCore(roles)
    journal = Journal.open(tmp_path / "state" / "ledger.sqlite3")
    try:
        journal.load(core)
    finally:
        journal.close()
    assert pair.extended.position() != 0
    assert core.positions[roles.maker] == pair.extended.position()
