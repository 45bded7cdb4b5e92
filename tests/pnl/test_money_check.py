"""Reconciliation of our money with the venues' own figures (issue 14, point 3).

The venue here is a stand-in for an adapter's `account_money()` / `funding()` (the adapters get
them in the venue half of the issue): its figures come from a first-principles cash account fed
the same trades the ledger sees, plus whatever the test makes the venue charge on the side.
"""

from __future__ import annotations

from decimal import Decimal as D

import trio

from hedged.ledger import Ledger, LedgerCore, Leg, Roles
from hedged.metrics import Metrics
from hedged.pnl.check import MoneyCheck
from hedged.pnl.tracker import attach
from hedged.venues.base import AccountMoney, FundingPayment, Liquidity, Side, Trade, Venue

MAKER, HEDGE = Leg(Venue.EXTENDED, "SOL-USD"), Leg(Venue.LIGHTER, "SOL")


class VenueBooks:
    """The venue's side: cash, position, fees and funding from first principles."""

    def __init__(self, venue: Venue, market: str, *, mark: str = "100", balance: str = "1000") -> None:
        self.venue, self.market = venue, market
        self.balance, self.position, self.mark = D(balance), D(0), D(mark)
        self.fees = D("7")  # fees of the account's life before our journal began
        self.funding_total = D("-3")
        self.payments: list[FundingPayment] = []
        self.on_call = None  # run during account_money(), e.g. a fill landing meanwhile
        self.calls = 0

    def trade(self, t: Trade) -> None:
        self.balance -= t.side.sign * t.qty * t.price + t.fee
        self.position += t.side.sign * t.qty
        self.fees += t.fee

    def pay(self, p: FundingPayment) -> None:
        self.balance += p.amount
        self.funding_total += p.amount
        self.payments.append(p)

    async def account_money(self) -> AccountMoney:
        self.calls += 1
        await trio.lowlevel.checkpoint()
        if self.on_call is not None:
            self.on_call()
        # This venue keeps cash (traded notional included) and values the position at its mark; a perp
        # venue splits the same equity differently (collateral + realised, and pos * (mark - entry)).
        return AccountMoney(self.venue, self.market, balance=self.balance, realised_pnl=None,
                            unrealised_pnl=self.position * self.mark, mark_price=self.mark, fees_paid=self.fees,
                            funding_total=self.funding_total)

    async def funding(self, *, since_ms: int = 0) -> list[FundingPayment]:
        return [p for p in self.payments if p.ts_ms >= since_ms]


class NoMoney:
    venue = Venue.LIGHTER


def setup(*venues, bound="0.01"):
    ledger = Ledger(LedgerCore(Roles(MAKER, HEDGE)))
    tracker = attach(ledger)
    alerts: list = []

    async def alert(event, severity, **details):
        alerts.append((event, severity, details))

    check = MoneyCheck(ledger=ledger, tracker=tracker, clients=venues, bound=D(bound), alert=alert,
                       metrics=Metrics(process_collector=False))
    return ledger, tracker, check, alerts


def fill(ledger, books, tid, side, qty, price, fee, liq=Liquidity.TAKER):
    t = Trade(books.venue, books.market, tid, None, f"c{tid}", side, D(qty), D(price), D(fee), liq, ts_ms=1)
    ledger.apply(t)
    books.trade(t)


async def test_money_that_agrees_with_the_venue_raises_nothing_and_exports_zero_differences(autojump_clock):
    ext = VenueBooks(Venue.EXTENDED, "SOL-USD")
    ledger, _, check, alerts = setup(ext)
    await check.check()  # baseline: the account's earlier life is not ours
    fill(ledger, ext, "t1", Side.BUY, "2", "99.5", "-0.002", Liquidity.MAKER)
    ext.pay(FundingPayment(Venue.EXTENDED, "SOL-USD", "f1", D("-0.004"), ts_ms=5))  # only the venue's history has it
    ext.mark = D("101")
    found = {d.check: d for d in await check.check()}
    assert set(found) == {"equity", "fees", "funding"}
    assert all(d.difference == 0 for d in found.values()), found
    assert found["equity"].ours == D("2") * (D("101") - D("99.5")) + D("0.002") - D("0.004")
    assert ledger.core.knows_funding(Venue.EXTENDED, "f1")  # back-filled from the funding history
    assert alerts == []
    assert check.metrics.registry.get_sample_value(
        "hedged_pnl_venue_difference_quote", {"venue": "extended", "check": "equity"}) == 0.0


async def test_a_fee_the_ledger_never_saw_is_an_incident_on_the_second_check_in_a_row(autojump_clock):
    ext = VenueBooks(Venue.EXTENDED, "SOL-USD")
    ledger, _, check, alerts = setup(ext)
    await check.check()
    fill(ledger, ext, "t1", Side.BUY, "1", "100", "0.01")
    ext.fees += D("0.05")  # the venue charged more than its trade reports said
    ext.balance -= D("0.05")
    first = {d.check: d for d in await check.check()}
    assert first["fees"].difference == D("0.05") and first["equity"].difference == D("-0.05")
    assert alerts == []  # once may be money still on its way
    await check.check()
    events = sorted((e, d["check"]) for e, _, d in alerts)
    assert events == [("pnl_mismatch", "equity"), ("pnl_mismatch", "fees")]
    sev = {s for _, s, _ in alerts}
    assert sev == {"warning"}


async def test_within_the_bound_is_no_incident(autojump_clock):
    ext = VenueBooks(Venue.EXTENDED, "SOL-USD")
    ledger, _, check, alerts = setup(ext, bound="0.1")
    await check.check()
    ext.fees += D("0.05")
    await check.check()
    await check.check()
    assert alerts == []


async def test_a_fill_during_the_venue_call_skips_the_check_instead_of_comparing_two_instants(autojump_clock):
    ext = VenueBooks(Venue.EXTENDED, "SOL-USD")
    ledger, _, check, alerts = setup(ext)
    await check.check()
    ext.on_call = lambda: fill(ledger, ext, "t9", Side.SELL, "1", "100", "0.5")
    assert await check.check() == []
    ext.on_call = None
    assert all(d.difference == 0 for d in await check.check())


async def test_a_venue_without_account_money_is_named_once_and_not_compared(autojump_clock):
    ledger, _, check, alerts = setup(NoMoney())
    assert await check.check() == [] and await check.check() == []
    assert check._said == {"lighter", "lighter:funding"}


async def test_the_service_checks_after_every_reconciliation_pass(autojump_clock):
    from trio_util import AsyncValue

    ext = VenueBooks(Venue.EXTENDED, "SOL-USD")
    _, _, check, _ = setup(ext)
    passes = AsyncValue(0)
    async with trio.open_nursery() as n:
        await n.start(check.run, passes)
        passes.value += 1
        await check.checks.wait_value(1)
        passes.value += 1
        await check.checks.wait_value(2)
        n.cancel_scope.cancel()
    assert ext.calls == 2


async def test_passes_closer_than_the_reconcile_interval_share_one_money_read(autojump_clock):
    from trio_util import AsyncValue

    ext = VenueBooks(Venue.EXTENDED, "SOL-USD")
    _, _, check, _ = setup(ext)
    check.min_gap_s = 30.0
    passes = AsyncValue(0)
    async with trio.open_nursery() as n:
        await n.start(check.run, passes)
        t0 = trio.current_time()
        passes.value += 1
        await check.checks.wait_value(1)
        assert trio.current_time() - t0 >= 30.0  # not at start: the startup's own reads come first
        for _ in range(3):  # a pass before every short cycle
            await trio.sleep(1)
            passes.value += 1
        await check.checks.wait_value(2)
        assert trio.current_time() - t0 >= 60.0
        n.cancel_scope.cancel()
    assert ext.calls == 2


async def test_a_venue_that_is_re_syncing_is_not_asked_for_its_money(autojump_clock):
    from trio_util import AsyncValue

    ext = VenueBooks(Venue.EXTENDED, "SOL-USD")
    ext.synced = AsyncValue(False)  # its re-sync's REST reads come first
    _, _, check, _ = setup(ext)
    assert await check.check() == [] and ext.calls == 0
    ext.synced.value = True
    assert await check.check() != [] and ext.calls == 1


class NoFundingTotal(VenueBooks):
    """Extended's picture: balance and the position's PnL, no funding total (the history alone has it)."""

    async def account_money(self) -> AccountMoney:
        money = await super().account_money()
        return AccountMoney(money.venue, money.market, balance=money.balance, realised_pnl=None,
                            unrealised_pnl=money.unrealised_pnl, mark_price=money.mark_price, fees_paid=money.fees_paid)


async def test_a_venue_without_a_funding_total_whose_equity_moved_apart_has_its_funding_history_read_at_once(
        autojump_clock):
    ext = NoFundingTotal(Venue.EXTENDED, "SOL-USD")
    ledger, _, check, alerts = setup(ext)
    await check.check()  # the first check reads the history; the next paced read is 10 min away
    fill(ledger, ext, "t1", Side.BUY, "1", "100", "0")
    ext.pay(FundingPayment(Venue.EXTENDED, "SOL-USD", "f1", D("-0.004"), ts_ms=5))
    found = {d.check: d for d in await check.check()}
    assert ledger.core.knows_funding(Venue.EXTENDED, "f1")  # read now, not at the next paced read
    assert found["equity"].difference == 0 and alerts == []


class TradeHistory(VenueBooks):
    """A venue whose account stream froze: the order's cumulative fill came (by REST), its trades did not."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.history: list[Trade] = []
        self.reads = 0

    async def trades(self, *, since_ms: int = 0) -> list[Trade]:
        self.reads += 1
        return [t for t in self.history if t.ts_ms >= since_ms]


async def test_a_fill_counted_without_its_trade_record_gets_it_from_the_trade_history_and_its_money_into_pnl(
        autojump_clock):
    from hedged.venues.base import OrderStatus, OrderUpdate

    ext = TradeHistory(Venue.EXTENDED, "SOL-USD")
    ledger, tracker, check, alerts = setup(ext)
    await check.check()
    assert ext.reads == 0  # every counted fill has its trade record: nothing to read
    ledger.register_order(MAKER, "m1", Side.BUY, D("2"))
    t = Trade(Venue.EXTENDED, "SOL-USD", "t7", "77", "m1", Side.BUY, D("2"), D("99.5"), D("0.01"), Liquidity.TAKER,
              ts_ms=5_000)
    ext.history.append(t)
    ext.trade(t)  # the venue's books moved; our stream said nothing
    ledger.apply(OrderUpdate(Venue.EXTENDED, "SOL-USD", "77", "m1", Side.BUY, OrderStatus.FILLED, D("2"), D("2"),
                             avg_price=D("99.5"), ts_ms=5_000))
    assert ledger.position(Venue.EXTENDED) == 2 and tracker.book.positions[Venue.EXTENDED].size == 0
    found = {d.check: d for d in await check.check()}
    assert ext.reads == 1 and tracker.book.positions[Venue.EXTENDED].size == 2
    assert ledger.position(Venue.EXTENDED) == 2  # the trade record adds money, not a second fill
    assert found["equity"].difference == 0 and found["fees"].difference == 0 and alerts == []
    await check.check()
    assert ext.reads == 1  # nothing is missing any more
