"""Back-fill: journal the fills the streams never delivered, from each venue's trade history.

Used by the reconciler (start-up, after a re-sync), by the hedge executor at the end of its failure
path, and by a credentials halt (the other venue's history; Lighter's public recent trades)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import trio
from loguru import logger

from hedged.ledger import Ledger
from hedged.venues.base import Trade, VenueClient, VenueError

CALL_S = 10.0  # bound on one venue's read
BACKFILL_MARGIN_MS = 60_000  # trade history is read from a minute before the newest fill the ledger has


async def backfill(ledger: Ledger, clients: Sequence[VenueClient], *, call_s: float = CALL_S,
                   read: Callable[[VenueClient, int], Awaitable[list[Trade]]] | None = None) -> int:
    """Journal the fills each venue's trade history holds that the ledger does not (it skips trade ids
    it already has). `read(client, since_ms)` reads them (default: `client.trades`). A venue that
    cannot answer is logged and skipped. Returns new trades."""
    new = 0
    stamps = ledger.core.venue_ts
    for client in clients:
        # A venue the journal holds nothing of is read from the newest stamp of the other: a crash
        # between a hedge's send and its first commit leaves exactly that (the journal is a
        # committed prefix), and the fill must come back as a fill, not as drift.
        since = stamps.get(client.venue, max(stamps.values(), default=None))
        if since is None:
            continue  # an empty journal (cold start): the reconciliation's baseline covers it
        try:
            with trio.fail_after(call_s):
                since = max(0, since - BACKFILL_MARGIN_MS)
                got = await (client.trades(since_ms=since) if read is None else read(client, since))
        except (VenueError, trio.TooSlowError) as exc:
            logger.warning("backfill_failed venue={} error={!r}", client.venue, exc)
            continue
        market = next(leg.market for leg in ledger.legs() if leg.venue is client.venue)
        n = ledger.backfill(t for t in got if t.market == market)
        if n:
            logger.warning("backfill_fills venue={} new={} read={}", client.venue, n, len(got))
        new += n
    return new
