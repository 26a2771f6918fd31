"""Component benchmarks: policy decisions and audit appends, each with its baseline."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from nexflow_control.audit.bench import bench_append
from nexflow_control.policy import EmbeddedEngine, bench_decisions

from tests.harness import REPO

_INPUT = {
    "principal": {"id": "admin", "roles": ["admin"], "channel": "http"},
    "skill": {
        "name": "file-read",
        "version": "1.0.0",
        "digest": "sha256:" + "0" * 64,
        "publisher": "nexflow",
        "source": "builtin",
        "permissions": ["filesystem"],
        "runtime": "python",
        "tags": ["files"],
        "filesystem": [{"path": "/srv/ws", "mode": "ro"}],
        "network": [],
        "limits": {},
    },
    "call": {
        "id": "c_bench",
        "input_sha256": "0" * 64,
        "paths": [{"field": "path", "value": "a", "resolved": "/srv/ws/a", "access": "read"}],
    },
    "context": {"workspace": "/srv/ws", "time": "2026-11-21T00:00:00Z", "approved": False},
}


def _trivial_policy(tmp: Path) -> Path:
    """A policy that answers the decision shape with no logic: the engine's own floor."""
    root = tmp / "trivial-policy"
    (root / "nexflow" / "authz").mkdir(parents=True, exist_ok=True)
    (root / "data.json").write_text("{}")
    (root / "nexflow" / "authz" / "decision.rego").write_text(
        "package nexflow.authz\n\n"
        'decision := {"allow": true, "require_approval": false, "reasons": [],'
        ' "grants": {"filesystem": [], "network": [], "limits": {"wall_time_ms": 1,'
        ' "cpu_time_ms": 1, "memory_bytes": 1, "pids": 1, "output_bytes": 1}}}\n'
    )
    return root


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
    print("== policy: embedded regopy engine (compiled bundle) ==")
    engine = EmbeddedEngine(REPO / "policies")
    p50, p99 = await bench_decisions(engine, [_INPUT], max(500, int(10_000 * scale)))
    floor = EmbeddedEngine(_trivial_policy(tmp))
    f50, f99 = await bench_decisions(floor, [_INPUT], max(500, int(10_000 * scale)))
    print(f"  decision latency, shipped policy             p50 {p50:8.3f} ms   p99 {p99:8.3f} ms")
    print(f"  baseline: one-rule policy, same engine       p50 {f50:8.3f} ms   p99 {f99:8.3f} ms")
    print(f"  ratio at p50: {p50 / f50:.1f}x")

    print("== audit: hash-chained appends on SQLite (real commits) ==")
    n = max(1000, int(10_000 * scale))
    base = _raw_sqlite_commits(tmp / "raw.db", min(n, 2000))
    print(f"  baseline: raw sqlite3 INSERT+COMMIT, no chain  {base:10.0f} events/s")
    for conc in (1, 64):
        url = f"sqlite+aiosqlite:///{tmp / f'audit-{conc}.db'}"
        rate = await bench_append(url, n, conc)
        print(f"  {conc:>3} concurrent appenders                     {rate:10.0f} events/s")
