"""The full-depth book feed: SNAPSHOT/DELTA semantics, continuity, malformed frames."""

from __future__ import annotations

from decimal import Decimal

import pytest
from adapter_fixtures import book_frame, frame

from hedged.venues.base import Side
from hedged.venues.book import OrderBook
from hedged.venues.extended.book import BookFeed, BookResult
from hedged.venues.extended.wire import WireError, decode_frame

D = Decimal


def apply(feed: BookFeed, raw: bytes) -> BookResult:
    return feed.apply(decode_frame(raw))


def snapshot(feed: BookFeed) -> None:
    assert apply(feed, book_frame("SNAPSHOT", 1, [("142.40", "61.20", "61.20"), ("142.39", "5", None)],
                                  [("142.43", "18.75", "18.75")])) is BookResult.APPLIED


def test_delta_sets_absolute_size_from_c_not_q() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    apply(feed, book_frame("DELTA", 2, [("142.40", "-11.20", "50.00"), ("142.38", "4.00", "4.00")], []))
    assert feed.book.size_at(Side.BUY, D("142.40")) == D("50.00")
    assert feed.book.size_at(Side.BUY, D("142.38")) == D("4.00")


def test_delta_without_c_adds_the_change() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    apply(feed, book_frame("DELTA", 2, [("142.39", "-2", None)], [("142.43", "-18.75", None)]))
    assert feed.book.size_at(Side.BUY, D("142.39")) == D("3")
    assert feed.book.best_ask() is None


def test_level_at_zero_disappears_and_top_moves() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    apply(feed, book_frame("DELTA", 2, [("142.40", "-61.20", "0")], []))
    top = feed.top(0.0)
    assert top.bid == D("142.39") and top.ask == D("142.43")


def test_periodic_snapshot_replaces_the_whole_book() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    apply(feed, book_frame("SNAPSHOT", 2, [("100", "1", "1")], [("101", "1", "1")]))
    assert feed.book.levels(Side.BUY) == [(D("100"), D("1"))]
    assert len(feed.book) == 2


def test_seq_gap_is_reported_and_leaves_the_book_alone() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    assert apply(feed, book_frame("DELTA", 3, [("142.40", "1", "62.2")], [])) is BookResult.GAP
    assert feed.book.size_at(Side.BUY, D("142.40")) == D("61.20")


def test_delta_before_any_snapshot_is_a_gap() -> None:
    assert apply(BookFeed("SOL-USD"), book_frame("DELTA", 1, [], [])) is BookResult.GAP


def test_duplicate_change_delta_is_not_applied_twice() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    raw = book_frame("DELTA", 2, [("142.39", "1", None)], [])
    assert apply(feed, raw) is BookResult.APPLIED
    assert apply(feed, raw) is BookResult.DUPLICATE
    assert feed.book.size_at(Side.BUY, D("142.39")) == D("6")


def test_other_market_and_error_frames_are_ignored() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    assert apply(feed, book_frame("DELTA", 2, [("1", "1", "1")], [], market="BTC-USD")) is BookResult.IGNORED
    assert apply(feed, frame("DELTA", None, 2, error="boom")) is BookResult.IGNORED


def test_malformed_delta_raises_and_changes_nothing() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    bad = frame("DELTA", {"m": "SOL-USD", "b": [{"p": "142.39", "q": "1", "c": "1"}, {"q": "1"}], "a": []}, 2)
    with pytest.raises(WireError):
        apply(feed, bad)
    assert feed.book.size_at(Side.BUY, D("142.39")) == D("5")
    assert feed.last_seq == 1


def test_reset_clears_book_and_continuity() -> None:
    feed = BookFeed("SOL-USD")
    snapshot(feed)
    feed.reset()
    assert len(feed.book) == 0 and not feed.synced


def test_generic_book_orders_levels_best_first() -> None:
    book = OrderBook()
    book.replace([(D(1), D(1)), (D(3), D(1)), (D(2), D(0))], [(D(5), D(1)), (D(4), D(2))])
    assert book.levels(Side.BUY) == [(D(3), D(1)), (D(1), D(1))]
    assert book.best_ask() == (D(4), D(2))
    assert book.add_to_level(Side.SELL, D(4), D(-5)) == 0
    assert book.best_ask() == (D(5), D(1)) and not book.is_crossed()
