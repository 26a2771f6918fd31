"""Tracing's cost: one call's latency with the exporter off (the default) and on (spans
sent to a local OTLP/HTTP receiver), and what one no-op span costs in-process."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from nexflow_control.tracing import step

from bench.stats import pct, summary
from tests.harness import start_stack
from tests.otlp_receiver import otlp_receiver


def _noop_span_us(n: int) -> float:
    """Microseconds per `step` span with no tracer provider installed (this process)."""
    begin = time.perf_counter()
    for _ in range(n):
        with step("bench", {"nexflow.call_id": "c_bench"}):
            pass
    return (time.perf_counter() - begin) / n * 1e6


async def run(tmp: Path, scale: float) -> None:
    print("== tracing: echo over HTTP, 1 client, exporter off (default) vs on, interleaved ==")
    print(f"  one no-op span (no provider): {_noop_span_us(20_000):.2f} us; a call makes ~8")
    total = max(30, int(120 * scale))
    with otlp_receiver() as receiver:
        on = {"NEXFLOW_OTEL__ENDPOINT": receiver.url, "NEXFLOW_OTEL__FLUSH_MS": "500"}
        stacks = {
            "off": start_stack(tmp / "tracing-off", "--sandbox", "nsjail"),
            "on": start_stack(tmp / "tracing-on", "--sandbox", "nsjail", env=on),
        }
        lat: dict[str, list[float]] = {label: [] for label in stacks}
        try:
            clients = {
                label: httpx.AsyncClient(
                    base_url=s.url, headers={"Authorization": f"Bearer {s.token}"}, timeout=60
                )
                for label, s in stacks.items()
            }
            for i in range(total + 5):  # the first 5 each way warm up
                for label, client in clients.items():
                    begin = time.perf_counter()
                    reply = await client.post("/api/v1/skills/echo", json={"input": {"data": i}})
                    reply.raise_for_status()
                    if i >= 5:
                        lat[label].append((time.perf_counter() - begin) * 1000)
            for client in clients.values():
                await client.aclose()
        finally:
            for stack in stacks.values():
                stack.stop()
        spans = len(receiver.snapshot())
    for label, values in lat.items():
        print(summary(f"HTTP echo, exporter {label}", values))
    p50 = {label: pct(values, 50) for label, values in lat.items()}
    print(
        f"  exporter on adds {p50['on'] - p50['off']:+.2f} ms at p50"
        f" (ratio {p50['on'] / p50['off']:.2f}x); {spans} spans received"
    )
