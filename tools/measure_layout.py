"""Lines per folder of hedged/, the largest modules and classes: the layout measurements of issue 16.

Usage: python tools/measure_layout.py [REPO_ROOT]   (prints Markdown)
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path


def main(root: Path) -> None:
    per_folder: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # folder -> [lines, modules]
    modules: list[tuple[int, str]] = []
    classes: list[tuple[int, str]] = []
    for path in sorted((root / "hedged").rglob("*.py")):
        rel = path.relative_to(root)
        text = path.read_text()
        n = len(text.splitlines())
        per_folder[str(rel.parent)][0] += n
        per_folder[str(rel.parent)][1] += 1
        modules.append((n, str(rel)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                classes.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.name}"))
    print("| package | modules | lines |\n|---|---:|---:|")
    for folder, (lines, count) in sorted(per_folder.items()):
        print(f"| {folder} | {count} | {lines} |")
    print(f"| **total** | {len(modules)} | {sum(n for n, _ in modules)} |")
    sim = sum(n for n, r in modules if "/sim" in r)
    print(f"\nsimulator code (sim*.py, sim/ folders): {sim} lines")
    print("\nlargest modules:")
    for n, r in sorted(modules)[-5:][::-1]:
        print(f"  {n} {r}")
    print("largest classes:")
    for n, r in sorted(classes)[-5:][::-1]:
        print(f"  {n} {r}")
    print("modules over 400 lines:", sum(1 for n, _ in modules if n > 400))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
