"""Lighter simulator: the published order_book state and its nonce chain (one per sim, shared by sessions)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedged.venues.lighter import sim_render as render

if TYPE_CHECKING:
    from hedged.venues.lighter.sim import LighterSim


class BookFeed:
    """The published order_book state: levels as last sent, and the book nonce chain."""

    def __init__(self, sim: LighterSim) -> None:
        self.sim = sim
        self.nonce = sim.rng.randint(1_000_000, 9_000_000)
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.updated_us = 0
        self._version = -1

    def snapshot(self) -> dict[str, Any]:
        m = self.sim.settings.market
        return {
            "code": 0,
            "asks": render.levels_json(m, sorted(self.asks.items())),
            "bids": render.levels_json(m, sorted(self.bids.items(), reverse=True)),
            "nonce": self.nonce,
            "begin_nonce": 0,
        }

    def publish(self, now_ms: int) -> None:
        book = self.sim.book
        if book.version == self._version:
            return
        self._version = book.version
        m = self.sim.settings.market
        changes: dict[str, list[dict[str, str]]] = {}
        zero = Decimal(0).scaleb(-m.size_decimals)  # "0.00…" as str(): no format() per removed level
        for name, mine, levels in (("asks", self.asks, book.asks), ("bids", self.bids, book.bids)):
            changed = []
            for p, s in levels:
                # pop + `is None`: comparing a Decimal with None goes through the numbers ABCs (slow).
                old = mine.pop(p, None)
                if old is None or old != s:
                    changed.append((p, s))
            changed += [(p, zero) for p in mine]  # levels gone since the last update
            mine.clear()
            mine.update(levels)
            changes[name] = render.levels_json(m, changed)
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
