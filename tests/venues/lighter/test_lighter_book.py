"""Book continuity with lists of frames: begin_nonce must equal the previous nonce."""

from decimal import Decimal

from hedged.venues.lighter.book import BookSync, Verdict
from hedged.venues.lighter.wire import BookBody, Level


def body(nonce, begin, bids=(), asks=(), offset=None):
    return BookBody(nonce=nonce, begin_nonce=begin, offset=offset,
                    bids=[Level(p, s) for p, s in bids], asks=[Level(p, s) for p, s in asks])


SNAP = body(100, 0, bids=[("142.410", "12.5"), ("142.400", "1")], asks=[("142.450", "35.12"), ("142.470", "80")])


def test_updates_that_chain_on_nonce_apply_even_when_offset_jumps():
    sync = BookSync()
    sync.on_snapshot(SNAP)
    assert sync.on_update(body(111, 100, asks=[("142.450", "0.000")], offset=5)) is Verdict.APPLIED
    assert sync.on_update(body(140, 111, bids=[("142.420", "3")], offset=999)) is Verdict.APPLIED
    assert sync.book.best_ask() == (Decimal("142.470"), Decimal("80"))
    assert sync.book.best_bid() == (Decimal("142.420"), Decimal("3"))


def test_updates_before_the_snapshot_are_ignored():
    sync = BookSync()
    assert sync.on_update(body(111, 100)) is Verdict.IGNORED
    assert not sync.live


def test_a_nonce_gap_drops_the_book_and_waits_for_a_new_snapshot():
    sync = BookSync()
    sync.on_snapshot(SNAP)
    assert sync.on_update(body(130, 120)) is Verdict.GAP
    assert not sync.live and sync.book.best_bid() is None and sync.gaps == 1
    assert sync.on_update(body(140, 130)) is Verdict.IGNORED
    sync.on_snapshot(body(150, 0, bids=[("1", "1")]))
    assert sync.on_update(body(160, 150)) is Verdict.APPLIED


def test_duplicate_and_stale_updates_are_ignored_without_a_gap():
    sync = BookSync()
    sync.on_snapshot(SNAP)
    upd = body(111, 100, bids=[("142.410", "0")])
    assert sync.on_update(upd) is Verdict.APPLIED
    assert sync.on_update(upd) is Verdict.IGNORED
    assert sync.on_update(body(105, 90)) is Verdict.IGNORED
    assert sync.gaps == 0 and sync.book.best_bid() == (Decimal("142.400"), Decimal("1"))


def test_reordered_updates_are_a_gap_not_a_silent_misapply():
    sync = BookSync()
    sync.on_snapshot(SNAP)
    assert sync.on_update(body(120, 111, asks=[("142.460", "1")])) is Verdict.GAP
    # The late one arrives after the book was dropped: ignored, the resubscribe brings truth.
    assert sync.on_update(body(111, 100)) is Verdict.IGNORED


def test_zero_size_in_any_spelling_deletes_the_level():
    sync = BookSync()
    sync.on_snapshot(SNAP)
    sync.on_update(body(101, 100, asks=[("142.45", "0")]))
    assert sync.book.best_ask()[0] == Decimal("142.470")
