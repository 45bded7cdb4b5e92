"""The known-failures lists (tests/dst/known_*.txt), read by `hedged dst` and by the catalogue's table."""

from __future__ import annotations

from pathlib import Path


def read_known(path: Path | None) -> dict[int, str]:
    """One seed or scenario number a line, then its reason; `#` starts a comment."""
    if path is None:
        return {}
    known: dict[int, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            seed, _, why = line.partition(" ")
            known[int(seed)] = why.strip()
    return known
