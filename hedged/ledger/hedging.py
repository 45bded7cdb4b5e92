"""Hedge sizing and the links between hedge orders and the maker fills they cover (pure)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from hedged.venues.base import ZERO, MarketRules, Side


@dataclass(frozen=True, slots=True)
class HedgePlan:
    """What to send on the hedge venue for a given open hedge delta.

    `signed_qty` is the position change the hedge makes on the hedge leg (sell < 0);
    `residual` is the part of `open_delta` left after it, in exposure units, which
    stays in the open hedge delta and rolls into the next hedge by itself.
    """

    open_delta: Decimal
    side: Side | None
    qty: Decimal
    residual: Decimal

    @property
    def signed_qty(self) -> Decimal:
        return ZERO if self.side is None else self.qty * self.side.sign

    @property
    def needed(self) -> bool:
        return self.side is not None


def plan_hedge(open_delta: Decimal, rules: MarketRules) -> HedgePlan:
    """Size a hedge for `open_delta`: opposite sign, rounded *down* to the size step.

    A quantity below the venue's minimum size is not sent: it all stays as residual.
    Rounding down means we never over-hedge; the remainder is still in the exposure
    (positions are the truth), so the next plan picks it up together with new fills.
    """
    want = abs(open_delta)
    qty = rules.round_size_down(want) if want else ZERO
    if qty <= 0 or qty < rules.min_size:
        return HedgePlan(open_delta, None, ZERO, open_delta)
    side = Side.SELL if open_delta > 0 else Side.BUY
    return HedgePlan(open_delta, side, qty, open_delta + qty * side.sign)


class Coverage:
    """FIFO allocation of hedge quantity to the maker fills it covers.

    Every maker fill enters with its signed position change; a hedge of sign s covers
    fills of sign -s, oldest first. When a hedge ends with part of it unfilled, that
    part is released again (newest link first) so the next hedge picks it up. This is
    traceability only: exposure always comes from positions, never from these links.
    """

    def __init__(self) -> None:
        # entry: [fill_key, signed uncovered qty, sign of the fill, queued?]
        self._open: deque[list] = deque()
        self._entries: dict[str, list] = {}
        self.links: dict[str, dict[str, Decimal]] = {}  # hedge key -> {fill key: qty covered}
        self._owner: dict[str, list[str]] = {}  # maker order key -> its fill keys (to forget them with it)

    def add_fill(self, fill_key: str, signed_qty: Decimal, order_key: str | None = None) -> None:
        entry = self._entries.get(fill_key)
        if entry is None:
            entry = [fill_key, signed_qty, 1 if signed_qty > 0 else -1, True]
            self._entries[fill_key] = entry
            self._open.append(entry)
            if order_key is not None:
                self._owner.setdefault(order_key, []).append(fill_key)
        else:
            entry[1] += signed_qty

    def restore_link(self, hedge_key: str, fill_key: str, qty: Decimal) -> None:
        entry = self._entries.get(fill_key)
        if entry is not None:
            entry[1] -= qty * entry[2]
        self.links.setdefault(hedge_key, {})[fill_key] = qty

    def uncovered(self) -> list[tuple[str, Decimal]]:
        """Maker fills (oldest first) with the signed part no hedge covers yet."""
        return [(e[0], e[1]) for e in self._open if e[1]]

    def covering(self, fill_key: str) -> dict[str, Decimal]:
        """Hedge key -> quantity, for every hedge that covers `fill_key`."""
        return {h: links[fill_key] for h, links in self.links.items() if links.get(fill_key)}

    def allocate(self, hedge_key: str, hedge_signed: Decimal) -> list[tuple[str, Decimal]]:
        """Cover up to |hedge_signed| of opposite-sign fills; returns (fill_key, link total) changed."""
        left = abs(hedge_signed)
        links = self.links.setdefault(hedge_key, {})
        changed: list[tuple[str, Decimal]] = []
        for entry in self._open:
            if left <= 0:
                break
            q = entry[1]
            if not q or (q > 0) == (hedge_signed > 0):
                continue
            take = min(left, abs(q))
            entry[1] = q - take * entry[2]
            left -= take
            links[entry[0]] = links.get(entry[0], Decimal(0)) + take
            changed.append((entry[0], links[entry[0]]))
        while self._open and not self._open[0][1]:
            self._open.popleft()[3] = False
        return changed

    def release(self, hedge_key: str, amount: Decimal) -> list[tuple[str, Decimal]]:
        """Give back `amount` of a hedge's coverage, newest link first; returns (fill_key, link total) changed."""
        changed: list[tuple[str, Decimal]] = []
        links = self.links.get(hedge_key, {})
        for fill_key in reversed(list(links)):
            if amount <= 0:
                break
            give = min(amount, links[fill_key])
            if not give:
                continue
            links[fill_key] -= give
            amount -= give
            changed.append((fill_key, links[fill_key]))
            entry = self._entries.get(fill_key)
            if entry is None:  # the fill's order left memory (LedgerCore.prune): nothing to re-open
                continue
            entry[1] += give * entry[2]
            if not entry[3]:
                entry[3] = True
                self._open.appendleft(entry)
        return changed

    def forget(self, order_key: str) -> None:
        """An order left the core's memory (LedgerCore.prune): drop its links (a hedge) and its fills'
        entries (a maker order). The journal keeps both; a zeroed entry leaves the FIFO when it reaches
        the head, so memory stays bounded by the orders the core keeps."""
        self.links.pop(order_key, None)
        for fill_key in self._owner.pop(order_key, ()):
            entry = self._entries.pop(fill_key, None)
            if entry is not None:
                entry[1] = Decimal(0)
        while self._open and not self._open[0][1]:
            self._open.popleft()[3] = False
