"""Seed 49's interleaving, pinned: its plan shrunk to the five actions that still break invariants 3 and 4,
through the whole daemon (real services, adapters, ledger) and both simulators under the autojump clock.

What its trace shows (read; `hedged dst --seed 49 --only 0,3,4,5,7 --trace`): hedges and periodic reads
have spent the non-priority share of Lighter's REST budget when a close fault drops the Lighter socket
(127.2 s). The re-sync that must finish before any transaction goes out asks for REST in that share and
waits; the session setup times out (ws_setup_timeout_s) twice, so for 26 s there is no Lighter stream.
Every hedge attempt for the maker fill of 128.0 s takes its budget slot, then waits ready_wait_s and ends
"nothing sent"; the executor's cancel-on-exit and the failure path's Lighter cancel-all wait on the same
re-sync, so the flatten on Extended lands at 153.2 s, past the hedge budget (23.4 s). A priority inversion
in the Lighter adapter (issue 12 point 11), not in the executor, maker or cycle. It passes since main's
5b7fbd6 (a send takes its sendTx budget only once the session is ready), but issue 14's extra reads moved
the timing and the plan below (four of those actions: `--only 3,4,5,7`) failed the same way again: the
re-sync's reads waited in the normal share. They now take the priority share (`rest.hedge_path`), since no
hedge can go out before the re-sync ends; this test keeps it passing.
"""

from __future__ import annotations

import pytest

from hedged.dst.diagnose import STARVED_RESYNC_WHY, hint
from hedged.dst.plan import draw_plan
from hedged.dst.runner import run_seed

SEED, KEEP = 49, (3, 4, 5, 7)  # a subset of `hedged dst --seed 49 --shrink`'s (0, 3, 4, 5, 7)


@pytest.fixture(scope="module")
def seed49():
    plan = draw_plan(SEED, 3.0)
    return run_seed(SEED, 3.0, plan=[plan[i] for i in KEEP])


def test_the_shrunk_plan_of_seed_49_still_drops_the_lighter_socket_while_a_maker_fill_waits_for_its_hedge(seed49):
    # The interleaving the test below needs is still the one this run produces.
    # The socket drops while the REST budget's normal share is spent (a read waited for it within the
    # 2 s before): the re-sync has to come out of the priority share or wait.
    lines = seed49.trace.splitlines()
    drop = next(i for i, ln in enumerate(lines) if "| lighter_ws_session_ended reason=ConnectionClosed" in ln)
    t_drop = float(lines[drop].split()[0])
    assert any("| lighter_rate_limit_wait bucket=rest " in ln and t_drop - 2.0 <= float(ln.split()[0])
               for ln in lines[:drop])


def test_diagnose_names_a_starved_lighter_re_sync_from_its_two_events():
    trace = ("   138.498 | lighter_ws_session_ended reason=_Reconnect: session setup timed out attempt=0\n"
             "   144.400 | hedge_send_failed kind=transport error=lighter: stream not subscribed and re-synced; "
             "nothing sent\n   160.000 | later\n")
    assert hint(trace, 151.5) == STARVED_RESYNC_WHY
    assert hint(trace, 140.0) == "undiagnosed"  # only what precedes the first violation counts


def test_a_lighter_socket_dropped_with_the_rest_budget_spent_still_hedges_a_maker_fill_within_the_budget(seed49):
    assert seed49.ok, [v.line() for v in seed49.violations]
