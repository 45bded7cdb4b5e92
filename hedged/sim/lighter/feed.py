"""Lighter simulator: the published order_book state and its nonce chain (one per sim, shared by sessions)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedged.sim.lighter import render

if TYPE_CHECKING:
    from hedged.sim.lighter.host import LighterHost


class BookFeed:
    """The published order_book state: levels as last sent, and the book nonce chain."""

    def __init__(self, sim: LighterHost) -> None:
        self.sim = sim
        self.nonce = sim.rng.randint(1_000_000, 9_000_000)
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.updated_us = 0
        self._version = -1
        m = sim.settings.market
        self._text = render.LevelText(m)
        # "0.00…" for removed levels, rendered once.
        self._zero_text = self._text.size(Decimal(0).scaleb(-m.size_decimals))

    def snapshot(self) -> dict[str, Any]:
        return {
            "code": 0,
            "asks": self._text.levels(sorted(self.asks.items())),
            "bids": self._text.levels(sorted(self.bids.items(), reverse=True)),
            "nonce": self.nonce,
            "begin_nonce": 0,
        }

    def publish(self, now_ms: int) -> None:
        book = self.sim.book
        if book.version == self._version:
            return
        self._version = book.version
        m = self.sim.settings.market
        text, zero = self._text, self._zero_text
        prices = text.prices  # the hot loop looks texts up inline
        # The `str()` shortcut of `render._fixed`, inlined: fresh sizes are the bulk of a full step.
        sd = m.size_decimals
        cut = -sd - 1
        changes: dict[str, list[dict[str, str]]] = {}
        for name, mine, levels in (("asks", self.asks, book.asks), ("bids", self.bids, book.bids)):
            out = []
            for p, s in levels:
                # pop + `is None`: comparing a Decimal with None goes through the numbers ABCs (slow).
                # `is` first: the market reuses a level's size object while the size stays.
                old = mine.pop(p, None)
                if old is not s and (old is None or old != s):
                    st = str(s)
                    if sd == 0 or len(st) <= sd or st[cut] != "." or "E" in st:
                        st = text.size(s)
                    out.append({"price": prices.get(p) or text.price(p), "size": st})
            # Levels gone since the last update.
            out += [{"price": prices.get(p) or text.price(p), "size": zero} for p in mine]
            mine.clear()
            mine.update(levels)
            changes[name] = out
        if not changes["asks"] and not changes["bids"]:
            return
        begin = self.nonce
        # The venue's book nonce advances by more than one per published update.
        self.nonce += self.sim.rng.randint(1, 12)
        self.updated_us = now_ms * 1000
        body = {"code": 0, **changes, "nonce": self.nonce, "begin_nonce": begin}
        channel = f"order_book/{m.market_id}"
        for session in list(self.sim.sessions):
            if channel in session.subs:
                session.send_book("update/order_book", body, now_ms)

    def send_crossing_update(self, now_ms: int) -> None:
        """Fault knob: one update, on the nonce chain, with a bid above the best ask. The published state
        does not keep it, so later updates never repair it: only a fresh snapshot (resubscribe) does."""
        if not self.asks:
            return
        m = self.sim.settings.market
        price = min(self.asks) + Decimal(1).scaleb(-m.price_decimals)
        level = {"price": self._text.price(price), "size": self._text.size(m.min_base_amount)}
        begin = self.nonce
        self.nonce += 1
        body = {"code": 0, "asks": [], "bids": [level], "nonce": self.nonce, "begin_nonce": begin}
        channel = f"order_book/{m.market_id}"
        for session in list(self.sim.sessions):
            if channel in session.subs:
                session.send_book("update/order_book", body, now_ms)
