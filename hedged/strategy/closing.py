"""Close both legs (the `daemon.on_stop = "flatten"` stop): cancel everything, trade the hedge leg
to zero with one IOC, then the maker leg to minus what the hedge leg still holds (so a leg that
cannot trade leaves the position hedged, not naked), then read both venues again: closed means both
are below the smallest order each venue accepts (nothing more can be traded away).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import trio
from loguru import logger

from hedged.strategy.failsafe import ioc_order, venue_position
from hedged.strategy.ports import Alert, LedgerPort
from hedged.venues.base import Side, VenueClient, VenueError


@dataclass(frozen=True, slots=True)
class CloseResult:
    maker_after: Decimal | None  # None: the venue could not be read
    hedge_after: Decimal | None
    closed: bool

    @property
    def net_after(self) -> Decimal | None:
        if self.maker_after is None or self.hedge_after is None:
            return None
        return self.maker_after + self.hedge_after


def _closed(client: VenueClient, position: Decimal | None) -> bool:
    return position is not None and client.rules.round_size_down(abs(position)) < client.rules.min_size


async def _read(client: VenueClient, settle_s: float) -> Decimal | None:
    try:
        with trio.fail_after(settle_s):
            return await venue_position(client)
    except (VenueError, trio.TooSlowError) as exc:
        logger.error("close_legs_read_failed venue={} error={}", client.venue, exc)
        return None


async def _trade(client: VenueClient, ledger: LedgerPort, delta: Decimal, aggress_bps: Decimal,
                 new_client_id: Callable[[object], str], settle_s: float) -> None:
    """One IOC moving `client`'s position by `delta` (rounded down to its step), if it is tradeable."""
    qty = client.rules.round_size_down(abs(delta))
    if qty >= client.rules.min_size:
        await ioc_order(client, ledger, Side.SELL if delta < 0 else Side.BUY, qty, aggress_bps, new_client_id,
                        settle_s)


async def close_legs(*, ledger: LedgerPort, maker: VenueClient, hedge: VenueClient,
                     new_client_id: Callable[[object], str], aggress_bps: Decimal, settle_s: float,
                     alert: Alert) -> CloseResult:
    """Never raises a VenueError; runs shielded (each step bounded by `settle_s`)."""
    with trio.CancelScope(shield=True):
        logger.warning("close_legs_start maker={} hedge={}", ledger.position(maker.venue), ledger.position(hedge.venue))
        for client in (maker, hedge):
            try:
                with trio.fail_after(settle_s):
                    await client.cancel_all()
            except (VenueError, trio.TooSlowError) as exc:
                logger.error("close_legs_cancel_all_failed venue={} error={}", client.venue, exc)
        # The hedge leg first, then the maker leg only down to what the hedge leg kept: a leg that
        # cannot trade (its book pulled) must not turn a hedged position into a naked one.
        h_pos = await _read(hedge, settle_s)
        if h_pos is not None and not _closed(hedge, h_pos):
            await _trade(hedge, ledger, -h_pos, aggress_bps, new_client_id, settle_s)
            h_pos = await _read(hedge, settle_s)
        m_pos = await _read(maker, settle_s)
        if h_pos is not None and m_pos is not None:
            await _trade(maker, ledger, -h_pos - m_pos, aggress_bps, new_client_id, settle_s)
        m_after, h_after = await _read(maker, settle_s), await _read(hedge, settle_s)
        result = CloseResult(m_after, h_after, _closed(maker, m_after) and _closed(hedge, h_after))
        logger.log("INFO" if result.closed else "ERROR", "close_legs_done maker={} hedge={} closed={}",
                   m_after, h_after, result.closed)
        if not result.closed:
            await alert("close_legs_failed", "critical", maker=str(m_after), hedge=str(h_after),
                        net=str(result.net_after))
        return result

