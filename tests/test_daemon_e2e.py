"""The whole daemon on the embedded simulators (real sockets, real clock, one absolute deadline):
it trades, exports metrics that move, stops on SIGTERM leaving no maker order, and the
journal agrees with the venues' truth."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import httpx
import trio

from hedged import daemon
from hedged.config import Config, CycleConfig, MetricsConfig, SimConfig
from hedged.ledger import Journal, LedgerCore, Leg, Roles
from hedged.venues.base import Venue
from tests.daemon_harness import run_daemon


def fast_config(tmp_path) -> Config:
    base = Config()
    return dataclasses.replace(
        base,
        daemon=dataclasses.replace(base.daemon, state_dir=tmp_path / "state", graceful_stop_s=10),
        cycle=CycleConfig(size_min=Decimal("0.5"), size_max=Decimal("1"), size_step=Decimal("0.1"),
                          delay_min_s=0, delay_max_s=0.2, hold_min_s=0.2, hold_max_s=0.5),
        metrics=MetricsConfig(port=0),
        sim=dataclasses.replace(SimConfig(), lighter_latency="zero", flow_rate=5.0),
    )


def _series(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_daemon_trades_on_the_simulators_and_stops_cleanly(tmp_path):
    cfg = fast_config(tmp_path)

    async def trade_and_scrape(rt: daemon.Runtime) -> None:
        base = f"http://127.0.0.1:{rt.metrics_port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False) as http:
            assert (await http.get("/healthz")).status_code == 200
            first = (await http.get("/metrics")).text
            # Two completed cycles, then one more export pass so the counters carry them.
            cycle = rt.engine.cycle
            await rt.engine.ledger.version.wait_value(lambda _: cycle.summary.completed >= 2)
            passes = rt.exports.value
            await rt.exports.wait_value(lambda v: v > passes)
            second = (await http.get("/metrics")).text
            readyz = await http.get("/readyz")
            status = (await http.get("/status")).json()
        assert readyz.status_code == 200, readyz.text
        assert _series(first, "hedged_cycles_completed_total") == 0
        assert _series(second, "hedged_cycles_completed_total") >= 2
        assert _series(second, "hedged_hedge_attempts_total") > 0
        for phase in ("fill_to_sent", "sent_to_ack", "sent_to_filled", "maker_fill_to_hedge_filled"):
            assert _series(second, f'hedged_hedge_latency_seconds_count{{phase="{phase}"}}') > 0, phase
        assert status["reconciled"] is True and status["halted"] is None

    with trio.fail_after(90):
        rt, code = await run_daemon(cfg, trade_and_scrape)
    assert code == 0

    # Every maker fill was hedged: the volumes agree to within the residual each cycle may carry.
    s = rt.engine.cycle.summary
    assert s.maker_volume > 0
    assert abs(s.hedge_volume - s.maker_volume) <= rt.engine.cycle.tolerance() * (s.cycles + 1), s

    sim = rt.engine.sim
    # Invariant: a stop leaves no resting maker order behind.
    assert sim.extended.open_orders() == []
    # Invariant: after the stop, the legs are within tolerance of each other on the venues...
    ext, lig = sim.extended.position(), sim.lighter.position(sim.lighter_account)
    assert abs(ext + lig) <= rt.engine.cycle.tolerance()
    # ...and the journal, replayed from disk, agrees with the venues' truth.
    roles = Roles(maker=Leg(Venue.EXTENDED, cfg.market.extended), hedge=Leg(Venue.LIGHTER, cfg.market.lighter))
    core = LedgerCore(roles)
    journal = Journal.open(cfg.daemon.state_dir / "ledger.sqlite3")
    try:
        journal.load(core)
    finally:
        journal.close()
    assert core.positions[roles.maker] == ext
    assert core.positions[roles.hedge] == lig


async def test_daemon_rides_out_stream_faults_and_still_matches_the_venues(tmp_path):
    """Streams drop between a fill and its next message, skip sequence numbers, repeat and
    reorder frames, and a sendTx fails; the daemon re-syncs, keeps every fill exactly once,
    and its journal equals the venues' truth afterwards."""
    from hedged.sim.common.faults import Fault, FaultKind

    cfg = fast_config(tmp_path)

    async def trade_through_faults(rt: daemon.Runtime) -> None:
        sim = rt.engine.sim
        account = f"account_orders/*/{sim.lighter_account}"
        sim.extended.faults.add(
            Fault(FaultKind.CLOSE_AFTER, target="account", on="TRADE"),  # between a fill and its ORDER
            Fault(FaultKind.SEQ_GAP, target="account", skip=3),
            Fault(FaultKind.DUPLICATE, target="account", count=5),
            Fault(FaultKind.SEQ_GAP, target="orderbooks/*", skip=20),
        )
        sim.lighter.add_fault(
            Fault(FaultKind.DUPLICATE, target=account, count=5),
            Fault(FaultKind.REORDER, target=account, skip=2),
            Fault(FaultKind.CLOSE_BEFORE, target=account, skip=4),
            Fault(FaultKind.HTTP_ERROR, target="POST /sendTx", status=503),
        )
        cycle = rt.engine.cycle
        await rt.engine.ledger.version.wait_value(lambda _: cycle.summary.completed >= 3)
        assert sim.extended.faults.history and sim.lighter.faults.history  # the faults really fired

    with trio.fail_after(120):
        rt, code = await run_daemon(cfg, trade_through_faults)
    assert code == 0
    sim = rt.engine.sim
    assert rt.engine.halted is None
    ext, lig = sim.extended.position(), sim.lighter.position(sim.lighter_account)
    assert sim.extended.open_orders() == []
    assert abs(ext + lig) <= rt.engine.cycle.tolerance()
    assert rt.engine.positions_snapshot() == {"extended": ext, "lighter": lig}
