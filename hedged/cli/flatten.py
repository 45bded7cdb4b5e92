"""`hedged flatten`: one shot, bring both legs to zero and leave no order open.

Steps: start both adapters (their streams feed a ledger) -> reconcile the ledger with both
venues -> cancel all open orders on both venues and wait until the streams confirm it ->
close each leg's position with IOC orders (up to `ATTEMPTS` tries, each crossing the book
further) -> read both venues' positions and open orders again (REST, the truth) -> report.

The ledger is an in-memory `LedgerCore`, not the daemon's journal: this command must never
create, migrate or write a file a stopped (or, by mistake, a running) daemon owns. The venues
are the truth either way: the daemon's next start reconciles its journal with them
(`warm_restart_drift` adjustments) and sees the flatten's effect there.

Decisions between IOC attempts use the ledger's position (reconciled at the start, then moved
by the stream's fills) rather than a fresh REST read, because a REST position that lags a
fill would make a second IOC trade the same position again. Only the final verdict comes
from REST; if it lags, the verdict errs towards "something remains" (exit 2).

A leg whose remaining size is below the venue's smallest tradeable size (`min_size`, raised
to meet the minimum order value at the current price) cannot be closed by any order and is
reported as dust; it counts as flat.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, TextIO

import trio
from loguru import logger

from hedged import logs
from hedged.config import Config
from hedged.ledger import Ledger, LedgerCore, Leg, ReconcileKind, Roles
from hedged.cli.state import EXIT_ERROR, EXIT_OK, EXIT_REMAINS, render_table
from hedged.secrets import MissingSecret
from hedged.strategy.failsafe import ioc_order, venue_position  # the failure path's own IOC step
from hedged.strategy.ports import is_settled
from hedged.venues.base import ZERO, Side, VenueClient, VenueError

ATTEMPTS = 3
START_S = 30.0  # adapters connected, subscribed, synced, with a book on both sides
CALL_S = 10.0  # one REST round (positions, open orders, cancel all)
SETTLE_S = 10.0  # an IOC or a cancel confirmed on the stream


@dataclass
class FlattenOrder:
    client_id: str
    side: str
    qty: Decimal
    filled: Decimal
    avg_price: Decimal | None
    status: str


@dataclass
class LegReport:
    venue: str
    market: str
    position_before: Decimal
    open_orders_before: int
    orders: list[FlattenOrder] = field(default_factory=list)
    position_after: Decimal | None = None  # from the venue (REST) at the end; None if it could not be read
    open_orders_after: int | None = None
    dust: Decimal = ZERO  # the smallest tradeable size: anything below it cannot be closed
    flat: bool = False


@dataclass
class FlattenReport:
    legs: list[LegReport]
    ok: bool
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


def _dust(client: VenueClient) -> Decimal:
    top = client.top_of_book.value
    mid = None if top is None else top.mid
    return client.rules.min_size_at(mid) if mid else client.rules.min_size


async def _wait_book(client: VenueClient) -> None:
    await client.top_of_book.wait_value(lambda t: t is not None and t.bid is not None and t.ask is not None)


async def _wait_no_live_orders(ledger: Ledger) -> None:
    await ledger.version.wait_value(lambda _: ledger.statistics().live_orders == 0)


async def flatten_both(ledger: Ledger, clients: Sequence[VenueClient], *, aggress_bps: Decimal,
                       settle_s: float = SETTLE_S) -> FlattenReport:
    """The flatten itself, over adapters whose `run()` is feeding `ledger` (see `flatten_with_venues`)."""
    errors: list[str] = []
    with trio.fail_after(CALL_S):
        positions = [s for c in clients for s in await c.positions()]
        orders = [u for c in clients for u in await c.open_orders()]
    plan = ledger.reconcile(positions, orders, kind=ReconcileKind.COLD)
    legs = [LegReport(str(c.venue), c.rules.market, plan.exposure.get(Leg(c.venue, c.rules.market), ZERO),
                      sum(1 for u in orders if u.venue == c.venue and u.market == c.rules.market)) for c in clients]
    logger.warning("flatten_start positions={} open_orders={}", {r.venue: r.position_before for r in legs},
                   {r.venue: r.open_orders_before for r in legs})

    for client in clients:
        try:
            with trio.fail_after(CALL_S):
                await client.cancel_all()
        except (VenueError, trio.TooSlowError) as exc:
            errors.append(f"{client.venue}: cancel all failed: {exc!r}")
            logger.error("flatten_cancel_all_failed venue={} error={!r}", client.venue, exc)
    # A cancel is confirmed on the stream; a fill racing it moves the ledger position first.
    with trio.move_on_after(settle_s) as waited:
        await _wait_no_live_orders(ledger)
    if waited.cancelled_caught:
        errors.append(f"{ledger.statistics().live_orders} order(s) not confirmed cancelled within {settle_s} s")

    for client, leg in zip(clients, legs, strict=True):
        await _close_leg(ledger, client, leg, aggress_bps, settle_s)

    for client, leg in zip(clients, legs, strict=True):
        leg.dust = _dust(client)
        try:
            with trio.fail_after(CALL_S):
                leg.position_after = await venue_position(client)
                leg.open_orders_after = len(await client.open_orders())
        except (VenueError, trio.TooSlowError) as exc:
            errors.append(f"{client.venue}: final read failed: {exc!r}")
            continue
        leg.flat = abs(leg.position_after) < leg.dust and leg.open_orders_after == 0
    report = FlattenReport(legs, all(leg.flat for leg in legs), errors)
    logger.log("WARNING" if report.ok else "ERROR", "flatten_done ok={} positions={} open_orders={}", report.ok,
               {r.venue: r.position_after for r in legs}, {r.venue: r.open_orders_after for r in legs})
    return report


async def _close_leg(ledger: Ledger, client: VenueClient, leg: LegReport, aggress_bps: Decimal,
                     settle_s: float) -> None:
    sent: list[str] = []

    def new_client_id(_venue: object) -> str:
        cid = client.new_client_id()  # type: ignore[attr-defined]
        sent.append(cid)
        return cid

    for attempt in range(1, ATTEMPTS + 1):
        pos = ledger.position(client.venue)
        qty = client.rules.round_size_down(abs(pos))
        if qty < _dust(client):
            break
        # Each further try crosses the book further: the book may have moved away from the first.
        await ioc_order(client, ledger, Side.for_delta(-pos), qty, aggress_bps * attempt, new_client_id, settle_s)
        rec = ledger.order(client.venue, sent[-1]) if sent else None
        if rec is None or not is_settled(rec):
            # Unknown outcome (no book, a placement error, no confirmation): another order could trade
            # the same position twice, so stop here and let the final read tell.
            logger.error("flatten_attempt_unsettled venue={} attempt={} client_id={}", client.venue, attempt,
                         sent[-1] if sent else None)
            break
    for cid in sent:
        rec = ledger.order(client.venue, cid)
        if rec is not None:
            leg.orders.append(FlattenOrder(cid, str(rec.side), rec.qty, rec.counted, rec.avg_price, str(rec.status)))


async def flatten_with_venues(clients: Sequence[VenueClient], roles: Roles | None = None, *,
                              aggress_bps: Decimal, settle_s: float = SETTLE_S) -> FlattenReport:
    """Start the adapters and an in-memory ledger, flatten, stop them. `clients[0]` is the maker leg."""
    send, recv = trio.open_memory_channel[Any](math.inf)
    async with trio.open_nursery() as n:
        with trio.fail_after(START_S):
            for client in clients:
                await n.start(client.run, send.clone())
            for client in clients:
                await _wait_book(client)
        if roles is None:
            roles = Roles(maker=Leg(clients[0].venue, clients[0].rules.market),
                          hedge=Leg(clients[1].venue, clients[1].rules.market))
        ledger = Ledger(LedgerCore(roles))
        await n.start(ledger.run, recv)
        report = await flatten_both(ledger, clients, aggress_bps=aggress_bps, settle_s=settle_s)
        n.cancel_scope.cancel()
    return report


def is_sim(cfg: Config) -> bool:
    return cfg.venues.extended.mode == "sim" and cfg.venues.lighter.mode == "sim"


async def flatten_main(cfg: Config, *, rng: random.Random) -> FlattenReport:
    from hedged.venues.assembly import SimPair, build_venues

    async with AsyncExitStack() as stack:
        pair = None
        if "sim" in (cfg.venues.extended.mode, cfg.venues.lighter.mode):
            # A fresh embedded simulator holds nothing; flattening it exercises the whole path end to end.
            pair = await stack.enter_async_context(SimPair.build(cfg).running())
        venues = build_venues(cfg, sim=pair, rng=rng, in_memory=pair is not None)
        return await flatten_with_venues([venues.extended, venues.lighter], aggress_bps=cfg.risk.flatten_aggress_bps)


def render(report: FlattenReport) -> str:
    rows = []
    for leg in report.legs:
        done = "; ".join(f"{o.side} {o.qty} IOC -> filled {o.filled}" + (f" @ {o.avg_price}" if o.avg_price else "")
                         + f" ({o.status})" for o in leg.orders) or "none"
        rows.append((leg.venue, leg.market, str(leg.position_before), str(leg.open_orders_before), done,
                     "?" if leg.position_after is None else str(leg.position_after),
                     "?" if leg.open_orders_after is None else str(leg.open_orders_after),
                     "flat" if leg.flat else "NOT FLAT"))
    lines = [render_table(("VENUE", "MARKET", "POSITION BEFORE", "OPEN ORDERS", "FLATTEN ORDERS", "POSITION AFTER",
                           "OPEN AFTER", "RESULT"), rows)]
    for leg in report.legs:
        if leg.flat and leg.position_after:
            lines.append(f"{leg.venue}: {leg.position_after} left is below the smallest tradeable size {leg.dust}")
    lines += [f"error: {e}" for e in report.errors]
    lines.append("both legs flat, no order open" if report.ok else "SOMETHING REMAINS: check the venues")
    return "\n".join(lines)


def cmd_flatten(args: argparse.Namespace, cfg: Config, *, out: TextIO | None = None,
                err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if not is_sim(cfg):
        if not args.yes:
            print("hedged flatten: this trades on a live venue; run again with --yes", file=err)
            return EXIT_ERROR
        from hedged.cli.status import fetch_live, status_url

        # A running daemon would hedge the flatten's own trades; it must be stopped first.
        if fetch_live(cfg)[0] is not None:
            print(f"hedged flatten: the daemon is running ({status_url(cfg)}); stop it first", file=err)
            return EXIT_ERROR
    # stderr, secrets redacted. The answer is the report on stdout; the log keeps the audit trail at
    # WARNING (flatten_start, flatten_done, every failure), not the adapters' INFO start-up lines.
    logs.setup("WARNING", cfg.log.format)
    failure: BaseException | None = None
    try:
        report = trio.run(lambda: flatten_main(cfg, rng=random.Random()))
    except* (VenueError, MissingSecret, trio.TooSlowError, OSError) as group:
        failure = group.exceptions[0]
    if failure is not None:
        print(f"hedged flatten: could not run, nothing verified: {type(failure).__name__}: {failure}", file=err)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(report.to_json(), indent=2), file=out)
    else:
        print(render(report), file=out)
    return EXIT_OK if report.ok else EXIT_REMAINS
