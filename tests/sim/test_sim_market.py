"""The shared market model: determinism, book shape, taker matching, other traders' flow."""

from decimal import Decimal

from hedged.venues.base import Side
from hedged.sim.common.market import Flow, Market, MarketSettings, RestingOrder, match_resting

TICK = Decimal("0.01")
STEP = Decimal("0.01")


def run(seed: int, steps: int = 200) -> list[tuple]:
    market = Market(MarketSettings(seed=seed))
    ext = market.venue("extended", tick=TICK, step=STEP)
    lig = market.venue("lighter", tick=Decimal("0.001"), step=Decimal("0.001"))
    market.advance(0.0)
    trace = []
    for i in range(1, steps + 1):
        market.advance(i * 0.1 + 1e-9)
        trace.append((market.reference, ext.bids[:3], ext.asks[:3], lig.bids[:1], tuple(ext.drain_flow())))
    return trace


def test_same_seed_gives_the_same_run():
    assert run(7) == run(7)


def test_different_seeds_give_different_runs():
    assert run(7) != run(8)


def test_reference_path_does_not_depend_on_other_venues():
    alone = Market(MarketSettings(seed=3))
    alone.venue("extended", tick=TICK, step=STEP)
    both = Market(MarketSettings(seed=3))
    both.venue("extended", tick=TICK, step=STEP)
    both.venue("lighter", tick=Decimal("0.001"), step=Decimal("0.001"))
    for m in (alone, both):
        m.advance(0.0)
        m.advance(10.0 + 1e-9)
    assert alone.steps == both.steps == 100
    assert alone.reference == both.reference


def test_books_are_on_tick_and_step_with_a_positive_spread_and_a_basis():
    market = Market(MarketSettings(seed=1, basis=Decimal("0.01")))
    ext = market.venue("extended", tick=TICK, step=STEP)
    lig = market.venue("lighter", tick=Decimal("0.001"), step=Decimal("0.001"))
    market.advance(0.0)
    market.advance(5.0)
    for book in (ext, lig):
        assert len(book.bids) == len(book.asks) == market.settings.depth_levels
        assert book.best_bid < book.best_ask
        for price, size in book.bids + book.asks:
            assert price % book.tick == 0 and size % book.step == 0 and size > 0
        assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert ext.best_bid > lig.best_ask  # +0.5 % vs -0.5 %


def test_taker_order_fills_partially_on_a_thin_book_and_respects_its_limit():
    market = Market(MarketSettings(seed=1, depth_levels=2, level_size=Decimal("1")))
    book = market.venue("lighter", tick=TICK, step=STEP)
    available = sum(s for _, s in book.asks)
    fills = book.take(Side.BUY, available + 5)
    assert sum(f.qty for f in fills) == available
    assert book.asks == []
    best_bid, best_size = book.bids[0]
    limited = book.take(Side.SELL, Decimal("100"), limit=best_bid)
    assert [(f.price, f.qty) for f in limited] == [(best_bid, best_size)]
    assert book.best_bid == best_bid - TICK


def test_pulled_book_gives_a_taker_nothing_until_restored():
    market = Market(MarketSettings(seed=1))
    book = market.venue("lighter", tick=TICK, step=STEP)
    book.pull(Side.SELL)
    market.step()
    assert book.take(Side.BUY, Decimal("1")) == []
    book.restore()
    market.step()
    assert sum(f.qty for f in book.take(Side.BUY, Decimal("1"))) == Decimal("1")


def test_post_only_crossing_is_detected_on_both_sides():
    market = Market(MarketSettings(seed=1))
    book = market.venue("extended", tick=TICK, step=STEP)
    assert book.would_cross(Side.BUY, book.best_ask)
    assert not book.would_cross(Side.BUY, book.best_ask - TICK)
    assert book.would_cross(Side.SELL, book.best_bid)
    assert not book.would_cross(Side.SELL, book.best_bid + TICK)


def test_flow_fills_only_orders_at_or_through_the_best_price_in_partial_sizes():
    market = Market(MarketSettings(seed=1))
    book = market.venue("extended", tick=TICK, step=STEP)
    at_best = RestingOrder("a", Side.BUY, book.best_bid, Decimal("2"))
    behind = RestingOrder("b", Side.BUY, book.best_bid - TICK, Decimal("2"))
    fills = match_resting(book, [behind, at_best], [Flow(Side.SELL, Decimal("0.4")), Flow(Side.BUY, Decimal("1"))])
    assert [(f.key, f.qty, f.price) for f in fills] == [("a", Decimal("0.4"), at_best.price)]
    assert at_best.remaining == Decimal("1.6") and behind.remaining == Decimal("2")


def test_an_order_the_book_moved_through_gets_filled():
    market = Market(MarketSettings(seed=1, volatility=0))
    book = market.venue("extended", tick=TICK, step=STEP)
    order = RestingOrder("x", Side.SELL, book.best_ask, Decimal("1"))
    market.move_price(Decimal("2"))
    filled = Decimal(0)
    for _ in range(50):
        filled += sum(f.qty for f in match_resting(book, [order], []))
    assert filled == Decimal("1") and order.remaining == 0


def test_generated_flow_sizes_stay_within_the_configured_range():
    s = MarketSettings(seed=5, flow_rate=5.0, flow_size_min=Decimal("0.1"), flow_size_max=Decimal("0.3"))
    market = Market(s)
    book = market.venue("extended", tick=TICK, step=STEP)
    market.advance(0.0)
    market.advance(100.0)
    flows = book.drain_flow()
    assert len(flows) > 100
    assert all(Decimal("0.1") <= f.qty <= Decimal("0.3") for f in flows)
    assert {f.aggressor for f in flows} == {Side.BUY, Side.SELL}
    assert book.drain_flow() == []
