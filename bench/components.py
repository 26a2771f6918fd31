"""Component benchmark: audit appends, beside raw sqlite3 commits (policy: bench/policy.py)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from nexflow_control.audit.bench import bench_append


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


async def run(tmp: Path, scale: float) -> None:
    print("== audit: hash-chained appends on SQLite (real commits) ==")
    n = max(1000, int(10_000 * scale))
    base = _raw_sqlite_commits(tmp / "raw.db", min(n, 2000))
    print(f"  baseline: raw sqlite3 INSERT+COMMIT, no chain  {base:10.0f} events/s")
    for conc in (1, 64):
        url = f"sqlite+aiosqlite:///{tmp / f'audit-{conc}.db'}"
        rate = await bench_append(url, n, conc)
        print(f"  {conc:>3} concurrent appenders                     {rate:10.0f} events/s")
