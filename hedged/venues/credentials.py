"""Credential refusals: the venue says our API key, auth token or order signature is not valid.

A wrong Stark key, an unregistered or replaced Lighter API key, or tokens the venue keeps refusing
never fix themselves by retrying: every order is refused, or the service restarts forever. So each
adapter reports every such refusal here (`refused`), and the engine's credentials watch (`watch`)
counts them in the metric, alerts once per venue, and halts trading once `bound` refusals fall
within `window_s` (a second alert, `credentials_halted`): a one-line reason, exit code 3, which
systemd does not restart (RestartPreventExitStatus=3). One stray refusal (a token that expired in flight) does not halt.
If the adapter cannot see some orders' outcome at that moment (its account stream refused), the
halt says which (`unseen`: a `fills_unseen` incident and the reason's tail); their fills reach the
journal from what the venues still answer before the halt (`before_halt`: the engine reads the other
venue's trade history, and Lighter's public trade feed), else when the next start back-fills trade
history with working credentials; never by a guess.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from loguru import logger
from trio_util import AsyncValue

from hedged.errors import Halted
from hedged.venues.base import Venue

REFUSAL_BOUND = 3  # refusals within the window that halt trading
REFUSAL_WINDOW_S = 600.0


class CredentialRefusals:
    """What one adapter saw. The adapter only reports; the policy lives in `watch`."""

    def __init__(self, venue: Venue, *, unseen: Callable[[], str | None] | None = None) -> None:
        self.venue = venue
        self.count: AsyncValue[int] = AsyncValue(0)
        self.last_reason = ""
        # What the adapter cannot see now (orders whose fills a refused account stream would carry), or
        # None: read at the halt, so its reason says which fills may be missing from the journal.
        self.unseen = unseen or (lambda: None)

    def refused(self, what: str, reason: object) -> None:
        # `reason` is the venue's (short) error text; secrets never appear in it.
        self.last_reason = f"{what}: {reason}"[:200]
        self.count.value += 1
        logger.error("credentials_refused venue={} what={} count={} error={}", self.venue, what,
                     self.count.value, str(reason)[:200])


async def watch(refusals: CredentialRefusals, *, alert: Callable[..., Awaitable[Any]],
                on_refused: Callable[[Venue], None] | None = None, bound: int = REFUSAL_BOUND,
                window_s: float = REFUSAL_WINDOW_S,
                before_halt: Callable[[Venue], Awaitable[None]] | None = None) -> None:
    """Count, alert once, and raise `Halted` at the bound. Runs until then. `before_halt(venue)` runs
    first: what can still be learned from the venues whose credentials work (the engine back-fills
    their fills into the journal), so the halt leaves no fill of theirs uncounted."""
    seen = refusals.count.value
    recent: deque[float] = deque()
    alerted = False
    while True:
        await refusals.count.wait_value(lambda c: c > seen)
        now = trio.current_time()
        new, seen = refusals.count.value - seen, refusals.count.value
        for _ in range(new):
            recent.append(now)
            if on_refused is not None:
                on_refused(refusals.venue)
        while recent and recent[0] <= now - window_s:
            recent.popleft()
        if not alerted:
            alerted = True
            await alert("credentials_refused", "critical", venue=str(refusals.venue), reason=refusals.last_reason,
                        halts_after=bound)
        if len(recent) >= bound:
            reason = f"{refusals.venue} refused our credentials {len(recent)} times: {refusals.last_reason}"
            if before_halt is not None:
                # Shielded (it is bounded): a stop arriving meanwhile must not cancel the halt itself.
                with trio.CancelScope(shield=True):
                    try:
                        await before_halt(refusals.venue)
                    except Exception as exc:  # noqa: BLE001 (what could be learned is a bonus; the halt is not)
                        logger.error("credentials_last_word_failed venue={} error={!r}", refusals.venue, exc)
            unseen = refusals.unseen()
            if unseen:
                # Never guessed into the journal: said where a person looks (incident, halt line).
                logger.error("credentials_halt_unseen venue={} detail={}", refusals.venue, unseen)
                await alert("fills_unseen", "critical", venue=str(refusals.venue), detail=unseen)
                reason = f"{reason}; {unseen}"
            # The halt is its own incident: the first refusal's alert may predate a graceful stop the halt
            # then ends with exit 3 (DST seed 3386), and an exit 3 is always explained by one.
            await alert("credentials_halted", "critical", venue=str(refusals.venue), reason=reason)
            raise Halted(reason, venue=str(refusals.venue))
