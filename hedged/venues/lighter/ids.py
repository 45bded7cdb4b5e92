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
from pathlib import Path

from hedged.venues.lighter.wire import MAX_CLIENT_ORDER_INDEX

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
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
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
