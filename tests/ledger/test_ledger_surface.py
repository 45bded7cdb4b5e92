"""Issue 16 point 4: the replay and the journal restore a `LedgerCore` through its public methods, never
by writing its private fields, so the core's invariants have one home (core.py and memory.py)."""

from __future__ import annotations

import ast
from pathlib import Path

LEDGER = Path(__file__).resolve().parents[2] / "hedged" / "ledger"
CORE_MODULES = {"core.py", "memory.py"}  # LedgerCore and the part of it that bounds its memory


def _private_uses(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, (ast.Name, ast.Attribute))
                and (node.value.id if isinstance(node.value, ast.Name) else node.value.attr) == "core"):
            out.append(f"{path.name}:{node.lineno} core.{node.attr}")
    return out


def test_no_module_of_the_ledger_but_the_core_touches_the_cores_private_fields():
    uses = [u for p in sorted(LEDGER.glob("*.py")) if p.name not in CORE_MODULES for u in _private_uses(p)]
    assert uses == []
