"""Issue 12 points 1 and 11: a burst of maker fills goes out as hedges side by side, one Lighter API key
each, instead of one sign-send-reply round trip after another on the single key's nonce lock.

Real adapters on their in-memory simulators, the real ledger and executor, Lighter's standard taker hold,
autojump clock. Every sendTx reply is held back 100 ms by the simulator (a slow API server); what counts is
what the simulator's API accepted, read from its per-key nonces, never the executor's view.
"""

from __future__ import annotations

from decimal import Decimal as D

import trio

from hedged.venues.base import Side
from hedged.sim.lighter.server import Latency
from hedged.sim.common.faults import Fault, FaultKind

from .sims import LIGHTER_ACCOUNT, LIGHTER_KEY, quiet_executor, sim_world

REPLY_S = 0.1  # every sendTx reply leaves the simulator this late
POOL = (6, 7, 8)


def _accepted(w, keys) -> dict[int, int]:
    """Transactions the simulator's API accepted so far, per API key (each consumed one nonce)."""
    ex = w.lig_sim.exchange
    return {k: ex.next_nonce(LIGHTER_ACCOUNT, k) - ex.initial_nonce for k in keys}


async def _burst(w, sizes) -> float:
    """Rest one maker order per size, then fill them 5 ms apart; returns when the first fill was made."""
    makers = [await w.rest_maker(Side.BUY, q) for q in sizes]
    w.lig_sim.faults.add(Fault(FaultKind.DELAY, target="jsonapi", on="jsonapi/sendtx", count=0, delay=REPLY_S))
    t0 = trio.current_time()
    for cid, q in zip(makers, sizes, strict=True):
        w.ext_sim.force_fill(cid, q)
        await trio.sleep(0.005)
    return t0


async def test_a_burst_of_fills_within_one_hedge_reply_goes_out_at_once_one_api_key_each(autojump_clock, tmp_path):
    sizes = [D("0.5"), D("0.3"), D("0.4"), D("0.2")]
    keys = (LIGHTER_KEY, *POOL)
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0,
                         hedge_keys=POOL) as w:
        ex = quiet_executor(w)
        await w.nursery.start(ex.run)
        t0 = await _burst(w, sizes)
        # All four fills arrived within 20 ms, well inside the first hedge's 100 ms reply: each hedge is
        # already at the venue, none waited for another's reply.
        await trio.sleep_until(t0 + 0.05)
        assert len(ex.hedge_orders) == 4
        assert _accepted(w, keys) == {k: 1 for k in keys}, "a hedge waited for another hedge's reply"
        assert w.lig.statistics().counters["key_busy_waits"] == 0
        # And the hedges are the fills, exactly: the legs end flat.
        with trio.fail_after(30):
            await w.ledger.version.wait_value(lambda _: w.ledger.position(w.lig.venue) == -sum(sizes))
        await ex.wait_flat()
        assert w.truth() == (sum(sizes), -sum(sizes))


async def test_with_one_api_key_a_burst_of_hedges_goes_out_one_reply_after_another(autojump_clock, tmp_path):
    # The cause the pool removes (docs/benchmarks.md): on one key the k-th hedge of a burst waits for
    # k-1 sign-send-reply round trips under the key's nonce lock.
    sizes = [D("0.5"), D("0.3"), D("0.4")]
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False,
                         lighter_flow_rate=0.0) as w:
        ex = quiet_executor(w)
        await w.nursery.start(ex.run)
        t0 = await _burst(w, sizes)
        await trio.sleep_until(t0 + 0.05)
        assert _accepted(w, (LIGHTER_KEY,)) == {LIGHTER_KEY: 1}
        await trio.sleep_until(t0 + REPLY_S + 0.05)
        assert _accepted(w, (LIGHTER_KEY,)) == {LIGHTER_KEY: 2}
        with trio.fail_after(30):
            await w.ledger.version.wait_value(lambda _: w.ledger.position(w.lig.venue) == -sum(sizes))


async def test_when_every_key_is_busy_the_next_hedge_takes_the_first_key_released(autojump_clock, tmp_path):
    # Two keys, three fills in one reply time: two go out at once, the third on whichever key's reply
    # comes back first, and it is counted as a wait (the metric says the pool is too small).
    sizes = [D("0.5"), D("0.3"), D("0.4")]
    async with sim_world(tmp_path, lighter_latency=Latency.standard(), live_market=False, lighter_flow_rate=0.0,
                         hedge_keys=(9,)) as w:
        ex = quiet_executor(w)
        await w.nursery.start(ex.run)
        t0 = await _burst(w, sizes)
        await trio.sleep_until(t0 + 0.05)
        assert _accepted(w, (LIGHTER_KEY, 9)) == {LIGHTER_KEY: 1, 9: 1}
        await trio.sleep_until(t0 + REPLY_S + 0.05)
        assert sum(_accepted(w, (LIGHTER_KEY, 9)).values()) == 3
        assert w.lig.statistics().counters["key_busy_waits"] == 1
        with trio.fail_after(30):
            await w.ledger.version.wait_value(lambda _: w.ledger.position(w.lig.venue) == -sum(sizes))
