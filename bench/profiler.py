"""A sampling profile of the daemon process from outside, with py-spy (a bench-only tool: `make bench`
installs it into .venv; nothing in the daemon depends on it). Used where a target is missed."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
# Frames where the process waits rather than works (the Trio loop's epoll, idle worker threads).
WAITING = ("get_events", "_thread_cache.py:211", "_thread_cache.py:210", "Condition.wait", "Lock.acquire")
# Frames under every sample (the entry point, the supervisor): true of everything, so not shown.
ROOTS = ("hedged/cli/", "hedged/daemon.py", "hedged/nursery/", "hedged/engine.py")


def available() -> bool:
    return PY_SPY.exists() or shutil.which("py-spy") is not None


def start(pid: int, out: Path, rate: int = 200) -> subprocess.Popen | None:
    if not available():
        return None
    exe = str(PY_SPY) if PY_SPY.exists() else "py-spy"
    return subprocess.Popen([exe, "record", "-p", str(pid), "-r", str(rate), "-f", "raw", "-o", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def summarise(path: Path, top: int = 8) -> dict[str, object]:
    """Busy samples: the share of the top leaf frames, and of the top `hedged.*` functions (inclusive)."""
    leaf: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    busy = idle = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count, frames = int(n), stack.split(";")
        if any(w in frames[-1] for w in WAITING):
            idle += count
            continue
        busy += count
        leaf[frames[-1]] += count
        for name in {f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" for f in frames
                     if "hedged/" in f and " (" in f and not any(r in f for r in ROOTS)}:
            ours[name] += count
    return {"busy": busy, "idle": idle, "leaf": leaf.most_common(top), "hedged": ours.most_common(top)}
