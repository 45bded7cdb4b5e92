"""Small helpers the benchmark scripts share (run them as `python bench/<name>.py`)."""

from __future__ import annotations


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt_ms(samples: list[float]) -> str:
    return f"p50 {pct(samples, 0.5) * 1e3:.3f} ms  p99 {pct(samples, 0.99) * 1e3:.3f} ms  (n={len(samples)})"
