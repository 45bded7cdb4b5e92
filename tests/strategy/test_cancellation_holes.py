"""Issue 12 point 8: the cancellation and lookup holes that could leave a hedge resting or send two
hedges for one fill."""

from __future__ import annotations

from decimal import Decimal as D

import trio

from hedged.venues.base import Side, Venue

from .rig import rig


def takers(venue):
    return [c for c in venue.calls if c[0] == "place_taker"]


async def test_a_lagging_order_lookup_is_asked_again_and_one_fill_never_gets_two_hedges(autojump_clock):
    async with rig() as r:
        r.hedge.hold_updates = True  # the private stream is silent: the venue fills, we hear nothing
        r.hedge.status_lag_s = 8.0  # and its order lookup does not know the order for 8 s
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: r.ledger.position(Venue.LIGHTER) == D(-1), timeout=60)
        lookups = [c for c in r.hedge.calls if c[0] == "order_status"]
        assert len(lookups) >= 2  # the first answer ("unknown") was not believed
        assert len(takers(r.hedge)) == 1 and r.hedge.position == D(-1)
        r.hedge.hold_updates = False
        r.hedge.release()  # the stream catches up: counted once
        await trio.sleep(1)
        await ex.wait_flat()
        assert r.venue_net() == 0 and r.ledger_matches_venues() and len(takers(r.hedge)) == 1


async def test_a_crash_stop_lets_the_cycle_cancel_its_makers_before_any_venue_client_closes(autojump_clock):
    import pytest

    from hedged.errors import ServiceFailed
    from hedged.nursery import CRITICAL, Service, Supervisor

    venue_open = True
    seen: list[bool] = []

    async def venue(*, task_status=trio.TASK_STATUS_IGNORED):
        nonlocal venue_open
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            venue_open = False  # the client closes its HTTP client when run() ends

    async def cycle(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):  # MakerWorker.work: the shielded maker cancel
                await trio.sleep(0.05)  # the cancel request's round trip
                seen.append(venue_open)

    async def executor(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        await trio.sleep(1)
        raise RuntimeError("executor bug")

    sup = Supervisor(graceful_stop_s=10)
    with pytest.RaisesGroup(pytest.RaisesExc(ServiceFailed), flatten_subgroups=True):
        await sup.run([Service("venue:extended", venue, stop_order=600), Service("cycle", cycle, CRITICAL, stop_order=10),
                       Service("hedge-executor", executor, CRITICAL, stop_order=20)])
    assert seen == [True]
