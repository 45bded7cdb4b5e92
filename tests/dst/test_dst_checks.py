"""The final checks fail when the journal is wrong: each is run on a real seed's journal, then on a
copy with one defect put in by hand (a lost fill, a double count, a fill the venue never made)."""

from __future__ import annotations

import re
import sqlite3
from decimal import Decimal as D

import pytest

from hedged.config import Config
from hedged.dst import checker
from hedged.dst.runner import run_seed


@pytest.fixture(scope="module")
def calm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("dst")
    return run_seed(2, 1.0, plan=[], keep_dir=root), root / "state"


def _check(result, state) -> list[checker.Violation]:
    mon = checker.Monitor(result.world, result.world.cfg)
    checker.check_journal(mon, state, result.down)
    return mon.violations


def _edit(state, sql: str) -> None:
    with sqlite3.connect(state / "ledger.sqlite3") as conn:
        assert conn.execute(sql).rowcount >= 1


def test_a_calm_seed_keeps_every_invariant_and_its_journal_matches_the_venues(calm_run):
    result, state = calm_run
    assert result.ok, result.violations
    assert result.stats.fills_ext > 0 and result.stats.fills_lig > 0
    assert _check(result, state) == []


def test_a_fill_missing_from_the_journal_is_a_lost_fill(calm_run, tmp_path):
    result, state = calm_run
    copy = _copy(state, tmp_path)
    _edit(copy, "DELETE FROM fills WHERE id = (SELECT MIN(id) FROM fills WHERE counted_delta != '0')")
    assert [v.invariant for v in _check(result, copy)] == [1]
    assert "a fill was lost" in _check(result, copy)[0].detail


def test_a_fill_counted_twice_is_a_double_count(calm_run, tmp_path):
    copy = _copy(calm_run[1], tmp_path)
    _edit(copy, "UPDATE fills SET counted_delta = counted_delta * 2 WHERE id = (SELECT MAX(id) FROM fills "
                "WHERE counted_delta != '0')")
    found = _check(calm_run[0], copy)
    assert [v.invariant for v in found] == [1] and "double count" in found[0].detail


def test_a_fill_the_venue_never_made_is_a_phantom_fill(calm_run, tmp_path):
    copy = _copy(calm_run[1], tmp_path)
    _edit(copy, "UPDATE orders SET order_id = '999' WHERE key = (SELECT order_key FROM fills "
                "WHERE counted_delta != '0' ORDER BY id LIMIT 1)")
    assert 6 in [v.invariant for v in _check(calm_run[0], copy)]


def test_the_hedge_budget_is_every_attempt_its_backoff_and_the_guard_grace():
    cfg = Config()  # timeout 5 s x 4 attempts, backoffs 0.2 + 0.4 + 0.8, grace 2 s
    assert checker.hedge_budget_s(cfg) == pytest.approx(5 * 4 + 1.4 + 2)


def _copy(state, tmp_path):
    import shutil

    dest = tmp_path / "state"
    shutil.copytree(state, dest)
    return dest


def test_a_halt_already_under_way_when_the_final_stop_comes_counts_the_incidents_it_raised_before_it(tmp_path):
    # Seed 1000029 (read): the failure path halts the executor at 179.4 s after raising two incidents
    # (164.4 s, 174.4 s); the final graceful stop (180.0 s) lands while the halt's ordered shutdown runs,
    # and the daemon exits 3. Its incidents predate the stop request, and they are the halt's.
    # (Soak seed 486 did the same on the code before 75d80b5.)
    r = run_seed(1_000_029, 3.0, keep_dir=tmp_path)
    lines = r.trace.splitlines()
    halted = [float(ln[:10]) for ln in lines if "| service_halted " in ln]
    stopped = max(float(ln[:10]) for ln in lines if ln[11:].startswith("dst life=") and "graceful stop" in ln)
    if not (halted and halted[0] < stopped and r.exit_codes[-1] == 3):
        pytest.skip(f"seed 1000029 no longer halts before its final stop on this code (halted {halted}, stop "
                    f"{stopped}): the check needs another seed that does")
    assert checker.incidents(tmp_path / "state")
    assert not [v for v in r.violations if v.invariant == 5], [v.line() for v in r.violations]


# ---------------------------------------------------------------- invariant 7: money

PREMIUM_SEED = 7  # its world: Lighter on the premium fee schedule, funding every 30 s (world.money_knobs)


@pytest.fixture(scope="module")
def money_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("dst-money")
    return run_seed(PREMIUM_SEED, 1.5, plan=[], keep_dir=root), root / "state"


def _money(result, state) -> list[checker.Violation]:
    mon = checker.Monitor(result.world, result.world.cfg)
    checker.check_money(mon, state)
    return mon.violations


def _rows(state, sql: str) -> list[tuple]:
    with sqlite3.connect(state / "ledger.sqlite3") as conn:
        return conn.execute(sql).fetchall()


def test_a_seed_with_fees_and_funding_has_our_pnl_equal_to_the_simulators_books(money_run):
    from hedged.dst.world import money_knobs

    result, state = money_run
    assert money_knobs(PREMIUM_SEED) == {"funding_interval_s": 30.0, "lighter_fees": "premium"}
    assert result.ok, [v.line() for v in result.violations]
    fills = _rows(state, "SELECT qty, price, fee, liquidity FROM fills WHERE venue = 'lighter' AND trade_id IS NOT NULL")
    rate = {"taker": D("0.00028"), "maker": D("0.00004")}  # Premium: 0.028 % taker, 0.004 % maker (lighter.md §7)
    assert fills and all(D(fee) == D(q) * D(p) * rate[liq] > 0 for q, p, fee, liq in fills)
    funding = _rows(state, "SELECT venue, amount FROM funding")
    assert {v for v, _ in funding} == {"extended", "lighter"} and all(D(a) != 0 for _, a in funding)
    assert result.stats.funding_payments >= len(funding)
    assert _money(result, state) == []


def test_a_fee_missing_from_the_journal_breaks_invariant_7_by_exactly_that_fee(money_run, tmp_path):
    result, state = money_run
    copy = _copy(state, tmp_path)
    [(row, fee)] = _rows(copy, "SELECT id, fee FROM fills WHERE venue = 'lighter' AND trade_id IS NOT NULL "
                               "ORDER BY id LIMIT 1")
    _edit(copy, f"UPDATE fills SET fee = '0' WHERE id = {row}")
    [v] = _money(result, copy)
    assert v.invariant == 7 and v.detail.startswith("lighter:")
    assert _difference(v) == -D(fee)  # the venue's books moved by the fee less than we say: exactly, no tolerance


def test_a_funding_payment_missing_from_the_journal_breaks_invariant_7(money_run, tmp_path):
    result, state = money_run
    copy = _copy(state, tmp_path)
    [(venue, pid, amount)] = _rows(copy, "SELECT venue, payment_id, amount FROM funding ORDER BY ts_ms LIMIT 1")
    _edit(copy, f"DELETE FROM funding WHERE venue = '{venue}' AND payment_id = '{pid}'")
    [v] = _money(result, copy)
    assert v.invariant == 7 and v.detail.startswith(f"{venue}:")
    assert _difference(v) == D(amount) and f"funding payments not journaled ['{pid}']" in v.detail


def _difference(v: checker.Violation) -> D:
    return D(re.search(r"\(difference (-?[0-9.]+);", v.detail).group(1))
