"""Issue 12 point 1, netting: a maker fill on the other side reduces what is hedged; it never causes
a hedge and its reverse to be live at the same time."""

from __future__ import annotations

from decimal import Decimal as D

import trio

from hedged.venues.base import Side

from .rig import hedge_config, rig


def takers(venue):
    return [c for c in venue.calls if c[0] == "place_taker"]


async def test_a_fill_on_the_other_side_modifies_the_resting_hedge_down_instead_of_sending_the_reverse(autojump_clock):
    async with rig(hedge_cfg=hedge_config(timeout_s=60.0, reprice_after_s=100.0)) as r:
        r.hedge.taker_fill = lambda o: D(0)  # the hedge rests
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: bool(r.hedge.live_orders()))
        (sell,) = takers(r.hedge)
        await r.maker_fill(Side.SELL, "0.3")  # the maker sold 0.3 back
        await r.until(lambda: any(c[0] == "modify" for c in r.hedge.calls))
        (modify,) = [c for c in r.hedge.calls if c[0] == "modify"]
        assert modify[3] == D("0.7")  # the new remaining: 1 - 0.3
        assert len(takers(r.hedge)) == 1  # no BUY was sent
        r.hedge.fill(sell[4], "0.7")
        await r.until(lambda: r.hedge.position == D("-0.7"))
        await ex.wait_flat()
        assert r.venue_net() == 0 and r.ledger_matches_venues() and len(takers(r.hedge)) == 1


async def test_a_larger_fill_on_the_other_side_cancels_the_hedge_before_the_net_is_sent(autojump_clock):
    async with rig(hedge_cfg=hedge_config(timeout_s=60.0, reprice_after_s=100.0)) as r:
        r.hedge.taker_fill = lambda o: D(0)
        ex = r.executor()
        await r.nursery.start(ex.run)
        await r.maker_fill(Side.BUY, "1")
        await r.until(lambda: bool(r.hedge.live_orders()))
        (sell,) = takers(r.hedge)
        r.hedge.taker_fill = r.hedge._crossing_fill
        t0 = trio.current_time()
        await r.maker_fill(Side.SELL, "1.5")  # net -0.5: the SELL hedge is not needed at all
        await r.until(lambda: r.hedge.position == D("0.5"))
        assert trio.current_time() - t0 < 1.0  # at once, not after the resting hedge's 60 s deadline
        sell_again, buy = takers(r.hedge)[0], takers(r.hedge)[1]
        assert sell_again == sell and buy[1] is Side.BUY and buy[2] == D("0.5") and len(takers(r.hedge)) == 2
        cancel_at = r.hedge.calls.index(("cancel", r.hedge.orders[sell[4]].order_id, sell[4]))
        assert cancel_at < r.hedge.calls.index(buy)  # the reverse went out only once the hedge was gone
        await ex.wait_flat()
        assert r.venue_net() == 0 and r.ledger_matches_venues()
        assert ex.statistics().failures == 0  # netting is not a failed attempt


async def test_the_hedge_minimum_follows_the_hedge_book_price_whatever_is_cached():
    """`rules()` folds the minimum order value into min_size at the book's mid; it is asked several times
    per step and remembers its answer for the book it saw: a new book is a new answer."""
    from dataclasses import replace

    async with rig() as r:
        r.hedge.rules = replace(r.hedge.rules, min_notional=D("10"))
        ex = r.executor()
        assert ex.rules().min_size == D("0.100")  # 10 USDC at ~100.05
        assert ex.rules() is ex.rules()
        r.hedge.set_book("49.98", "50.02")
        assert ex.rules().min_size == D("0.200")
        r.hedge.rules = replace(r.hedge.rules, min_notional=D("20"))
        assert ex.rules().min_size == D("0.400")
        assert ex.plan().needed is False
