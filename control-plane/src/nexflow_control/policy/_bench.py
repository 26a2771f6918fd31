"""Decision latency measurement for ``make bench`` (never a CI gate)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from ._engine import PolicyEngine


async def bench_decisions(
    engine: PolicyEngine, inputs: Sequence[dict[str, Any]], n: int
) -> tuple[float, float]:
    """Run ``n`` decisions cycling through ``inputs``; return (p50_ms, p99_ms)."""
    if not inputs or n < 1:
        raise ValueError("bench_decisions needs at least one input and n >= 1")
    samples: list[float] = []
    clock = time.perf_counter
    for i in range(n):
        item = inputs[i % len(inputs)]
        start = clock()
        await engine.decide(item)
        samples.append((clock() - start) * 1000.0)
    if len(samples) == 1:
        return samples[0], samples[0]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]
