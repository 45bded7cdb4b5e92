"""The credentials watch: count, alert once, halt at the bound; one stale token is one refusal."""

import pytest
import trio

from hedged.errors import Halted
from hedged.venues.base import Venue
from hedged.venues.credentials import CredentialRefusals, watch
from hedged.venues.lighter.nonces import AuthTokens


async def test_refusals_alert_once_and_halt_at_the_bound_within_the_window(autojump_clock):
    refusals = CredentialRefusals(Venue.EXTENDED)
    alerts, counted = [], []

    async def alert(event, severity, **details):
        alerts.append((event, severity, details["venue"]))

    async def refuse_slowly():
        refusals.refused("POST /user/order", "Invalid Starknet signature (code 1101)")
        await trio.sleep(700)  # outside the window: the first one no longer counts
        refusals.refused("POST /user/order", "Invalid Starknet signature (code 1101)")
        refusals.refused("POST /user/order", "Invalid Starknet signature (code 1101)")
        await trio.sleep(1)
        refusals.refused("POST /user/order", "Invalid Starknet signature (code 1101)")

    async with trio.open_nursery() as n:
        n.start_soon(refuse_slowly)
        t0 = trio.current_time()
        with pytest.raises(Halted, match=r"^extended refused our credentials 3 times: POST /user/order"):
            await watch(refusals, alert=alert, on_refused=counted.append, bound=3, window_s=600)
        assert trio.current_time() - t0 == pytest.approx(701)
    assert alerts == [("credentials_refused", "critical", "extended"), ("credentials_halted", "critical", "extended")]
    assert counted == [Venue.EXTENDED] * 4


async def test_one_token_refused_on_every_channel_counts_once(autojump_clock):
    seen = []

    async def mint(deadline: int) -> str:
        await trio.lowlevel.checkpoint()
        return f"token-{deadline}-{len(seen)}"

    tokens = AuthTokens(mint, lambda: 1_800_000_000.0, lifetime_s=3600, refresh_margin_s=600, retry_s=5.0,
                        on_refused=seen.append)
    async with trio.open_nursery() as n:
        await n.start(tokens.run)
        for _ in range(4):  # four private channels refuse the same token
            tokens.refresh_soon()
        assert len(seen) == 1
        await tokens.token.wait_transition()  # a new token is minted (no sooner than retry_s)
        tokens.refresh_soon()
        assert len(seen) == 2 and tokens.refusals == 2
        n.cancel_scope.cancel()
