"""The daemon's PnL tracker on a real Ledger and journal: history folded once at start, new money
fed live (never twice), cycle and day buckets, and the Prometheus series it fills."""

from __future__ import annotations

from decimal import Decimal as D

from hedged.ledger import Journal, Ledger, Leg, Roles
from hedged.metrics import Metrics
from hedged.pnl.export import PnlExporter
from hedged.pnl.tracker import attach
from hedged.venues.base import FundingPayment, Liquidity, Side, Trade, Venue

MAKER, HEDGE = Leg(Venue.EXTENDED, "SOL-USD"), Leg(Venue.LIGHTER, "SOL")
ROLES = Roles(MAKER, HEDGE)
NOW_S = 1_796_000_000.0  # a fixed wall clock: the day buckets do not depend on when the test runs
NOW_MS = int(NOW_S * 1000)


def trade(leg, tid, cid, side, qty, price, fee, liq=Liquidity.TAKER, ts=NOW_MS) -> Trade:
    return Trade(leg.venue, leg.market, tid, None, cid, side, D(qty), D(price), D(fee), liq, ts_ms=ts)


def opened(path) -> tuple[Ledger, object]:
    ledger = Ledger.open(ROLES, path)
    return ledger, attach(ledger, wall_clock=lambda: NOW_S)


def test_money_of_an_earlier_run_is_folded_once_and_a_replayed_trade_is_not_counted_again(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    ledger, pnl = opened(path)
    ledger.apply(trade(MAKER, "t1", "m1", Side.BUY, "1", "100", "-0.01", Liquidity.MAKER))
    ledger.apply(trade(HEDGE, "x1", "h1", Side.SELL, "1", "100.5", "0.02814"))
    ledger.apply(FundingPayment(Venue.LIGHTER, "SOL", "f1", D("0.003"), ts_ms=NOW_MS))
    before = pnl.total()
    ledger.close()
    ledger, pnl = opened(path)
    assert pnl.total().components() == before.components()
    # The stream restates the same trade and the history repeats the payment after the restart.
    ledger.apply(trade(MAKER, "t1", "m1", Side.BUY, "1", "100", "-0.01", Liquidity.MAKER))
    ledger.backfill_funding([FundingPayment(Venue.LIGHTER, "SOL", "f1", D("0.003"), ts_ms=NOW_MS)])
    assert pnl.total().components() == before.components()
    total = pnl.total()
    assert total.leg(Venue.EXTENDED).rebates == {"maker": D("0.01")}
    assert total.funding == D("0.003") and total.fees == D("0.01814")
    ledger.close()


def test_a_cycles_money_is_its_own_and_today_is_the_sum_of_the_days_fills(tmp_path):
    ledger, pnl = opened(tmp_path / "ledger.sqlite3")
    ledger.record_cycle("1", "start")
    seq = ledger.core.cycle_seq
    ledger.apply(trade(MAKER, "t1", "m1", Side.BUY, "2", "100", "0"))
    ledger.apply(trade(HEDGE, "x1", "h1", Side.SELL, "2", "100.1", "0.056"))
    ledger.apply(trade(MAKER, "t2", "m2", Side.SELL, "2", "100.3", "0"))
    ledger.apply(trade(HEDGE, "x2", "h2", Side.BUY, "2", "100.2", "0.056"))
    ledger.record_cycle("1", "done")
    ledger.apply(trade(MAKER, "t3", "m3", Side.BUY, "1", "99", "0", ts=NOW_MS - 86_400_000))  # yesterday, no cycle
    cycle = pnl.cycle(seq)
    assert cycle.realised == D("0.6") - D("0.2") and cycle.fees == D("0.112")
    assert cycle.net == D("0.4") - D("0.112")
    assert pnl.cycle(seq).net == 0  # dropped once read: a long run keeps no per-cycle history in memory
    assert pnl.today().net == D("0.288")  # yesterday's fill is not today's
    ledger.close()


def test_the_money_series_carry_each_component_venue_and_liquidity(tmp_path):
    ledger, pnl = opened(tmp_path / "ledger.sqlite3")
    ledger.apply(trade(MAKER, "t1", "m1", Side.BUY, "1", "100", "-0.004", Liquidity.MAKER))
    ledger.apply(trade(HEDGE, "x1", "h1", Side.SELL, "1", "101", "0.02828"))
    ledger.apply(FundingPayment(Venue.EXTENDED, "SOL-USD", "e1", D("-0.0012"), ts_ms=NOW_MS))
    pnl.mids = {Venue.EXTENDED: D("102"), Venue.LIGHTER: D("102")}
    m = Metrics(process_collector=False)
    PnlExporter(m, pnl).export()
    get = m.registry.get_sample_value
    assert get("hedged_pnl_quote_total", {"component": "unrealised", "venue": "extended"}) == 2.0
    assert get("hedged_pnl_quote_total", {"component": "unrealised", "venue": "lighter"}) == -1.0
    assert get("hedged_pnl_quote_total", {"component": "fees", "venue": "lighter"}) == -0.02828
    assert get("hedged_fees_quote_total", {"venue": "extended", "liquidity": "maker"}) == -0.004
    assert get("hedged_funding_quote_total", {"venue": "extended"}) == -0.0012
    assert get("hedged_pnl_quote_total", {"component": "net", "venue": "extended"}) == float(
        D(2) + D("0.004") - D("0.0012"))
    body, _ = m.render("application/openmetrics-text; version=1.0.0")
    assert b"hedged_pnl_quote_total" in body
    ledger.close()


def test_hedged_pnl_lists_a_cycle_that_moved_no_money_with_zeros(tmp_path, sim_config):
    import dataclasses
    import sqlite3

    from hedged.cli.pnl import compute

    ledger, _ = opened(tmp_path / "ledger.sqlite3")
    ledger.record_cycle("1", "start")
    ledger.apply(trade(MAKER, "t1", "m1", Side.BUY, "1", "100", "0"))
    ledger.apply(trade(MAKER, "t2", "m2", Side.SELL, "1", "100.5", "0"))
    ledger.record_cycle("1", "done", detail="completed")
    ledger.record_cycle("2", "start")  # stopped before anything filled
    ledger.record_cycle("2", "done", detail="stopped")
    ledger.close()
    cfg = dataclasses.replace(sim_config, daemon=dataclasses.replace(sim_config.daemon, state_dir=tmp_path))
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
    doc = compute(conn, cfg, by="cycle", since_ms=None)
    conn.close()
    assert [(r["cycle"], r["run_cycle"], r["fills"], r["net"]) for r in doc["rows"]] == [
        (1, "1", 2, D("0.5")), (2, "2", 0, D(0))]


def test_hedged_pnl_shows_position_adjustments_it_cannot_price_apart_from_the_positions_from_trades(
        tmp_path, sim_config):
    # A venue that lost our position (an embedded simulator started afresh: `make run` twice) is
    # reconciled by an adjustment, not a trade: no price, so no PnL. `hedged pnl` must say so rather
    # than show the positions from trades as if they were the venue's.
    import dataclasses
    import sqlite3

    from hedged.cli.pnl import compute, render
    from hedged.venues.base import OrderStatus, OrderUpdate, PositionSnapshot

    ledger, _ = opened(tmp_path / "ledger.sqlite3")
    ledger.apply(trade(MAKER, "t1", "m1", Side.BUY, "1.18", "100", "0"))
    ledger.apply(trade(HEDGE, "x1", "h1", Side.SELL, "1.18", "100.1", "0"))
    for leg, cid, side in ((MAKER, "m1", Side.BUY), (HEDGE, "h1", Side.SELL)):
        ledger.apply(OrderUpdate(leg.venue, leg.market, None, cid, side, OrderStatus.FILLED, D("1.18"), D("1.18")))
    ledger.reconcile([PositionSnapshot(Venue.EXTENDED, "SOL-USD", D(0)), PositionSnapshot(Venue.LIGHTER, "SOL", D(0))],
                     [], kind="warm")
    ledger.close()
    cfg = dataclasses.replace(sim_config, daemon=dataclasses.replace(sim_config.daemon, state_dir=tmp_path))
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
    doc = compute(conn, cfg, by="cycle", since_ms=None)
    conn.close()
    assert doc["positions"] == {"extended": D("1.18"), "lighter": D("-1.18")}
    assert doc["adjustments"] == {"extended": {"qty": D("-1.18"), "count": 1},
                                  "lighter": {"qty": D("1.18"), "count": 1}}
    text = render(doc)
    assert "open positions from trades: extended=1.18, lighter=-1.18" in text
    assert "position adjustments without a trade (not in PnL; see hedged ledger): extended=-1.180000 (1), " \
           "lighter=1.180000 (1)" in text


def test_day_of_is_the_utc_date_at_and_around_every_midnight():
    """`day_of` is computed per UTC day number (cached: every trade asks); it must agree with datetime."""
    from datetime import UTC, datetime

    from hedged.pnl.history import DAY_MS, day_of

    for day in (-2, -1, 0, 1, 20424, 20425, 30000):
        for ts in (day * DAY_MS - 1, day * DAY_MS, day * DAY_MS + 1, day * DAY_MS + DAY_MS // 2):
            assert day_of(ts) == datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d"), ts
