"""Client order indexes: unique across restarts, <= 2^48 - 1, never derived from the clock.

Scheme: `index = prefix << 40 | counter`.

* `counter` (1 .. 2^40 - 1) comes from a file in the state dir. Before any index of a
  block is handed out, the file is advanced past the whole block (written to a temporary
  file, fsynced, renamed), so a crash can skip indexes but never reuse one.
* `prefix` (1 .. 255) is drawn once per run from the injected RNG. Uniqueness does not rely
  on it; it only makes a collision unlikely if the state dir is ever lost or copied.

The index doubles as the hedge's idempotency key: a placement whose reply was lost is
looked up by it (`accountOrders?client_order_indexes=`), never re-placed blindly.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import trio

from hedged.venues.base import OrderUpdate
from hedged.venues.lighter.markets import MAX_CLIENT_ORDER_INDEX
from hedged.statefiles import open_private, private_dir

COUNTER_BITS = 40
MAX_COUNTER = 2**COUNTER_BITS - 1
STATE_FILE = "lighter_client_order_index.json"


class ClientOrderIndexAllocator:
    def __init__(self, state_dir: Path, rng: random.Random, *, block: int = 1024) -> None:
        self._path = Path(state_dir) / STATE_FILE
        self._block = block
        self.prefix = rng.randint(1, 255)
        self._next = 0
        self._limit = 0  # first counter value not yet reserved on disk

    def _read(self) -> int:
        try:
            data = json.loads(self._path.read_text())
        except FileNotFoundError:
            return 1
        value = data.get("next") if isinstance(data, dict) else None
        if not isinstance(value, int) or value < 1:
            # Refuse to guess: a wrong counter could reuse an index the venue already holds.
            raise ValueError(f"corrupt client order index state in {self._path}")
        return value

    def _reserve(self) -> None:
        start = max(self._read(), self._limit, 1)
        limit = start + self._block
        if limit > MAX_COUNTER:
            raise OverflowError("client order index counter exhausted")
        private_dir(self._path.parent)
        tmp = self._path.with_suffix(".tmp")
        with open_private(tmp, "w") as fh:
            json.dump({"next": limit}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)
        self._next, self._limit = start, limit

    def next(self) -> int:
        if self._next >= self._limit:
            self._reserve()
        counter = self._next
        self._next += 1
        index = (self.prefix << COUNTER_BITS) | counter
        assert 1 <= index <= MAX_CLIENT_ORDER_INDEX
        return index


CLIENT_ID_FILE = "lighter_client_ids.jsonl"


@dataclass(slots=True)
class Tracked:
    """One of our orders: ids known so far and the latest observation."""

    coi: int
    client_id: str
    last: OrderUpdate
    order_index: int | None = None
    indexed: trio.Event = field(default_factory=trio.Event)  # set once order_index is known
    sent: bool = True  # False while a placement waits to be signed and sent (nothing at the venue yet)


class OrderRegistry:
    """client_id <-> client_order_index <-> order_index, and the latest state of each order.

    A client id that already is a valid index (decimal, 1 .. 2^48 - 1) is used as is; any
    other string gets a fresh index from the allocator, and the pair is appended to a file
    in the state dir so the mapping survives a restart.
    """

    def __init__(self, allocator: ClientOrderIndexAllocator, state_dir: Path, *, keep_terminal: int = 2000) -> None:
        self._alloc = allocator
        self._path = Path(state_dir) / CLIENT_ID_FILE
        self._keep_terminal = keep_terminal
        self._coi_by_client: dict[str, int] = {}
        self._client_by_coi: dict[int, str] = {}
        self.orders: dict[int, Tracked] = {}
        self._load()

    def _load(self) -> None:
        try:
            lines = self._path.read_text().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                client_id, coi = json.loads(line)
            except (ValueError, TypeError):
                continue  # a torn last line after a crash; earlier lines are intact
            self._coi_by_client[client_id] = coi
            self._client_by_coi[coi] = client_id

    def new_client_id(self) -> str:
        return str(self._alloc.next())

    def coi_for(self, client_id: str, *, allocate: bool = False) -> int | None:
        if client_id.isdigit() and 1 <= int(client_id) <= MAX_CLIENT_ORDER_INDEX:
            return int(client_id)
        coi = self._coi_by_client.get(client_id)
        if coi is None and allocate:
            coi = self._alloc.next()
            private_dir(self._path.parent)
            with open_private(self._path, "a") as fh:
                fh.write(json.dumps([client_id, coi]) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self._coi_by_client[client_id] = coi
            self._client_by_coi[coi] = client_id
        return coi

    def client_id_for(self, coi: int) -> str | None:
        if not coi:
            return None
        return self._client_by_coi.get(coi, str(coi))

    def track(self, coi: int, client_id: str, pending: OrderUpdate) -> Tracked:
        tracked = self.orders[coi] = Tracked(coi, client_id, pending)
        return tracked

    def observe(self, coi: int, order_index: int | None, update: OrderUpdate) -> None:
        tracked = self.orders.get(coi)
        if tracked is None:
            return
        tracked.last = update
        if order_index and tracked.order_index is None:
            tracked.order_index = order_index
            tracked.indexed.set()
        self._prune()

    def forget(self, coi: int) -> None:
        self.orders.pop(coi, None)

    def live(self) -> list[Tracked]:
        return [t for t in self.orders.values() if not t.last.status.is_terminal]

    def _prune(self) -> None:
        if len(self.orders) <= self._keep_terminal:
            return
        for coi in [c for c, t in self.orders.items() if t.last.status.is_terminal][: len(self.orders) // 2]:
            del self.orders[coi]
