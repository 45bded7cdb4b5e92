"""A restart picks up exactly where the venues are.

The simulators run in the test (as `hedged sim` runs them) and outlive the daemon, which
reaches them as a testnet with URL overrides and secrets from the environment. Run 1 is
stopped with a hedged position open; run 2 starts on the same state dir, reconciles warm,
closes the position first, and the journal agrees with the venues throughout.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import trio

from hedged import daemon
from hedged.config import Config, CycleConfig, ExtendedVenueConfig, LighterVenueConfig, MetricsConfig, SimConfig, VenuesConfig
from hedged.venues.assembly import SimPair
from hedged.venues.base import Venue
from tests.daemon_harness import run_daemon


def _config(tmp_path, pair: SimPair, *, hold_s: float) -> Config:
    base = Config()
    ext_rest, ext_ws = pair.extended_urls
    lig_rest, lig_ws = pair.lighter_urls
    return dataclasses.replace(
        base,
        daemon=dataclasses.replace(base.daemon, state_dir=tmp_path / "state", graceful_stop_s=10),
        cycle=CycleConfig(size_min=Decimal("1"), size_max=Decimal("2"), size_step=Decimal("0.1"),
                          delay_min_s=0, delay_max_s=0.1, hold_min_s=hold_s, hold_max_s=hold_s),
        venues=VenuesConfig(
            extended=ExtendedVenueConfig(mode="testnet", rest_url=ext_rest, ws_url=ext_ws,
                                         vault=pair.extended.settings.vault,
                                         stark_public_key=pair.extended.keys.public_key_hex),
            lighter=LighterVenueConfig(mode="testnet", rest_url=lig_rest, ws_url=lig_ws,
                                       account_index=pair.lighter_account, api_key_index=pair.lighter_key_index),
        ),
        metrics=MetricsConfig(port=0),
        sim=dataclasses.replace(SimConfig(), lighter_latency="zero", flow_rate=5.0),
    )


async def _run_until(cfg: Config, until) -> daemon.Runtime:
    rt, code = await run_daemon(cfg, until)
    assert code == 0
    return rt


def _venue_truth(pair: SimPair) -> tuple[Decimal, Decimal]:
    return pair.extended.position(), pair.lighter.position(pair.lighter_account)


async def test_a_restart_picks_up_where_the_venues_are(tmp_path, monkeypatch, sim_config):
    pair = SimPair.build(sim_config, extended_chain_id="SN_SEPOLIA")
    for line in pair.env_lines():
        name, value = line.split("=", 1)
        monkeypatch.setenv(name, value)

    async def hedged_and_holding(rt: daemon.Runtime) -> None:
        ledger = rt.engine.ledger
        # The opened position is hedged: both legs non-zero and offsetting within tolerance.
        await ledger.version.wait_value(
            lambda _: ledger.position(Venue.EXTENDED) != 0
            and abs(ledger.position(Venue.EXTENDED)) >= Decimal("0.5")
            and abs(ledger.net_exposure.value) <= rt.engine.cycle.tolerance()
            and not rt.engine.executor.busy.value)

    async def flat_again(rt: daemon.Runtime) -> None:
        ledger = rt.engine.ledger
        await ledger.version.wait_value(lambda _: ledger.position(Venue.EXTENDED) == 0
                                        and abs(ledger.position(Venue.LIGHTER)) <= rt.engine.cycle.tolerance())

    with trio.fail_after(120):
        async with trio.open_nursery() as sims:
            await sims.start(pair.serve)
            # Run 1: a long hold, stopped while the hedged position is open.
            rt1 = await _run_until(_config(tmp_path, pair, hold_s=600), hedged_and_holding)
            ext, lig = _venue_truth(pair)
            assert ext != 0 and abs(ext + lig) <= rt1.engine.cycle.tolerance()
            assert pair.extended.open_orders() == []  # the stop cancelled the resting maker order
            assert dict(rt1.engine.positions_snapshot()) == {"extended": ext, "lighter": lig}
            fills_before = len(pair.extended.fills())

            # Run 2: same state dir; it reconciles warm and closes what is open before anything new.
            rt2 = await _run_until(_config(tmp_path, pair, hold_s=0.2), flat_again)
            assert not rt2.engine.ledger.replay.fresh  # warm: the journal of run 1 was replayed
            # The first thing run 2 traded on the maker venue was the closing side of what run 1 left.
            first = pair.extended.fills()[fills_before]
            assert first["side"] == ("SELL" if ext > 0 else "BUY"), first
            ext2, lig2 = _venue_truth(pair)
            assert abs(ext2) < abs(ext) and abs(ext2 + lig2) <= rt2.engine.cycle.tolerance()
            assert dict(rt2.engine.positions_snapshot()) == {"extended": ext2, "lighter": lig2}
            sims.cancel_scope.cancel()
