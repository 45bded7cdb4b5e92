"""Lines per folder of hedged/, largest modules and classes: the layout measurements of issue 16.

Usage: python tools/measure_layout.py [REPO_ROOT]
"""
import ast, sys
from pathlib import Path
from collections import defaultdict
root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
per = defaultdict(lambda: [0,0])
mods=[]; classes=[]
for p in sorted((root/'hedged').rglob('*.py')):
    rel = p.relative_to(root)
    n = len(p.read_text().splitlines())
    pkg = str(rel.parent)
    per[pkg][0]+=n; per[pkg][1]+=1
    mods.append((n,str(rel)))
    for node in ast.walk(ast.parse(p.read_text())):
        if isinstance(node, ast.ClassDef):
            classes.append((node.end_lineno-node.lineno+1, f"{rel}:{node.name}"))
tot=sum(v[0] for v in per.values())
print("| package | modules | lines |\n|---|---:|---:|")
for k,v in sorted(per.items()): print(f"| {k} | {v[1]} | {v[0]} |")
print(f"| **total** | {sum(v[1] for v in per.values())} | {tot} |")
# sim split
simlines=sum(n for n,r in mods if '/sim' in r and 'venues' in r)
print(f"\nsimulator code under hedged/venues (sim*.py + venues/sim/): {simlines} lines of {sum(n for n,r in mods if r.startswith('hedged/venues'))} under hedged/venues")
print("\nlargest modules:"); [print(f"  {n} {r}") for n,r in sorted(mods)[-5:][::-1]]
print("largest classes:"); [print(f"  {n} {r}") for n,r in sorted(classes)[-5:][::-1]]
print("modules over 400 lines:", sum(1 for n,_ in mods if n>400))
