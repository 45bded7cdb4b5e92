"""The simulators are apart from the production adapters (issue 16 point 1, docs/simulators.md), and neither has an
import cycle (point 5): checked on the source with `ast`, every import statement counted, inside functions and under
TYPE_CHECKING too."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import hedged

ROOT = Path(hedged.__file__).parent
# Where `mode = "sim"` is assembled (and the `hedged sim` CLI goes through it), and the deterministic simulation.
MAY_IMPORT_SIM = {"hedged.venues.assembly"}
MAY_IMPORT_SIM_UNDER = ("hedged.dst",)
# What a simulator may take from hedged/venues/: the venue-neutral types (`Side`), no adapter's module.
SIM_MAY_IMPORT_FROM_VENUES = {"hedged.venues.base"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, as absolute dotted names (`from a import b` counts as `a` and `a.b`)."""
    mod = _module(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@functools.cache
def _sources() -> dict[str, set[str]]:
    return {_module(p): imports_of(p) for p in sorted(ROOT.rglob("*.py"))}


def test_only_the_sim_assembly_and_the_dst_import_a_simulator():
    importers = {m for m, names in _sources().items()
                 if not _within(m, "hedged.sim") and any(_within(n, "hedged.sim") for n in names)}  # fmt: skip
    allowed = {m for m in importers if m in MAY_IMPORT_SIM or any(_within(m, p) for p in MAY_IMPORT_SIM_UNDER)}
    assert importers - allowed == set()
    assert "hedged.venues.assembly" in importers  # the rule is checked against real imports, not an empty set


def test_no_simulator_imports_a_venue_adapter():
    bad = {m: sorted(n for n in names if _within(n, "hedged.venues") and n != "hedged.venues"
                  and not any(_within(n, ok) for ok in SIM_MAY_IMPORT_FROM_VENUES))
           for m, names in _sources().items() if _within(m, "hedged.sim")}  # fmt: skip
    assert {m: names for m, names in bad.items() if names} == {}


def test_each_simulator_imports_only_its_own_package_and_the_common_core():
    own = {"hedged.sim.extended": "hedged.sim.lighter", "hedged.sim.lighter": "hedged.sim.extended"}
    bad = {}
    for m, names in _sources().items():
        if _within(m, "hedged.sim.common"):
            wrong = [n for n in names if _within(n, "hedged.sim.extended") or _within(n, "hedged.sim.lighter")]
        else:
            other = next((o for p, o in own.items() if _within(m, p)), None)
            wrong = [n for n in names if other and _within(n, other)]
        if wrong:
            bad[m] = sorted(wrong)
    assert bad == {}


def test_the_checker_sees_relative_function_level_and_type_checking_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "hedged" / "venues" / "lighter"
    pkg.mkdir(parents=True)
    src = pkg / "probe.py"
    src.write_text("from typing import TYPE_CHECKING\n"
                   "if TYPE_CHECKING:\n    from ...sim.lighter import server\n"
                   "def f():\n    import hedged.sim.common.faults\n    from . import wire\n")  # fmt: skip
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path / "hedged")
    names = imports_of(src)
    assert {"hedged.sim.lighter", "hedged.sim.lighter.server", "hedged.sim.common.faults",
            "hedged.venues.lighter.wire"} <= names  # fmt: skip


def _graph(within: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules it imports, both inside `within`; `from pkg import mod` points at `pkg.mod`, not at
    the package (whose `__init__` is a separate node)."""
    sources = _sources()
    nodes = {m for m in sources if any(_within(m, w) for w in within)}
    graph = {}
    for m in nodes:
        inside = {n for n in sources[m] if n in nodes and n != m}
        graph[m] = {n for n in inside if not any(x.startswith(n + ".") for x in inside)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while comp[-1:] != [v]:
                comp.append(stack.pop())
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_the_simulators_or_the_adapters():
    assert cycles(_graph(("hedged.sim", "hedged.venues"))) == []


def test_the_cycle_check_finds_a_cycle_through_a_type_checking_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
