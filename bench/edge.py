"""Edge benchmark: what the HTTP edge's input discipline costs per request body: the
strict decoder (`api.strict_json.decode`: no NaN/Infinity, int64 range, no overflow,
no lone surrogates, depth cap) plus the pydantic model of the run route, beside a plain
`json.loads` of the same bytes measured in the same run. Target: at most 0.5 ms added
per call for a typical body; printed, never gated."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nexflow_control.api import decode
from nexflow_control.api.schemas import RunRequest

from bench.stats import pct

TARGET_ADDED_MS = 0.5


def _bodies() -> dict[str, bytes]:
    typical = {"input": {"message": "héllo", "data": [1, 2.5, {"deep": True}], "n": 42}}
    rows = [{"id": i, "name": f"row-{i}", "score": i / 7, "tags": ["a", "b"]} for i in range(200)]
    nested: Any = "leaf"
    for _ in range(60):
        nested = [nested]
    return {
        "typical (~100 B)": json.dumps(typical).encode(),
        "table (~16 KiB)": json.dumps({"input": {"rows": rows}}).encode(),
        "60 levels deep": json.dumps({"input": {"data": nested}}).encode(),
    }


def _per_call_ms(fn: Callable[[], Any], n: int) -> list[float]:
    """`n` samples, each the mean of a batch of 20 calls (timer resolution), in ms."""
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        for _ in range(20):
            fn()
        samples.append((time.perf_counter() - t) * 1000 / 20)
    return samples


def _edge(raw: bytes) -> RunRequest:
    return RunRequest.model_validate(decode(raw))


async def run(tmp: Path, scale: float) -> None:
    del tmp
    n = max(50, int(500 * scale))
    print("== edge: strict decode + model validation per request body, vs json.loads ==")
    for name, raw in _bodies().items():
        _edge(raw)  # warm: model validators built, caches filled
        base = pct(_per_call_ms(lambda raw=raw: json.loads(raw), n), 50)
        edge = pct(_per_call_ms(lambda raw=raw: _edge(raw), n), 50)
        added = edge - base
        verdict = "met" if added <= TARGET_ADDED_MS else "NOT met"
        print(
            f"  {name:<18} json.loads p50 {base * 1000:8.1f} µs   edge p50 {edge * 1000:8.1f} µs"
            f"   x{edge / base:5.1f}   added {added * 1000:7.1f} µs"
            f"   (target <= {TARGET_ADDED_MS} ms: {verdict})"
        )
