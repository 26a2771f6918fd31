"""Component benchmark: audit appends on SQLite and on PostgreSQL, each beside raw commits
on the same database (policy: bench/policy.py). Targets are printed, never gated."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import asyncpg
from nexflow_control.audit.bench import bench_append

from tests.pg import PgServer, PgUnavailable

TARGET_SQLITE = 2_000  # events/s, 64 concurrent appenders, hash chain, real commits
TARGET_POSTGRES = 5_000


def _raw_sqlite_commits(path: Path, n: int) -> float:
    """The floor for one-commit-per-event: plain sqlite3, WAL, synchronous=NORMAL."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE e (seq INTEGER PRIMARY KEY, body TEXT)")
    t = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO e (body) VALUES (?)", (f'{{"i": {i}}}',))
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - t)
    conn.close()
    return rate


async def _raw_pg_commits(url: str, n: int) -> float:
    """The floor for one-commit-per-event on PostgreSQL: plain asyncpg, one connection."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute("CREATE TABLE e (seq BIGSERIAL PRIMARY KEY, body TEXT)")
        t = time.perf_counter()
        for i in range(n):
            async with conn.transaction():
                await conn.execute("INSERT INTO e (body) VALUES ($1)", f'{{"i": {i}}}')
        return n / (time.perf_counter() - t)
    finally:
        await conn.close()


def _target(rate: float, target: int) -> str:
    return f"target >= {target:,} events/s: {'met' if rate >= target else 'NOT met'}"


async def run(tmp: Path, scale: float) -> None:
    await _run_sqlite(tmp, scale)
    await _run_postgres(scale)


async def _run_postgres(scale: float) -> None:
    print("== audit: hash-chained appends on PostgreSQL (real server, local TCP) ==")
    try:
        server = PgServer.start(prefix="nexflow-bench-pg-")
    except PgUnavailable as exc:
        print(f"  skipped: {exc}")
        return
    try:
        n = max(1000, int(10_000 * scale))
        base = await _raw_pg_commits(server.create_database("raw"), min(n, 2000))
        print(f"  baseline: raw asyncpg INSERT+COMMIT, no chain  {base:10.0f} events/s")
        for conc in (1, 64):
            rate = await bench_append(server.create_database(f"audit{conc}"), n, conc)
            line = f"  {conc:>3} concurrent appenders                     {rate:10.0f} events/s"
            extra = f"  ({rate / base:.1f}x baseline"
            if conc == 64:
                extra += f"; {_target(rate, TARGET_POSTGRES)}"
            print(line + extra + ")")
    finally:
        server.stop()


async def _run_sqlite(tmp: Path, scale: float) -> None:
    print("== audit: hash-chained appends on SQLite (real commits) ==")
    n = max(1000, int(10_000 * scale))
    base = _raw_sqlite_commits(tmp / "raw.db", min(n, 2000))
    print(f"  baseline: raw sqlite3 INSERT+COMMIT, no chain  {base:10.0f} events/s")
    for conc in (1, 64):
        url = f"sqlite+aiosqlite:///{tmp / f'audit-{conc}.db'}"
        rate = await bench_append(url, n, conc)
        line = f"  {conc:>3} concurrent appenders                     {rate:10.0f} events/s"
        extra = f"  ({rate / base:.1f}x baseline"
        if conc == 64:
            extra += f"; {_target(rate, TARGET_SQLITE)}"
        print(line + extra + ")")
