"""The audit write path alone: what one durable, chained event costs, beside what the disk costs.

For SQLite and (when it can be started) PostgreSQL: events/s and the per-event latency
(from `append` called to `append` returned, i.e. committed) at 1 and 8 concurrent
writers, each beside the raw driver's INSERT+COMMIT of one small row measured in the same
run on the same machine (no chain, no redaction, no group commit: the floor). Events are
shaped like a `call.requested` (a small input, an actor, a skill, a policy revision).
Printed, never gated.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import asyncpg
from nexflow_control.audit import AuditEvent, AuditLog

from bench.stats import pct
from tests.pg import PgServer, PgUnavailable

WRITERS = (1, 8)


def _event(writer: int, i: int) -> AuditEvent:
    return AuditEvent(
        action="call.requested",
        call_id=f"call-{writer}-{i}",
        actor=f"user-{writer}",
        skill="echo",
        policy_revision="sha256:5d41402abc4b2a76b9719d911017c592",
        payload={
            "skill_version": "1.0.0",
            "channel": "api",
            "input_sha256": "9f86d081884c7d659a2feb15d0015ea2",
            "input": {"message": f"hello {i}"},
        },
    )


async def _appends(log: AuditLog, n: int, writers: int) -> tuple[float, list[float], float]:
    """`n` appends from `writers` tasks, each awaiting its commit: events/s, latencies
    (ms), and this process's CPU time per event (ms, every thread: the writer's too)."""
    lat: list[float] = []

    async def writer(w: int) -> None:
        for i in range(w, n, writers):
            t = time.perf_counter()
            await log.append(_event(w, i))
            lat.append((time.perf_counter() - t) * 1000)

    for i in range(20):  # warm up: connections, statement caches
        await log.append(_event(99, i))
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    cpu = (time.process_time() - cpu) * 1000 / n
    return n / (time.perf_counter() - started), lat, cpu


def _raw_sqlite(path: Path, n: int) -> tuple[float, list[float]]:
    """The floor: plain sqlite3, WAL, synchronous=NORMAL, one row per transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE e (seq INTEGER PRIMARY KEY, body TEXT)")
    lat = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO e (body) VALUES (?)", (f'{{"i": {i}}}',))
        conn.execute("COMMIT")
        lat.append((time.perf_counter() - t) * 1000)
    rate = n / (time.perf_counter() - started)
    conn.close()
    return rate, lat


async def _raw_pg(dsn: str, n: int) -> tuple[float, list[float]]:
    """The floor on PostgreSQL: plain asyncpg, one connection, one row per transaction."""
    conn = await asyncpg.connect(dsn.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute("CREATE TABLE e (seq BIGSERIAL PRIMARY KEY, body TEXT)")
        lat = []
        started = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            async with conn.transaction():
                await conn.execute("INSERT INTO e (body) VALUES ($1)", f'{{"i": {i}}}')
            lat.append((time.perf_counter() - t) * 1000)
        return n / (time.perf_counter() - started), lat
    finally:
        await conn.close()


def _line(
    name: str, rate: float, lat: list[float], base: float | None = None, cpu: float | None = None
) -> str:
    extra = "" if cpu is None else f"   CPU {cpu:6.3f} ms/event"
    if base is not None:
        extra += f"  ({base / rate:5.1f}x the raw time per event)"
    return (
        f"  {name:<36} {rate:7.0f} events/s   p50 {pct(lat, 50):7.3f} ms"
        f"   p99 {pct(lat, 99):7.3f} ms{extra}"
    )


async def _measure(label: str, urls: list[str], n: int, base: float) -> None:
    for writers, url in zip(WRITERS, urls, strict=True):
        log = await AuditLog.open(url)
        try:
            rate, lat, cpu = await _appends(log, n, writers)
        finally:
            await log.close()
        name = f"{label}, {writers} writer{'s' if writers > 1 else ''}"
        print(_line(name, rate, lat, base, cpu))


async def run(tmp: Path, scale: float) -> None:
    n = max(500, int(5_000 * scale))
    print("== audit write path: chained, redacted, group-committed appends vs raw commits ==")
    base, lat = _raw_sqlite(tmp / "audit-raw.db", n)
    print(_line("baseline: raw sqlite3 INSERT+COMMIT", base, lat))
    urls = [f"sqlite+aiosqlite:///{tmp / f'audit-bench-{w}.db'}" for w in WRITERS]
    await _measure("SQLite audit append", urls, n, base)
    try:
        server = PgServer.start(prefix="nexflow-bench-audit-pg-")
    except PgUnavailable as exc:
        print(f"  PostgreSQL skipped: {exc}")
        return
    try:
        base, lat = await _raw_pg(server.create_database("raw"), n)
        print(_line("baseline: raw asyncpg INSERT+COMMIT", base, lat))
        urls = [server.create_database(f"audit{w}") for w in WRITERS]
        await _measure("PostgreSQL audit append", urls, n, base)
    finally:
        server.stop()
