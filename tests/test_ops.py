"""Operator commands through `hedged.cli.main`: incidents, ledger, status, flatten.

State files are written through the real APIs (IncidentStore, Ledger/Journal); venues are the
embedded simulators. Tests that cross loopback sockets carry one absolute deadline; the flatten
core runs on the in-memory simulators under the autojump clock.
"""

from __future__ import annotations

import dataclasses
import json
import random
import socket
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import tomli_w
import trio
from loguru import logger

from hedged import config as config_mod
from hedged.alerts import IncidentStore, Severity
from hedged.cli import main
from hedged.config import Config
from hedged.ledger import Ledger, LedgerCore, Leg, Roles
from hedged.ledger.journal import create_at_version
from hedged.metrics import Metrics, serve_metrics
from hedged.cli.flatten import flatten_with_venues
from hedged.strategy.ports import is_settled, wait_order
from hedged.venues.assembly import SIM_LIGHTER_ACCOUNT, SimPair, build_venues
from hedged.venues.base import Liquidity, OrderStatus, OrderUpdate, Side, TimeInForce, Trade, Venue
from hedged.sim.lighter.server import trio_wall_clock

EXT, LIG = Venue.EXTENDED, Venue.LIGHTER


def _free_port() -> int:
    # Bound then closed: nothing listens there, so `status` must fall back to the state dir.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path: Path, *, live_extended: bool = False) -> tuple[Config, Path]:
    cfg = Config()
    cfg = dataclasses.replace(
        cfg,
        daemon=dataclasses.replace(cfg.daemon, state_dir=tmp_path / "state"),
        metrics=dataclasses.replace(cfg.metrics, port=_free_port()),
    )
    if live_extended:
        v = cfg.venues
        cfg = dataclasses.replace(cfg, venues=dataclasses.replace(v, extended=dataclasses.replace(
            v.extended, mode="testnet", vault=1, stark_public_key="0x1")))
    path = tmp_path / "hedged.toml"
    path.write_text(tomli_w.dumps(config_mod.to_dict(cfg)))
    return cfg, path


def _roles(cfg: Config) -> Roles:
    return Roles(maker=Leg(EXT, cfg.market.extended), hedge=Leg(LIG, cfg.market.lighter))


@pytest.fixture
def restore_logging():
    # `hedged flatten` configures loguru for the process (stderr, redaction); put the default back.
    yield
    logger.remove()
    logger.add(sys.stderr)


# ---- incidents ------------------------------------------------------------------------------


def test_incidents_lists_the_store_as_a_table_and_as_json(tmp_path, capsys):
    cfg, path = _config(tmp_path)
    now = time.time()
    with IncidentStore(cfg.daemon.state_dir / "incidents.sqlite3") as store:
        for i, event in enumerate(("hedge_failed", "exposure_flattened")):
            store.add(ts=now - 100 + i, event=event, severity=Severity.CRITICAL, key="", daemon="hedged",
                      market="SOL-USD", positions={"extended": "1.50"}, details={"qty": "0.40"}, sinks=["webhook"])
    assert main(["incidents", "--config", str(path)]) == 0
    table = capsys.readouterr().out
    assert "hedge_failed" in table and "exposure_flattened" in table and "webhook=pending" in table

    assert main(["incidents", "--config", str(path), "--json", "--limit", "1"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["event"] for d in docs] == ["exposure_flattened"]
    assert docs[0]["details"] == {"qty": "0.40"}


def test_incidents_without_a_store_exits_1_and_creates_nothing(tmp_path, capsys):
    cfg, path = _config(tmp_path)
    assert main(["incidents", "--config", str(path)]) == 1
    assert "no incident store" in capsys.readouterr().err
    assert not (cfg.daemon.state_dir / "incidents.sqlite3").exists()


# ---- ledger ---------------------------------------------------------------------------------


def _write_journal(cfg: Config) -> None:
    """One maker fill of 0.37 at 151.005 and its hedge, partly filled, through the real Ledger."""
    ledger = Ledger.open(_roles(cfg), cfg.daemon.state_dir / "ledger.sqlite3")
    now_ms = int(time.time() * 1000)
    m = cfg.market.extended
    ledger.register_order(EXT, "m1", Side.BUY, Decimal("0.37"), ts_ms=now_ms - 5000)
    ledger.apply(OrderUpdate(EXT, m, "9001", "m1", Side.BUY, OrderStatus.FILLED, Decimal("0.37"), Decimal("0.37"),
                             avg_price=Decimal("151.005"), ts_ms=now_ms - 4000))
    ledger.apply(Trade(EXT, m, "t-1", "9001", "m1", Side.BUY, Decimal("0.37"), Decimal("151.005"), Decimal("0.01"),
                       Liquidity.MAKER, ts_ms=now_ms - 4000))
    ledger.register_hedge("h1", Side.SELL, Decimal("0.37"), ts_ms=now_ms - 3000)
    ledger.apply(OrderUpdate(LIG, cfg.market.lighter, "77", "h1", Side.SELL, OrderStatus.PARTIALLY_FILLED,
                             Decimal("0.37"), Decimal("0.120"), avg_price=Decimal("150.9"), ts_ms=now_ms - 2000))
    ledger.record_cycle("12", "done", detail="completed", ts_ms=now_ms - 1000)
    ledger.close()


def test_ledger_fills_and_orders_print_the_journal_exactly(tmp_path, capsys):
    cfg, path = _config(tmp_path)
    _write_journal(cfg)

    assert main(["ledger", "fills", "--config", str(path)]) == 0
    table = capsys.readouterr().out
    assert "151.005" in table and "0.37" in table and "t-1" in table

    assert main(["ledger", "fills", "--config", str(path), "--json"]) == 0
    fills = json.loads(capsys.readouterr().out)
    (maker,) = [f for f in fills if f["venue"] == "extended"]  # order row and trade row: one fill
    assert (maker["qty"], maker["price"], maker["side"], maker["trade_id"]) == ("0.37", "151.005", "buy", "t-1")
    assert [(f["qty"], f["source"]) for f in fills if f["venue"] == "lighter"] == [("0.120", "order")]

    assert main(["ledger", "fills", "--config", str(path), "--json", "--raw"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert sorted((f["venue"], f["counted_delta"]) for f in raw) == [
        ("extended", "0"), ("extended", "0.37"), ("lighter", "0.120")]

    assert main(["ledger", "orders", "--config", str(path), "--json"]) == 0
    orders = {o["client_id"]: o for o in json.loads(capsys.readouterr().out)}
    assert orders["h1"]["status"] == "partially_filled" and orders["h1"]["cum"] == "0.120"
    assert orders["h1"]["is_hedge"] is True and orders["m1"]["avg_price"] == "151.005"
    assert (orders["m1"]["counted"], orders["m1"]["trade_qty"]) == ("0.37", "0.37")

    assert main(["ledger", "orders", "--config", str(path), "--since", "2030-01-01"]) == 0
    assert "no orders in that period" in capsys.readouterr().out


def test_ledger_on_a_missing_journal_exits_1_and_creates_nothing(tmp_path, capsys):
    cfg, path = _config(tmp_path)
    assert main(["ledger", "orders", "--config", str(path)]) == 1
    assert "no journal at" in capsys.readouterr().err
    assert not cfg.daemon.state_dir.exists()


def test_ledger_never_migrates_an_old_journal(tmp_path, capsys):
    cfg, path = _config(tmp_path)
    cfg.daemon.state_dir.mkdir(parents=True)
    journal = cfg.daemon.state_dir / "ledger.sqlite3"
    create_at_version(journal, 1).close()
    assert main(["ledger", "fills", "--config", str(path)]) == 1
    assert "schema version 1" in capsys.readouterr().err
    with sqlite3.connect(journal) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_ledger_rejects_a_bad_since(tmp_path, capsys):
    _, path = _config(tmp_path)
    assert main(["ledger", "fills", "--config", str(path), "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err


# ---- status ---------------------------------------------------------------------------------


def test_status_falls_back_to_the_state_dir_when_the_daemon_is_not_running(tmp_path, capsys):
    cfg, path = _config(tmp_path)
    _write_journal(cfg)
    with IncidentStore(cfg.daemon.state_dir / "incidents.sqlite3") as store:
        store.add(ts=time.time(), event="halted", severity=Severity.CRITICAL, key="", daemon="hedged",
                  market="SOL-USD", positions={}, details={}, sinks=["telegram", "webhook"])

    assert main(["status", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert "daemon: not running" in text
    assert "extended=0.37" in text and "lighter=-0.120" in text
    assert "#12 done completed" in text
    assert "incidents unsent: 2" in text

    assert main(["status", "--config", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["source"] == "state_dir" and doc["daemon_running"] is False
    assert doc["positions"] == {"extended": "0.37", "lighter": "-0.120"}
    assert doc["net_exposure"] == "0.250"
    assert doc["incidents_unsent"] == {"lark": 0, "telegram": 1, "webhook": 1}


def test_status_with_neither_daemon_nor_journal_exits_1(tmp_path, capsys):
    cfg, path = _config(tmp_path)
    assert main(["status", "--config", str(path)]) == 1
    assert "not running" in capsys.readouterr().err
    assert not cfg.daemon.state_dir.exists()


async def test_status_reads_the_running_daemons_endpoint(tmp_path, capsys, nursery):
    _, path = _config(tmp_path)
    status = {"ready": True, "reasons": [], "halted": None, "reconciled": True,
              "positions": {"extended": Decimal("1.50"), "lighter": Decimal("-1.50")},
              "net_exposure": Decimal("0.00"), "tolerance": Decimal("0.1"), "open_hedge_delta": Decimal("0"),
              "residual": Decimal("0.003"),
              "cycles": {"cycles": 4, "completed": 3, "sweeps": 0, "last": "cycle 4 completed"},
              "health": {"extended": {"orders": {"connected": True, "subscribed": True, "last_message_age_s": 0.25}}}}
    with trio.fail_after(20):
        port = await nursery.start(lambda task_status: serve_metrics(
            Metrics(process_collector=False), "127.0.0.1", 0, lambda: True, lambda: True, status=lambda: status,
            task_status=task_status))
        argv = ["status", "--config", str(path), "--metrics-port", str(port)]
        assert await trio.to_thread.run_sync(main, argv) == 0
        text = capsys.readouterr().out
        assert await trio.to_thread.run_sync(main, [*argv, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
    assert "daemon: running" in text and "extended=1.50  lighter=-1.50" in text
    assert "tolerance: 0.1" in text and "last cycle: cycle 4 completed" in text
    assert "extended orders: connected, subscribed, last message 0.2 s ago" in text
    assert doc["source"] == "daemon" and doc["residual"] == "0.003"


# ---- flatten --------------------------------------------------------------------------------


async def _make_exposure(pair: SimPair, cfg: Config) -> None:
    """Through a first set of adapters: long 1.30 on Extended, short 0.700 on Lighter, and a resting
    Extended bid far from the market that a flatten must cancel."""
    venues = build_venues(cfg, sim=pair, rng=random.Random(1), in_memory=True)
    send, recv = trio.open_memory_channel(1000)
    async with trio.open_nursery() as n:
        ext, lig = venues.extended, venues.lighter
        await n.start(ext.run, send.clone())
        await n.start(lig.run, send.clone())
        ledger = Ledger(LedgerCore(Roles(maker=Leg(EXT, ext.rules.market), hedge=Leg(LIG, lig.rules.market))))
        await n.start(ledger.run, recv)
        for client in (ext, lig):
            await client.top_of_book.wait_value(lambda t: t is not None and t.bid is not None and t.ask is not None)
        ext_top, lig_top = ext.top_of_book.value, lig.top_of_book.value
        for client, side, qty, price in ((ext, Side.BUY, Decimal("1.30"), ext_top.ask * Decimal("1.005")),
                                         (lig, Side.SELL, Decimal("0.700"), lig_top.bid * Decimal("0.995"))):
            cid = client.new_client_id()
            ledger.register_order(client.venue, cid, side, qty)
            await client.place_taker(side, qty, client.rules.round_price(price, up=side is Side.BUY), cid,
                                     TimeInForce.IOC)
            await wait_order(ledger, client.venue, cid, is_settled)
        cid = ext.new_client_id()
        ledger.register_order(EXT, cid, Side.BUY, Decimal("0.5"))
        await ext.place_maker(Side.BUY, Decimal("0.5"), ext.rules.round_price(ext_top.bid * Decimal("0.98"), up=False),
                              cid)
        await wait_order(ledger, EXT, cid, lambda r: r.status is OrderStatus.OPEN)
        n.cancel_scope.cancel()


async def test_flatten_cancels_resting_orders_and_closes_both_legs(autojump_clock, tmp_path):
    cfg, _ = _config(tmp_path)
    pair = SimPair.build(cfg, wall_clock=trio_wall_clock())
    with trio.fail_after(120):
        async with pair.running():
            await _make_exposure(pair, cfg)
            assert pair.extended.position() == Decimal("1.30")
            assert pair.lighter.position(SIM_LIGHTER_ACCOUNT) == Decimal("-0.700")
            assert len(pair.extended.open_orders()) == 1

            # A fresh set of adapters, as a new `hedged flatten` process would have.
            venues = build_venues(cfg, sim=pair, rng=random.Random(2), in_memory=True)
            report = await flatten_with_venues([venues.extended, venues.lighter], aggress_bps=Decimal(50))

            assert pair.extended.position() == 0 and pair.lighter.position(SIM_LIGHTER_ACCOUNT) == 0
            assert pair.extended.open_orders() == [] and pair.lighter.open_orders(SIM_LIGHTER_ACCOUNT) == []
    assert report.ok and not report.errors
    ext, lig = report.legs
    assert (ext.position_before, ext.open_orders_before) == (Decimal("1.30"), 1)
    assert lig.position_before == Decimal("-0.700")
    assert [(o.side, o.qty, o.filled) for o in ext.orders] == [("sell", Decimal("1.30"), Decimal("1.30"))]
    assert [(o.side, o.qty, o.filled) for o in lig.orders] == [("buy", Decimal("0.700"), Decimal("0.700"))]
    assert ext.flat and lig.flat and ext.position_after == 0 and lig.open_orders_after == 0


async def test_flatten_reports_a_leg_it_could_not_close(autojump_clock, tmp_path):
    cfg, _ = _config(tmp_path)
    pair = SimPair.build(cfg, wall_clock=trio_wall_clock())
    with trio.fail_after(120):
        async with pair.running():
            await _make_exposure(pair, cfg)
            pair.lighter.reject_next_orders(10)
            venues = build_venues(cfg, sim=pair, rng=random.Random(3), in_memory=True)
            report = await flatten_with_venues([venues.extended, venues.lighter], aggress_bps=Decimal(50))
            assert pair.lighter.position(SIM_LIGHTER_ACCOUNT) == Decimal("-0.700")
    assert not report.ok
    ext, lig = report.legs
    assert ext.flat and not lig.flat
    assert lig.position_after == Decimal("-0.700") and len(lig.orders) == 3  # every attempt was tried


def test_flatten_cli_on_a_fresh_sim_is_flat_and_exits_0(tmp_path, capsys, restore_logging):
    _, path = _config(tmp_path)
    assert main(["flatten", "--config", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    assert [(leg["venue"], leg["flat"], leg["orders"]) for leg in doc["legs"]] == [("extended", True, []),
                                                                                   ("lighter", True, [])]


def test_flatten_on_a_live_venue_needs_yes(tmp_path, capsys):
    _, path = _config(tmp_path, live_extended=True)
    assert main(["flatten", "--config", str(path)]) == 1  # refused before any connection is tried
    assert "--yes" in capsys.readouterr().err


async def test_flatten_refuses_while_the_daemon_answers_on_its_endpoint(tmp_path, capsys, nursery):
    _, path = _config(tmp_path, live_extended=True)
    with trio.fail_after(20):
        port = await nursery.start(lambda task_status: serve_metrics(
            Metrics(process_collector=False), "127.0.0.1", 0, lambda: True, lambda: True, status=lambda: {},
            task_status=task_status))
        argv = ["flatten", "--config", str(path), "--metrics-port", str(port), "--yes"]
        assert await trio.to_thread.run_sync(main, argv) == 1
    assert "the daemon is running" in capsys.readouterr().err
