"""Restarts of single venue services in a running daemon (issue 10, issue 12 point 5): drawn only for the
restart family of seeds, from a stream of their own, so the CI seeds keep the plans (and traces) they had."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hedged.dst.catalogue import BASE_SEED
from hedged.dst.cli import read_seeds
from hedged.dst.plan import RESTART, RESTART_SEEDS_FROM, Action, _base_plan, draw_plan, draw_restarts
from hedged.dst.runner import run_seed

HERE = Path(__file__).parent
FIRST_CI_SEEDS = read_seeds(HERE / "ci_seeds.txt")[:120]
# sha256 of every plan of the first 120 CI seeds, computed on the code before restarts were drawn at all.
CI_PLANS_SHA256 = "94f1b669741a1ec26549011bce07007b2552b6b17030cf1ec7cafcf84838fcfe"


def test_the_first_hundred_and_twenty_ci_seeds_keep_the_plans_they_had_before_restarts_were_drawn():
    text = "\n".join(f"{s} {a.at!r} {a.describe()}" for s in FIRST_CI_SEEDS for a in draw_plan(s, 3.0))
    assert hashlib.sha256(text.encode()).hexdigest() == CI_PLANS_SHA256
    assert all(a.kind != RESTART for s in FIRST_CI_SEEDS for a in draw_plan(s, 3.0))


def test_a_restart_family_seed_restarts_one_to_three_venue_services_on_top_of_the_plan_its_number_draws():
    for seed in range(RESTART_SEEDS_FROM + 1, RESTART_SEEDS_FROM + 30):
        plan = draw_plan(seed, 3.0)
        restarts = [a for a in plan if a.kind == RESTART]
        assert 1 <= len(restarts) <= 3 and {a.venue for a in restarts} <= {"extended", "lighter"}
        assert [a for a in plan if a.kind != RESTART] == _base_plan(seed, 3.0)  # restarts draw apart
        assert restarts == sorted(draw_restarts(seed, 3.0), key=lambda a: a.at)
        assert [a.at for a in plan] == sorted(a.at for a in plan)
    assert draw_restarts(RESTART_SEEDS_FROM - 1, 3.0) == []


def test_a_venue_service_the_plan_fails_is_restarted_by_its_supervisor_and_the_daemon_trades_on():
    r = run_seed(BASE_SEED, 1.5, plan=[Action(22.0, RESTART, "lighter"), Action(40.0, RESTART, "extended")])
    assert r.ok, [v.line() for v in r.violations]
    assert r.stats.restarts == 2 and r.exit_codes == [0] and r.stats.lives == 1  # one daemon throughout
    lines = r.trace.splitlines()
    for venue, at, ready in (("lighter", "22.000", "| lighter_ws_ready"), ("extended", "40.000", "| venue_ready")):
        i = next(i for i, ln in enumerate(lines) if ln.startswith(f"{float(at):10.3f} dst action=")
                 and f"restart venue={venue}" in ln)
        after = lines[i + 1:]
        restarted = next(j for j, ln in enumerate(after) if f"| service_restarting name=venue:{venue} " in ln)
        assert any(ready in ln for ln in after[restarted:]), f"venue:{venue} never came back"
        fills = [ln for ln in after[restarted:] if f"dst fill venue={venue}" in ln]
        assert fills, f"no {venue} fill after its restart: trading did not go on"


def test_a_restart_while_the_service_is_down_is_traced_and_does_nothing():
    # The second restart lands in the supervisor's backoff after the first: nothing runs to fail.
    r = run_seed(BASE_SEED, 1.0, plan=[Action(22.0, RESTART, "lighter"), Action(22.5, RESTART, "lighter")])
    assert r.stats.restarts == 1
    assert "dst life=1 venue:lighter is not running; nothing to restart" in r.trace
    assert r.trace.count("| service_restarting name=venue:lighter ") == 1


# Seed 1000019 (read), its plan shrunk to its two restarts: Extended's service restarts at 49.1 s, then
# Lighter's at 54.2 s while a reconciler read of Lighter's account waits in the client's rate limiter (which
# outlives the service, as it must). At 61.1 s the limiter lets the read go, on the HTTP client the old run
# closed: httpx raises RuntimeError, not a VenueError, so the critical cycle service fails and the daemon
# exits 1 (systemd would restart it 5 s later). No DST invariant breaks, but a restartable venue service
# must not take the daemon down with it.
RESTARTED_UNDER_A_WAITING_READ = (1_000_019, (3, 5))


@pytest.fixture(scope="module")
def restarted_under_a_waiting_read():
    seed, keep = RESTARTED_UNDER_A_WAITING_READ
    plan = draw_plan(seed, 3.0)
    return run_seed(seed, 3.0, plan=[plan[i] for i in keep])


def test_seed_1000019_restarts_the_lighter_service_while_a_lighter_read_waits_in_the_rate_limiter(
        restarted_under_a_waiting_read):
    # A read's wait began before the Lighter service was restarted and ended after it (the line is logged at
    # the end of the wait, with its length). Since a start's market read takes the priority share it no
    # longer waits itself, so the restarted service is up (lighter_starting) before that read goes.
    lines = restarted_under_a_waiting_read.trace.splitlines()
    restarted_at = next(float(ln.split()[0]) for ln in lines if "| service_restarting name=venue:lighter " in ln)
    waits = [(float(ln.split()[0]), float(ln.split("wait_s=")[1].split()[0]))
             for ln in lines if "| lighter_rate_limit_wait " in ln]
    assert any(end - wait < restarted_at < end for end, wait in waits), waits


def test_a_lighter_read_waiting_across_a_restart_of_its_service_never_takes_the_daemon_down(
        restarted_under_a_waiting_read):
    r = restarted_under_a_waiting_read
    assert r.exit_codes == [0] and "client has been closed" not in r.trace, r.exit_codes
