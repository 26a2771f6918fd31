"""Small statistics helpers shared by the benchmarks."""

from __future__ import annotations

import statistics


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary(name: str, samples_ms: list[float], extra: str = "") -> str:
    return (
        f"  {name:<44} p50 {pct(samples_ms, 50):8.2f} ms   p99 {pct(samples_ms, 99):8.2f} ms"
        f"   mean {statistics.fmean(samples_ms):8.2f} ms  n={len(samples_ms)} {extra}"
    )
