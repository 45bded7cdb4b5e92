"""Nonce manager (pure core + lock wrapper), auth token refresh timing and client order indexes."""

import random

import pytest
import trio

from hedged.venues.base import AmbiguousOutcome, AuthError, NonceError, OrderRejected, TransportError, Venue
from hedged.venues.lighter.ids import COUNTER_BITS, ClientOrderIndexAllocator
from hedged.venues.lighter.nonces import AuthTokens, NonceCore, NonceManager

V = Venue.LIGHTER


def test_core_advances_locally_and_rolls_back_only_the_latest():
    core = NonceCore()
    core.fetched(10)
    assert core.take() == 10 and core.take() == 11
    core.not_consumed(11)
    assert core.next == 11
    core.not_consumed(5)  # not the latest: unsure, so refetch
    assert core.needs_fetch


class FakeVenueNonce:
    def __init__(self, start):
        self.value = start
        self.calls = 0

    async def fetch(self, key):
        self.calls += 1
        await trio.sleep(0.01)
        return self.value


async def test_nonce_is_fetched_once_then_advanced_locally(autojump_clock):
    venue = FakeVenueNonce(7)
    mgr = NonceManager(venue.fetch)
    seen = []
    for _ in range(3):
        async with mgr.hold(5) as n:
            seen.append(n)
    assert seen == [7, 8, 9] and venue.calls == 1


async def test_nonce_error_forces_a_hard_refetch(autojump_clock):
    venue = FakeVenueNonce(7)
    mgr = NonceManager(venue.fetch)
    with pytest.raises(NonceError):
        async with mgr.hold(5):
            raise NonceError(V, "invalid nonce", code="21104")
    venue.value = 42
    async with mgr.hold(5) as n:
        assert n == 42
    assert venue.calls == 2


@pytest.mark.parametrize("exc", [OrderRejected(V, "no"), TransportError(V, "refused")])
async def test_rejection_or_unsent_request_reuses_the_nonce(autojump_clock, exc):
    mgr = NonceManager(FakeVenueNonce(7).fetch)
    with pytest.raises(type(exc)):
        async with mgr.hold(5):
            raise exc
    async with mgr.hold(5) as n:
        assert n == 7


async def test_ambiguous_outcome_and_cancellation_force_a_refetch(autojump_clock):
    venue = FakeVenueNonce(7)
    mgr = NonceManager(venue.fetch)
    with pytest.raises(AmbiguousOutcome):
        async with mgr.hold(5):
            raise AmbiguousOutcome(V, "lost reply")
    with trio.move_on_after(1):
        async with mgr.hold(5):
            await trio.sleep(10)
    assert mgr.stats(5).invalidations == 2 and mgr.stats(5).next is None


async def test_sign_and_send_is_serialized_per_key_and_parallel_across_keys(autojump_clock):
    mgr = NonceManager(FakeVenueNonce(0).fetch)
    log = []

    async def send(key, tag):
        async with mgr.hold(key) as n:
            log.append(("start", key, tag, n))
            await trio.sleep(1)
            log.append(("end", key, tag, n))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, 5, "hedge")
        nursery.start_soon(send, 5, "flatten")
        nursery.start_soon(send, 6, "other")
    # Two sends on key 5 take 2 s back to back; key 6 runs alongside.
    assert trio.current_time() - start == pytest.approx(2.01, abs=0.02)
    key5 = [e for e in log if e[1] == 5]
    assert [e[0] for e in key5] == ["start", "end", "start", "end"]
    assert sorted(e[3] for e in key5 if e[0] == "start") == [0, 1]


class Wall:
    def __init__(self):
        self.offset = 1_800_000_000.0

    def __call__(self):
        return self.offset + trio.current_time()


async def test_a_pool_hands_each_sender_a_free_key_and_waits_only_when_every_key_is_busy(autojump_clock):
    venue = FakeVenueNonce(100)
    mgr = NonceManager(venue.fetch)
    for key in (3, 4, 5):
        await mgr.prime(key)
    taken: list[tuple[int, int, float]] = []

    async def send(hold_s: float) -> None:
        async with mgr.hold_any((3, 4, 5)) as (key, nonce):
            taken.append((key, nonce, trio.current_time()))
            await trio.sleep(hold_s)  # sign, send, wait for the reply

    t0 = trio.current_time()
    async with trio.open_nursery() as n:
        for hold_s in (0.3, 0.1, 0.2, 0.05):
            n.start_soon(send, hold_s)
            await trio.sleep(0)  # in this order
    at = {(k, nonce): round(t - t0, 3) for k, nonce, t in taken}
    # Three keys, four senders: three at once, the fourth on the first key released (4, after 0.1 s).
    assert at == {(3, 100): 0.0, (4, 100): 0.0, (5, 100): 0.0, (4, 101): 0.1}
    assert mgr.busy_waits == 1


async def test_hold_all_waits_for_every_key_in_flight_and_holds_them_back_meanwhile(autojump_clock):
    mgr = NonceManager(FakeVenueNonce(1).fetch)
    for key in (3, 4):
        await mgr.prime(key)
    log: list[tuple[str, float]] = []

    async def hedge(name: str, hold_s: float) -> None:
        async with mgr.hold_any((3, 4)) as (key, _):
            log.append((f"{name} on {key}", trio.current_time()))
            await trio.sleep(hold_s)

    async def cancel_all() -> None:
        async with mgr.hold_pool((3, 4), every=True) as (key, nonce):
            log.append((f"cancel_all on {key} nonce {nonce}", trio.current_time()))
            await trio.sleep(0.1)

    t0 = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(hedge, "a", 0.2)  # in flight on key 3
        await trio.sleep(0.01)
        n.start_soon(cancel_all)  # takes the free key 4, then waits for key 3
        await trio.sleep(0.01)
        n.start_soon(hedge, "b", 0.05)  # both keys held: waits for the cancel-all
    assert [(what, round(t - t0, 2)) for what, t in log] == [
        ("a on 3", 0.0), ("cancel_all on 3 nonce 2", 0.2), ("b on 4", 0.3)]


async def test_a_sender_cancelled_while_waiting_for_a_key_leaves_the_line_and_takes_no_key(autojump_clock):
    mgr = NonceManager(FakeVenueNonce(1).fetch)
    await mgr.prime(3)
    order: list[str] = []

    async def send(name: str, hold_s: float) -> None:
        async with mgr.hold_any((3,)):
            order.append(name)
            await trio.sleep(hold_s)

    async with trio.open_nursery() as n:
        n.start_soon(send, "first", 0.1)
        await trio.sleep(0.01)
        with trio.move_on_after(0.02):  # gives up waiting long before the key is free
            await send("impatient", 0.0)
        n.start_soon(send, "last", 0.0)
    assert order == ["first", "last"]
    async with mgr.hold_any((3,)) as (key, nonce):  # and the key is free again afterwards
        assert (key, nonce) == (3, 3)


async def test_token_is_refreshed_a_margin_before_expiry_and_bumps_the_value(autojump_clock):
    deadlines = []

    async def mint(deadline):
        deadlines.append(deadline)
        return f"{deadline}:1:5:sig"

    tokens = AuthTokens(mint, Wall(), lifetime_s=7 * 3600, refresh_margin_s=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(tokens.run)
        t0 = trio.current_time()
        first = tokens.current()
        await tokens.token.wait_transition()
        assert trio.current_time() - t0 == pytest.approx(6 * 3600, abs=1)
        assert tokens.current() != first
        # Every token carries an absolute deadline lifetime_s after its minting time.
        assert deadlines[1] - deadlines[0] == pytest.approx(6 * 3600, abs=1)
        assert deadlines[0] == pytest.approx(Wall().offset + t0 + 7 * 3600, abs=1)
        nursery.cancel_scope.cancel()


async def test_token_refresh_can_be_forced_after_an_auth_error(autojump_clock):
    async def mint(deadline):
        return f"{deadline}:1:5:sig{trio.current_time()}"

    tokens = AuthTokens(mint, Wall(), lifetime_s=100, refresh_margin_s=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(tokens.run)
        await trio.sleep(5)
        tokens.refresh_soon()
        await tokens.token.wait_transition()
        assert tokens.mints == 2 and trio.current_time() < 10
        nursery.cancel_scope.cancel()


async def test_expired_token_is_never_handed_out(autojump_clock):
    async def mint(deadline):
        return "t"

    tokens = AuthTokens(mint, Wall(), lifetime_s=100, refresh_margin_s=10)
    await tokens.mint_now()
    await trio.sleep(101)
    with pytest.raises(AuthError):
        tokens.current()


def test_client_order_indexes_are_unique_across_restarts_and_fit_48_bits(tmp_path):
    seen = set()
    for run in range(3):
        alloc = ClientOrderIndexAllocator(tmp_path, random.Random(run), block=4)
        for _ in range(10):
            idx = alloc.next()
            assert 1 <= idx <= 2**48 - 1
            seen.add(idx & (2**COUNTER_BITS - 1))
    assert len(seen) == 30  # the counter part alone never repeats, whatever the prefix


def test_crash_after_reservation_skips_but_never_reuses(tmp_path):
    a = ClientOrderIndexAllocator(tmp_path, random.Random(1), block=100)
    first = a.next() & (2**COUNTER_BITS - 1)
    b = ClientOrderIndexAllocator(tmp_path, random.Random(1), block=100)
    assert b.next() & (2**COUNTER_BITS - 1) >= first + 100


def test_corrupt_counter_state_is_refused(tmp_path):
    (tmp_path / "lighter_client_order_index.json").write_text('{"next": "x"}')
    with pytest.raises(ValueError):
        ClientOrderIndexAllocator(tmp_path, random.Random(1)).next()
