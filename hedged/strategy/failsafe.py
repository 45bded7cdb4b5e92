"""The failure path shared by the hedge executor and the exposure guard.

cancel everything on both venues -> read both venues' positions (the truth) -> if the net is
beyond tolerance, trade it away with one IOC on the venue holding the larger leg -> re-read
both venues -> alert. The caller halts when the result is not back within tolerance. The hedge
executor then back-fills both venues' trade history, so the fills behind the positions it acted on
are in the journal (a hedge it never established filled unseen: DST seed 3392).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import trio
from loguru import logger

from hedged.strategy.ports import Alert, LedgerPort, is_settled, wait_order
from hedged.strategy.tolerance import within
from hedged.venues.base import ZERO, Side, TimeInForce, VenueClient, VenueError

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class FlattenResult:
    net_before: Decimal
    net_after: Decimal | None  # None: the venues could not be read afterwards
    flattened_on: str | None  # venue traded on, if any
    qty: Decimal
    recovered: bool


async def venue_position(client: VenueClient) -> Decimal:
    snaps = await client.positions()
    return sum((s.size for s in snaps if s.market == client.rules.market), ZERO)


async def read_net(maker: VenueClient, hedge: VenueClient) -> tuple[Decimal, Decimal]:
    return await venue_position(maker), await venue_position(hedge)


async def flatten_and_verify(
    *,
    reason: str,
    ledger: LedgerPort,
    maker: VenueClient,
    hedge: VenueClient,
    tol: Decimal,
    alert: Alert,
    new_client_id: Callable[[object], str],
    aggress_bps: Decimal,
    settle_s: float = 5.0,
) -> FlattenResult:
    """Run the failure path once. Never raises a VenueError: a failed step is logged and the
    verification decides. Runs shielded, so a stop request cannot leave it half done."""
    with trio.CancelScope(shield=True):
        logger.error("failure_path_start reason={} tolerance={}", reason, tol)
        for client in (maker, hedge):
            try:
                with trio.fail_after(settle_s):
                    await client.cancel_all()
            except (VenueError, trio.TooSlowError) as exc:
                logger.error("failure_path_cancel_all_failed venue={} error={}", client.venue, exc)
        try:
            with trio.fail_after(settle_s):
                m_pos, h_pos = await read_net(maker, hedge)
        except (VenueError, trio.TooSlowError) as exc:
            logger.error("failure_path_read_failed error={}", exc)
            await alert("failure_path", "critical", reason=reason, stage="read_positions", error=str(exc))
            return FlattenResult(ZERO, None, None, ZERO, False)
        net = m_pos + h_pos
        flattened_on: str | None = None
        qty = ZERO
        if not within(net, tol):
            target = maker if abs(m_pos) >= abs(h_pos) else hedge
            qty = target.rules.round_size_down(abs(net))
            if qty >= target.rules.min_size:
                flattened_on = str(target.venue)
                await ioc_order(target, ledger, Side.for_delta(-net), qty, aggress_bps, new_client_id, settle_s)
        net_after: Decimal | None
        try:
            with trio.fail_after(settle_s):
                m2, h2 = await read_net(maker, hedge)
            net_after = m2 + h2
        except (VenueError, trio.TooSlowError) as exc:
            logger.error("failure_path_reread_failed error={}", exc)
            net_after = None
        recovered = net_after is not None and within(net_after, tol)
        result = FlattenResult(net, net_after, flattened_on, qty, recovered)
        logger.log("WARNING" if recovered else "ERROR",
                   "failure_path_done reason={} net_before={} net_after={} flattened_on={} qty={} recovered={}",
                   reason, net, net_after, flattened_on, qty, recovered)
        event = "exposure_unrecovered" if not recovered else (
            "exposure_flattened" if flattened_on else "exposure_within_tolerance")
        await alert(event,
                    "warning" if recovered else "critical", reason=reason, net_before=str(net),
                    net_after=str(net_after), flattened_on=flattened_on, qty=str(qty), tolerance=str(tol))
        return result


async def ioc_order(client: VenueClient, ledger: LedgerPort, side: Side, qty: Decimal, aggress_bps: Decimal,
               new_client_id: Callable[[object], str], settle_s: float) -> None:
    top = client.top_of_book.value
    ref = None if top is None else (top.ask if side is Side.BUY else top.bid)
    if ref is None:
        logger.error("failure_path_no_book venue={}", client.venue)
        return
    factor = 1 + aggress_bps / _BPS if side is Side.BUY else 1 - aggress_bps / _BPS
    price = max(client.rules.tick, client.rules.round_price(ref * factor, up=side is Side.BUY))
    cid = new_client_id(client.venue)
    ledger.register_order(client.venue, cid, side, qty)
    logger.warning("flatten_sent venue={} side={} qty={} price={} client_id={}", client.venue, side, qty, price, cid)
    try:
        with trio.fail_after(settle_s):
            await client.place_taker(side, qty, price, cid, TimeInForce.IOC)
            await wait_order(ledger, client.venue, cid, is_settled)
    except VenueError as exc:
        logger.error("flatten_failed venue={} error={}", client.venue, exc)
    except trio.TooSlowError:
        logger.error("flatten_unsettled venue={} client_id={}", client.venue, cid)
