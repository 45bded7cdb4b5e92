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


def test_a_crossed_book_is_dropped_and_not_live():
    sync = BookSync()
    sync.on_snapshot(SNAP)
    assert sync.on_update(body(101, 100, bids=[("142.460", "1")])) is Verdict.CROSSED
    assert not sync.live and sync.book.best_bid() is None and sync.crossed == 1
    assert sync.on_snapshot(body(102, 0, bids=[("142.5", "1")], asks=[("142.5", "2")])) is Verdict.CROSSED
    assert sync.on_snapshot(SNAP) is Verdict.APPLIED and sync.live


def test_zero_size_in_any_spelling_deletes_the_level():
    sync = BookSync()
    sync.on_snapshot(SNAP)
    sync.on_update(body(101, 100, asks=[("142.45", "0")]))
    assert sync.book.best_ask()[0] == Decimal("142.470")


# ---- property: whatever the delivery, a live book is exactly the venue's book at its nonce ----

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hedged.venues.base import Side  # noqa: E402

PRICES = [f"{100 + i / 100:.2f}" for i in range(20)]
SIZES = st.sampled_from(["0", "1.5", "2", "7.25"])
# A venue's book is never crossed, so bids and asks come from disjoint price ranges (a crossed
# book is dropped instead: see test_a_crossed_book_is_dropped_and_not_live).
change = st.one_of(st.tuples(st.just("bid"), st.sampled_from(PRICES[:10]), SIZES),
                   st.tuples(st.just("ask"), st.sampled_from(PRICES[10:]), SIZES))


def build(changesets):
    """Frames with chained nonces, and the true book after each nonce."""
    model = {"bid": {}, "ask": {}}
    truth, frames, nonce = {}, [], 10
    truth[nonce] = {"bid": {}, "ask": {}}
    for i, changes in enumerate(changesets):
        begin, nonce = nonce, nonce + 1 + i % 3
        for side, price, size in changes:
            if Decimal(size) == 0:
                model[side].pop(Decimal(price), None)
            else:
                model[side][Decimal(price)] = Decimal(size)
        truth[nonce] = {k: dict(v) for k, v in model.items()}
        frames.append(body(nonce, begin, bids=[(p, s) for sd, p, s in changes if sd == "bid"],
                           asks=[(p, s) for sd, p, s in changes if sd == "ask"]))  # fmt: skip
    return frames, truth


def book_of(sync):
    b = sync.book
    return {"bid": dict(b.levels(Side.BUY)), "ask": dict(b.levels(Side.SELL))}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(change, min_size=1, max_size=4), min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_a_live_book_always_equals_the_venue_book_at_its_nonce(changesets, rnd):
    frames, truth = build(changesets)
    delivered = []
    for f in frames:  # duplicates, drops and swaps of neighbours
        r = rnd.random()
        if r < 0.1:
            continue
        delivered.append(f)
        if r > 0.9:
            delivered.append(f)
        if r > 0.8 and len(delivered) >= 2 and rnd.random() < 0.5:
            delivered[-1], delivered[-2] = delivered[-2], delivered[-1]
    sync = BookSync()
    sync.on_snapshot(body(10, 0))
    for f in delivered:
        sync.on_update(f)
        if sync.live:
            assert book_of(sync) == truth[sync.nonce]


@given(st.lists(st.lists(change, min_size=1, max_size=4), min_size=1, max_size=25))
def test_in_order_delivery_always_ends_at_the_venue_book(changesets):
    frames, truth = build(changesets)
    sync = BookSync()
    sync.on_snapshot(body(10, 0))
    assert all(sync.on_update(f) is Verdict.APPLIED for f in frames)
    assert book_of(sync) == truth[frames[-1].nonce]
