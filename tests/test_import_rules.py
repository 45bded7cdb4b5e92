"""The simulators are apart from the production adapters (issue 16 point 1, docs/simulators.md): checked on the
import graph that tools/import_graph.py reads with `ast` (every import statement, inside functions and under
TYPE_CHECKING too; tests/test_import_graph.py checks the same graph has no cycle)."""

from __future__ import annotations

import functools

from tools.import_graph import edges

# Where `mode = "sim"` is assembled (the `hedged sim` CLI goes through it too), and the deterministic simulation.
MAY_IMPORT_SIM = ("hedged.venues.assembly", "hedged.dst")
# What a simulator may take from hedged/venues/: the venue-neutral types (`Side`), no adapter's module.
SIM_MAY_IMPORT_FROM_VENUES = ("hedged.venues.base",)


def _within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@functools.cache
def _imports() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for e in edges():
        out.setdefault(e.src, set()).add(e.dst)
    return {m: frozenset(names) for m, names in out.items()}


def test_only_the_sim_assembly_and_the_dst_import_a_simulator():
    importers = {m for m, names in _imports().items()
                 if not _within(m, "hedged.sim") and any(_within(n, "hedged.sim") for n in names)}  # fmt: skip
    assert {m for m in importers if not _within(m, *MAY_IMPORT_SIM)} == set()
    assert "hedged.venues.assembly" in importers  # the rule is checked against real imports, not an empty set


def test_no_simulator_imports_a_venue_adapter():
    bad = {m: sorted(n for n in names if _within(n, "hedged.venues") and n != "hedged.venues"
                     and not _within(n, *SIM_MAY_IMPORT_FROM_VENUES))
           for m, names in _imports().items() if _within(m, "hedged.sim")}  # fmt: skip
    assert {m: names for m, names in bad.items() if names} == {}


def test_each_simulator_imports_only_its_own_package_and_the_common_core():
    other = {"hedged.sim.common": ("hedged.sim.extended", "hedged.sim.lighter"),
             "hedged.sim.extended": ("hedged.sim.lighter",), "hedged.sim.lighter": ("hedged.sim.extended",)}  # fmt: skip
    bad = {}
    for m, names in _imports().items():
        for pkg, forbidden in other.items():
            if _within(m, pkg) and (wrong := sorted(n for n in names if _within(n, *forbidden))):
                bad[m] = wrong
    assert bad == {}
