"""A hedging rig: real LedgerCore (wrapped), two FakeVenues, an alert recorder."""

from __future__ import annotations

import itertools
from functools import partial
import random
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import trio
from trio_util import AsyncValue, wait_any

from hedged.config import CycleConfig, HedgeConfig, RiskConfig
from hedged.ledger import Ledger, LedgerCore, Leg, Roles
from hedged.strategy.cycle import CycleRunner
from hedged.strategy.executor import HedgeExecutor
from hedged.strategy.guard import ExposureGuard
from hedged.strategy.sweep import Sweeper
from hedged.strategy.tolerance import tolerance
from hedged.venues.base import Side, Venue

from .fakes import FakeVenue

D = Decimal


@dataclass
class Alerts:
    sent: list[tuple[str, str, dict]] = field(default_factory=list)

    async def __call__(self, event: str, severity: str, **details) -> None:
        await trio.lowlevel.checkpoint()
        self.sent.append((event, severity, details))

    def events(self) -> list[tuple[str, str]]:
        return [(e, s) for e, s, _ in self.sent]


@dataclass
class Rig:
    ledger: Ledger
    maker: FakeVenue
    hedge: FakeVenue
    alerts: Alerts
    hedge_cfg: HedgeConfig
    cycle_cfg: CycleConfig
    risk_cfg: RiskConfig
    nursery: trio.Nursery
    ids: itertools.count

    def new_client_id(self, venue) -> str:
        return f"{venue}-c{next(self.ids)}"

    def tolerance(self) -> Decimal:
        return tolerance(self.cycle_cfg.size_max, None, self.risk_cfg.tolerance_pct, self.risk_cfg.tolerance_floor)

    def executor(self, **kw) -> HedgeExecutor:
        args = dict(ledger=self.ledger, maker=self.maker, hedge=self.hedge, cfg=self.hedge_cfg,
                    tolerance=self.tolerance, rng=random.Random(5), alert=self.alerts,
                    new_client_id=self.new_client_id)
        args.update(kw)
        return HedgeExecutor(**args)

    def sweeper(self, executor: HedgeExecutor | None = None, settle_s: float = 30.0) -> Sweeper:
        return Sweeper(ledger=self.ledger, maker=self.maker, hedge=self.hedge, risk=self.risk_cfg,
                       tolerance=self.tolerance, alert=self.alerts, new_client_id=self.new_client_id,
                       aggress_bps=D(50), hedge_idle=executor.wait_flat if executor else None,
                       settle_s=settle_s)

    def cycle(self, executor: HedgeExecutor, *, seed: int = 11) -> CycleRunner:
        return CycleRunner(ledger=self.ledger, maker=self.maker, executor=executor, sweeper=self.sweeper(executor),
                           cycle_cfg=self.cycle_cfg, risk_cfg=self.risk_cfg, rng=random.Random(seed),
                           new_client_id=self.new_client_id, alert=self.alerts)

    def guard(self, executor: HedgeExecutor, **kw) -> ExposureGuard:
        args = dict(ledger=self.ledger, maker=self.maker, hedge=self.hedge, hedge_busy=executor.busy,
                    tolerance=self.tolerance, grace_s=self.risk_cfg.guard_grace_s, alert=self.alerts,
                    new_client_id=self.new_client_id, aggress_bps=D(50), reconcile=self.sweeper().reconcile_periodic)
        args.update(kw)
        return ExposureGuard(**args)

    async def maker_fill(self, side: Side, qty, *, resting: Decimal | None = None) -> str:
        """Rest a maker order on the maker venue and let the market fill `qty` of it."""
        cid = self.new_client_id(Venue.EXTENDED)
        size = D(resting) if resting is not None else D(qty)
        self.ledger.register_order(Venue.EXTENDED, cid, side, size)
        top = self.maker.top_of_book.value
        await self.maker.place_maker(side, size, top.bid if side is Side.BUY else top.ask, cid)
        self.maker.fill(cid, qty)
        await self.until(lambda: self.ledger.order(Venue.EXTENDED, cid).counted >= D(qty))
        return cid

    async def until(self, pred, *also: AsyncValue, timeout: float = 120.0) -> None:
        """Wait until `pred()` holds, re-checking on every ledger change and change of `also`."""
        values = (self.ledger.version, *also)
        with trio.fail_after(timeout):
            # Each waiter checks `pred` as it starts, so a change made before it runs is not missed.
            await wait_any(*(partial(v.wait_value, lambda _: pred()) for v in values))

    def venue_net(self) -> Decimal:
        return self.maker.position + self.hedge.position

    def ledger_matches_venues(self) -> bool:
        return (self.ledger.position(Venue.EXTENDED) == self.maker.position
                and self.ledger.position(Venue.LIGHTER) == self.hedge.position)


def cycle_config(**kw) -> CycleConfig:
    base = dict(direction="buy", size_min=D(1), size_max=D(1), size_step=D("0.1"), delay_min_s=1.0, delay_max_s=2.0,
                hold_min_s=2.0, hold_max_s=3.0, iterations=1, chase_min_rest_s=1.0, cancel_throttle_s=0.5,
                maker_timeout_s=600.0)
    base.update(kw)
    return CycleConfig(**base)


def hedge_config(**kw) -> HedgeConfig:
    base = dict(buy_offset_bps_min=D(5), buy_offset_bps_max=D(5), sell_offset_bps_min=D(5), sell_offset_bps_max=D(5),
                reprice_step_bps=D(10), timeout_s=5.0, reprice_after_s=10.0, max_attempts=3,
                backoff_initial_s=0.2, backoff_max_s=2.0)
    base.update(kw)
    return HedgeConfig(**base)


@asynccontextmanager
async def rig(*, hedge_cfg: HedgeConfig | None = None, cycle_cfg: CycleConfig | None = None,
              risk_cfg: RiskConfig | None = None):
    maker = FakeVenue(Venue.EXTENDED, "SOL-USD", bid="100", ask="100.1")
    hedge = FakeVenue(Venue.LIGHTER, "SOL", bid="100.02", ask="100.08", step="0.001", min_size="0.01")
    ledger = Ledger(LedgerCore(Roles(maker=Leg(Venue.EXTENDED, "SOL-USD"), hedge=Leg(Venue.LIGHTER, "SOL"))))
    send, recv = trio.open_memory_channel(1000)
    async with trio.open_nursery() as n:
        await n.start(ledger.run, recv)
        await n.start(maker.run, send.clone())
        await n.start(hedge.run, send.clone())
        yield Rig(ledger, maker, hedge, Alerts(), hedge_cfg or hedge_config(),
                  cycle_cfg or cycle_config(),
                  risk_cfg or RiskConfig(), n, itertools.count(1))
        n.cancel_scope.cancel()
