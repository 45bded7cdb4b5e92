"""The import graph of the `hedged` package, read with `ast` (nothing is imported).

An edge a -> b says module a names module b in an import statement. Edges are kept in three kinds,
because they behave differently at run time:

- ``module``: executed when a is imported (top level, including under try/if);
- ``function``: inside a def, executed when the function runs (the usual way to dodge a cycle);
- ``typing``: under ``if TYPE_CHECKING:``, never executed.

A cycle is a strongly connected component of more than one module. ``module`` cycles are the ones
Python can trip on at import time; ``function`` and ``typing`` edges are how such a cycle is usually
hidden, and the modules are still tangled, so ``cycles()`` counts all three kinds by default.

Usage: ``python tools/import_graph.py [--root DIR] [--kinds module,function,typing] [--edges]``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

KINDS = ("module", "function", "typing")
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    kind: str
    line: int


def module_names(root: Path, package: str = "hedged") -> dict[str, Path]:
    """Every module of the package by dotted name; a package is named by its ``__init__``."""
    out: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module):
    """(node, kind) for every import statement in the tree."""

    def walk(node: ast.AST, kind: str):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, kind
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(child, "typing" if kind == "typing" else "function")
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), "typing")
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), kind)
            else:
                yield from walk(child, kind)

    yield from walk(tree, "module")


def _targets(node: ast.Import | ast.ImportFrom, src: str, is_package: bool, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        # `import a.b.c` binds a and runs a.b.c: the edge that matters is to the deepest known module.
        return [_deepest(n, known) for n in names if _deepest(n, known)]
    if node.level:
        base = src.split(".") if is_package else src.split(".")[:-1]
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{prefix}.{alias.name}"
        if sub in known:
            out.append(sub)
        elif _deepest(prefix, known):
            out.append(_deepest(prefix, known))
    return out


def _deepest(name: str, known: set[str]) -> str | None:
    parts = name.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return None


def edges(root: Path = REPO, package: str = "hedged") -> list[Edge]:
    modules = module_names(root, package)
    known = set(modules)
    out: list[Edge] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node, kind in _imports(tree):
            for dst in _targets(node, name, is_package, known):
                if dst != name:
                    out.append(Edge(name, dst, kind, node.lineno))
    return out


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of one node without a self-loop are left out."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    nodes = sorted(set(graph) | {d for ds in graph.values() for d in ds})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    found.append(sorted(comp))
    return sorted(found)


def cycles(root: Path = REPO, kinds: tuple[str, ...] = KINDS, package: str = "hedged") -> list[list[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for e in edges(root, package):
        if e.kind in kinds:
            graph[e.src].add(e.dst)
    return strongly_connected(graph)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=REPO)
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {','.join(KINDS)}")
    ap.add_argument("--edges", action="store_true", help="also list each cycle's edges with kind and line")
    args = ap.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    all_edges = sorted({(e.src, e.dst, e.kind, e.line) for e in edges(args.root) if e.kind in kinds})
    comps = cycles(args.root, kinds)
    for kind in KINDS:
        graph: dict[str, set[str]] = defaultdict(set)
        for e in edges(args.root):
            if e.kind == kind:
                graph[e.src].add(e.dst)
        print(f"{kind}-level edges: {sum(len(v) for v in graph.values())}, cycles: {len(strongly_connected(graph))}")
    print(f"cycles over {'+'.join(kinds)} edges: {len(comps)}")
    for comp in comps:
        print("  " + " <-> ".join(comp))
        if args.edges:
            members = set(comp)
            for src, dst, kind, line in all_edges:
                if src in members and dst in members:
                    print(f"      {src} -> {dst}  ({kind}, line {line})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
