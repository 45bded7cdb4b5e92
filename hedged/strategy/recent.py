"""`Recent`: the last items of an append-only series, indexed as the whole series.

Per-fill records the strategy keeps for reports (the executor's hedge client ids, the cycle reports)
must not grow with the run's history: the journal keeps everything, memory keeps the tail. Readers
that remember a position in the series (a cycle's first hedge, the metrics exporter's last report)
keep working: `len` counts every item ever appended, and index 0 is the first one ever.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar, overload

T = TypeVar("T")


class Recent(Generic[T]):
    def __init__(self, keep: int) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._items: deque[T] = deque(maxlen=keep)
        self._count = 0

    @property
    def first(self) -> int:
        """Index of the oldest item still kept."""
        return self._count - len(self._items)

    def append(self, item: T) -> None:
        self._items.append(item)
        self._count += 1

    def __len__(self) -> int:
        return self._count  # every item ever appended, kept or not

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)  # the kept ones, oldest first

    def __eq__(self, other: object) -> bool:
        return list(self._items) == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        lo = self.first
        if isinstance(i, slice):
            # Positions of the whole series; items no longer kept are simply not there.
            start, stop, step = i.indices(self._count)
            return list(self._items)[max(start, lo) - lo:max(stop, lo) - lo:step]
        if i < 0:
            i += self._count
        if not lo <= i < self._count:
            raise IndexError(f"item {i} is not kept (kept: {lo}..{self._count - 1})")
        return self._items[i - lo]

    def __repr__(self) -> str:
        return f"Recent(first={self.first}, items={list(self._items)!r})"
