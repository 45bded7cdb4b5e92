"""A Lighter session that cannot see our account must not trade, and must learn what it missed.

Two ways a live socket goes blind (DST CI seeds 12, 15, 17, 26, 30, 47, 64, 69, 70, 72, 101, 102, and
28, 36, 104): the private channels are re-subscribed with a token the venue refuses (every `account_*` channel
is gone while the book still flows), or the whole session freezes (silent but open) and a hedge's sendtx
is never answered. Real LighterClient against the in-memory simulator, autojump clock.
"""

import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from hedged.errors import Halted
from hedged.venues import credentials
from hedged.venues.base import AmbiguousOutcome, AuthError, OrderStatus, Side, TimeInForce, TransportError, hedge_path
from hedged.sim.lighter.server import Latency, LighterSimSettings
from hedged.sim.common.faults import Fault, FaultKind, FaultPlan

sys.path.insert(0, str(Path(__file__).parent))
from lighter_harness import ACCOUNT, running  # noqa: E402

# Short tokens so a revocation ends within a minute: the simulator refuses every token whose deadline falls
# within its maximum lifetime (120 s) of the revocation, so tokens of 60 s are refused for the next 60 s.
SIM = LighterSimSettings(seed=1, token_max_lifetime_s=120, book_interval_s=0.5)
TOKENS = {"token_lifetime_s": 60, "token_refresh_margin_s": 10}


def through(h) -> Decimal:
    top = h.client.top_of_book.value
    return h.client.rules.round_price(top.ask * Decimal("1.01"), up=True)


def away(h) -> Decimal:
    return h.client.rules.round_price(h.client.top_of_book.value.bid * Decimal("0.9"), up=False)


async def _refuse_the_token(h) -> None:
    """Revoke at the venue; the next private call is refused, the client mints a new token (refused as
    well) and re-subscribes its private channels with it."""
    h.sim.revoke_tokens()
    with pytest.raises(AuthError):
        await h.client.open_orders()
    with trio.fail_after(10):  # a new token at most `retry_s` (5 s) after the last one
        await h.client.synced.wait_value(False)
        # The venue refused it on `account_orders` (a second refusal): from here no order frame reaches us.
        await h.client.credentials.count.wait_value(lambda n: n >= 2)


async def test_a_refused_token_takes_the_session_out_of_ready_and_no_hedge_is_sent_blind(tmp_path, autojump_clock):
    async with running(tmp_path, sim_settings=SIM, **TOKENS) as h:
        await _refuse_the_token(h)
        cid = h.client.new_client_id()
        with pytest.raises(TransportError):  # nothing sent: its fill could not be seen
            await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h), cid)
        assert h.sim.order_by_client_id(ACCOUNT, int(cid)) is None
        assert h.sim.position(ACCOUNT) == 0
        assert h.client.credentials.count.value >= 2  # the engine's watch halts at its bound


async def test_a_token_refused_by_a_rest_call_takes_the_session_out_of_ready_at_once_not_at_the_next_mint(
        tmp_path, autojump_clock):  # fmt: skip
    # DST seed 222: a REST read was refused for its token and the session stayed ready until the token loop
    # minted again (`retry_s`, 5 s, after the last mint); a hedge sent in that window filled just as the
    # re-subscription with the new token was refused, and its fill never reached the journal.
    async with running(tmp_path, sim_settings=SIM, ready_wait_s=1, **TOKENS) as h:
        h.sim.revoke_tokens()
        mints = h.client.tokens.mints
        with pytest.raises(AuthError):
            await h.client.open_orders()
        with trio.fail_after(0.1):
            await h.client.synced.wait_value(False)
        assert h.client.tokens.mints == mints  # before any new token: the refusal alone did it
        cid = h.client.new_client_id()
        with pytest.raises(TransportError):
            await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h), cid)
        assert h.sim.order_by_client_id(ACCOUNT, int(cid)) is None


async def test_a_hedge_in_the_taker_hold_when_a_rest_call_finds_the_token_refused_is_seen_filling(
        tmp_path, autojump_clock):  # fmt: skip
    # DST seeds 177, 391, 518, 582: the hedge was sent before anything knew of the revocation; a REST read
    # found the token refused during Lighter's taker hold, the new token (refused too) re-subscribed the
    # private channels at once, which cut the channels the hedge's fill was about to come on. The channels
    # still deliver after a refusal on REST: the re-subscription now waits for our orders in flight.
    async with running(tmp_path, sim_settings=replace(SIM, latency=Latency.standard()), **TOKENS) as h:
        await trio.sleep(6.0)  # past the token loop's retry_s: the refusal gets a new token at once
        h.sim.revoke_tokens()
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h), cid)  # acked; 300 ms hold
        with pytest.raises(AuthError):
            await h.client.open_orders()
        done = await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED, timeout=2)
        assert done.filled_qty == Decimal("0.100") == h.sim.position(ACCOUNT)
        with trio.fail_after(5):  # and then the re-subscription, refused: a second refusal
            await h.client.credentials.count.wait_value(lambda n: n >= 2)


async def test_a_fill_made_while_the_token_was_refused_is_re_synced_once_a_new_token_is_accepted(
        tmp_path, autojump_clock):  # fmt: skip
    async with running(tmp_path, sim_settings=SIM, **TOKENS) as h:
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.300"), away(h), cid, TimeInForce.GTT)
        opened = await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        await _refuse_the_token(h)
        h.sim.force_fill(int(opened.order_id))  # filled while no account channel is subscribed
        with trio.fail_after(90):  # the revocation horizon (60 s) plus the token loop's retry
            await h.client.synced.wait_value(True)
        done = await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED, timeout=1)
        assert done.filled_qty == Decimal("0.300") == h.sim.position(ACCOUNT)
        assert h.client.statistics().streams["ws"].reconnects == 0  # re-subscribed and re-synced on the same socket


async def test_sends_refused_while_not_ready_spend_none_of_the_budget_the_re_sync_needs(tmp_path, autojump_clock):
    # Standard tier: sendTx and REST share one bucket, so hedges retrying against a session that is not
    # ready would starve the re-sync's REST calls and keep it from ever becoming ready (found by DST seed 148).
    async with running(tmp_path, sim_settings=SIM, tier="standard", **TOKENS) as h:
        await _refuse_the_token(h)
        used = h.client.budgets.rest.budget.used
        for _ in range(5):
            with pytest.raises(TransportError):
                await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h), h.client.new_client_id())
        assert h.client.budgets.sendtx is h.client.budgets.rest
        assert h.client.budgets.rest.budget.used == used


async def test_a_credentials_halt_names_the_order_whose_fill_it_could_not_see(tmp_path, autojump_clock):
    alerts = []

    async def alert(event, severity, **details):
        alerts.append((event, severity))

    async with running(tmp_path, sim_settings=SIM, ready_wait_s=30, **TOKENS) as h:
        cid, waiting = h.client.new_client_id(), h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.300"), away(h), cid, TimeInForce.GTT)
        opened = await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)

        async def go_blind_and_fill():
            await _refuse_the_token(h)
            h.sim.force_fill(int(opened.order_id))  # the venue fills it; no frame can tell us
            # A hedge waiting for the session to be ready: nothing of it is at the venue, nothing to name.
            with pytest.raises(TransportError):
                await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h), waiting)

        h.nursery.start_soon(go_blind_and_fill)
        with pytest.raises(Halted) as halted:
            await credentials.watch(h.client.credentials, alert=alert)
        assert h.client.registry.coi_for(waiting) in h.client.registry.orders  # still waiting at the halt
    assert halted.value.reason.startswith("lighter refused our credentials 3 times")
    assert f"1 lighter order(s) whose fills cannot be seen (client ids {cid})" in halted.value.reason
    assert alerts == [("credentials_refused", "critical"), ("fills_unseen", "critical"), ("credentials_halted", "critical")]


async def test_a_sendtx_unanswered_on_a_frozen_socket_replaces_the_session_and_the_fill_is_re_synced(
        tmp_path, autojump_clock):  # fmt: skip
    plan = FaultPlan(seed=1)
    async with running(tmp_path, faults=plan, sim_settings=LighterSimSettings(seed=1, book_interval_s=0.5)) as h:
        assert h.client.settings.ws_idle_timeout_s == 30.0  # the default: longer than the hedge budget
        plan.add(Fault(FaultKind.FREEZE, target="order_book/2"))
        await trio.sleep(1)  # the next book frame freezes the session: silent, still open
        assert plan.history
        t0, cid = trio.current_time(), h.client.new_client_id()
        with pytest.raises(AmbiguousOutcome):  # the venue filled it; its reply never comes
            await h.client.place_taker(Side.BUY, Decimal("0.200"), through(h), cid)
        done = await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED, timeout=5)
        assert trio.current_time() - t0 < 10  # tx_reply_timeout_s (5 s) + a reconnect, not the idle timeout
        assert done.filled_qty == Decimal("0.200") == h.sim.position(ACCOUNT)
        assert h.client.statistics().streams["ws"].reconnects == 1


async def test_an_order_lookup_on_the_hedge_path_takes_the_priority_share_of_a_spent_budget(tmp_path, autojump_clock):
    # DST seed 728: an ambiguous hedge's lookups waited behind periodic reads in the normal share of the
    # Standard budget until they timed out. The executor's lookup runs under `hedge_path()`, and the
    # client lets it take the share kept for hedges, as a hedge's own send does.
    async with running(tmp_path, sim_settings=SIM, tier="standard", **TOKENS) as h:
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.300"), away(h), cid, TimeInForce.GTT)
        await h.wait_order(cid, lambda u: u.status is OrderStatus.OPEN)
        budget = h.client.budgets.rest.budget
        budget.take(trio.current_time(), budget.capacity - budget.reserved - budget.used)  # normal share spent
        with trio.fail_after(1):
            with hedge_path():
                status = await h.client.order_status(cid)
        assert status is not None and status.status is OrderStatus.OPEN
        with trio.move_on_after(5) as waited:  # and off the hedge path it waits for the minute
            await h.client.order_status(cid)
        assert waited.cancelled_caught


async def test_our_fills_stay_readable_from_the_public_trade_feed_once_every_token_is_refused(tmp_path, autojump_clock):
    # What a Lighter credentials halt back-fills from (DST seeds 516, 2217, 2576, 3109): `trades` needs a
    # token the venue now refuses; `recentTrades` needs none and names both accounts of every trade.
    async with running(tmp_path, sim_settings=SIM, **TOKENS) as h:
        cid = h.client.new_client_id()
        await h.client.place_taker(Side.BUY, Decimal("0.100"), through(h), cid)
        await h.wait_order(cid, lambda u: u.status is OrderStatus.FILLED)
        await _refuse_the_token(h)
        with pytest.raises(AuthError):
            await h.client.trades()
        fills = await h.client.public_trades()
        assert sum(t.qty for t in fills) == h.sim.position(ACCOUNT) == Decimal("0.100")
        order = h.sim.order_by_client_id(ACCOUNT, int(cid))
        assert {(t.side, t.order_id, t.client_id) for t in fills} == {(Side.BUY, str(order.order_index), cid)}
