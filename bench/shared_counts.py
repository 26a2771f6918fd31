"""Shared rate counts: what counting a call's decision in the database costs per call, on
SQLite and on PostgreSQL, beside the in-memory window it replaced (measured in the same
run). Sequential latency (one caller) and throughput at 8 concurrent callers, on one
principal (every count serialized on its key) and on 8 principals."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from pathlib import Path

from nexflow_control.audit import AuditLog
from nexflow_control.calls import CallHistory
from nexflow_control.db import Database
from nexflow_control.throttle import SharedCounts
from sqlalchemy import text

from bench.stats import pct, summary
from tests.pg import PgServer, PgUnavailable


class _MemoryWindow:
    """The baseline: main's in-memory per-principal window (before counts were shared),
    one process only: (second, count) buckets of the last hour."""

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()

    def rate_then_add(self, now: int) -> tuple[int, int]:
        while self.buckets and self.buckets[0][0] <= now - 3600:
            self.buckets.popleft()
        hour = minute = 0
        for second, count in self.buckets:
            hour += count
            if second > now - 60:
                minute += count
        if self.buckets and self.buckets[-1][0] == now:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([now, 1])
        return minute, hour


def _memory(n: int) -> list[float]:
    windows: dict[str, _MemoryWindow] = {}
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        windows.setdefault("ann", _MemoryWindow()).rate_then_add(int(time.time()))
        samples.append((time.perf_counter() - t) * 1000)
    return samples


async def _shared(url: str, n: int) -> tuple[list[float], list[float], float, float]:
    """(one `SELECT 1` round trip in ms, sequential latencies in ms, calls/s at 8 callers
    on 1 principal, on 8 principals)."""
    db = await Database.open(url)
    audit = AuditLog(db)
    history = CallHistory(audit, SharedCounts(db))
    try:
        for _ in range(20):  # warm the pool
            await history.count_decision("warm")
        floor = []
        for _ in range(n):
            t = time.perf_counter()
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            floor.append((time.perf_counter() - t) * 1000)
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            await history.count_decision("ann")
            samples.append((time.perf_counter() - t) * 1000)
        rates = []
        for principals in (1, 8):

            async def caller(i: int, per: int = n // 8, k: int = principals) -> None:
                for _ in range(per):
                    await history.count_decision(f"p{i % k}")

            t = time.perf_counter()
            await asyncio.gather(*(caller(i) for i in range(8)))
            rates.append((n // 8) * 8 / (time.perf_counter() - t))
        return floor, samples, rates[0], rates[1]
    finally:
        await audit.close()
        await db.close()


def _report(
    name: str, floor: list[float], samples: list[float], base_p50: float, one: float, eight: float
) -> None:
    added = pct(samples, 50) - base_p50
    print(summary(f"{name}: one pooled SELECT 1 (the floor)", floor))
    ratio = pct(samples, 50) / pct(floor, 50)
    extra = f"(+{added:.3f} ms at p50 over memory; {ratio:.1f}x the floor)"
    print(summary(f"{name}: count one decision", samples, extra))
    print(f"  {name}: 8 concurrent callers, 1 principal {one:8.0f} calls/s", end="")
    print(f", 8 principals {eight:8.0f} calls/s")


async def run(tmp: Path, scale: float) -> None:
    print("== shared rate counts: per-call cost of counting in the database ==")
    n = max(200, int(2000 * scale))
    memory = _memory(n)
    base = pct(memory, 50)
    print(summary("baseline: in-memory window (one process)", memory))
    floor, samples, one, eight = await _shared(f"sqlite+aiosqlite:///{tmp / 'counts.db'}", n)
    _report("SQLite", floor, samples, base, one, eight)
    try:
        server = PgServer.start(prefix="nexflow-bench-counts-")
    except PgUnavailable as exc:
        print(f"  PostgreSQL skipped: {exc}")
        return
    try:
        floor, samples, one, eight = await _shared(server.create_database("counts"), n)
        _report("PostgreSQL", floor, samples, base, one, eight)
    finally:
        server.stop()
