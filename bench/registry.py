"""Registry benchmark: the transparency log's proofs at 100,000 entries (target: an
inclusion proof ≤ 5 ms), and search over 10,000 published packages (target p50 ≤ 50 ms),
on SQLite, beside baselines measured in the same run: one indexed row read on the same
database (the floor of any proof) and the bare SHA-256 of a proof's worth of hashes.
Printed, never gated."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Awaitable
from pathlib import Path

from nexflow_registry import queries
from nexflow_registry.db import Database, log_entries, open_database, versions
from nexflow_registry.transparency import leaf_hash, log, verify_consistency, verify_inclusion
from sqlalchemy import select

from bench import registry_publish
from bench.stats import pct, summary

ENTRIES = 100_000
PACKAGES = 10_000
TARGET_PROOF_MS = 5.0
TARGET_SEARCH_MS = 50.0


async def _fill_log(db: Database, n: int) -> float:
    begin = time.perf_counter()
    for start in range(0, n, 10_000):
        async with db.writing() as conn:
            await log.append(
                conn, [f"entry-{i}".encode() for i in range(start, min(n, start + 10_000))]
            )
    return time.perf_counter() - begin


async def _timed[T](samples: list[float], coro: Awaitable[T]) -> T:
    begin = time.perf_counter()
    result = await coro
    samples.append((time.perf_counter() - begin) * 1000)
    return result


async def _proofs(db: Database, n: int, rounds: int) -> None:
    rng = random.Random(7)  # noqa: S311 (test data, not secrets)
    incl: list[float] = []
    cons: list[float] = []
    row: list[float] = []
    async with db.engine.connect() as conn:
        root = await log.root(conn, n)
        for _ in range(rounds):
            m = rng.randrange(n)
            path = await _timed(incl, log.inclusion_proof(conn, m, n))
            assert verify_inclusion(leaf_hash(f"entry-{m}".encode()), m, n, path, root)
            first = rng.randrange(1, n)
            cpath = await _timed(cons, log.consistency_proof(conn, first, n))
            assert verify_consistency(first, n, await log.root(conn, first), root, cpath)
            await _timed(
                row, conn.execute(select(log_entries.c.data).where(log_entries.c.idx == m))
            )
    begin = time.perf_counter()
    for _ in range(1000):
        hashlib.sha256(b"\x01" * 32 * 17).digest()
    sha_ms = time.perf_counter() - begin
    async with db.engine.connect() as conn:
        one = await log.inclusion_proof(conn, 4242, n)
    verify_begin = time.perf_counter()
    for _ in range(1000):
        verify_inclusion(leaf_hash(b"entry-4242"), 4242, n, one, root)
    verify_ms = time.perf_counter() - verify_begin
    print(summary(f"inclusion proof, {n} entries", incl))
    print(summary(f"consistency proof, {n} entries", cons))
    print(summary("baseline: one indexed row read", row))
    print(
        f"  inclusion p50 = {pct(incl, 50) / pct(row, 50):.1f}x one row read; "
        f"target ≤ {TARGET_PROOF_MS} ms: {'met' if pct(incl, 50) <= TARGET_PROOF_MS else 'MISSED'}"
    )
    print(
        f"  client-side verify of one inclusion proof: {verify_ms:.3f} ms "
        f"({verify_ms / sha_ms:.1f}x a bare SHA-256 of the {len(one)}-hash path)"
    )


WORDS = ["http", "csv", "pdf", "mail", "slack", "git", "sql", "image", "audio", "search"]


async def load_packages(db: Database, n: int, seed: int = 11) -> None:
    """Insert `n` packages `skill-00000`… (one version each, tags and a description drawn
    from `WORDS`) straight into the versions table: search data without n publishes."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    rows = [
        {
            "package": f"skill-{i:05d}",
            "version": "1.0.0",
            "publisher": f"pub-{i % 50}",
            "digest": hashlib.sha256(str(i).encode()).hexdigest(),
            "size": 1000,
            "archive_format": "tar.gz",
            "description": f"does {rng.choice(WORDS)} things {i}",
            "tags": json.dumps([rng.choice(WORDS), rng.choice(WORDS)]),
            "permissions": "[]",
            "manifest": "[]",
            "key_id": "0" * 64,
            "signature": "",
            "log_index": i,
            "yanked": False,
            "yank_reason": None,
            "created_at": "2026-01-01T00:00:00+00:00",
        }
        for i in range(n)
    ]
    async with db.writing() as conn:
        await conn.execute(versions.insert(), rows)


async def _search(db: Database, rounds: int) -> None:
    rng = random.Random(11)  # noqa: S311 (test data, not secrets)
    words = WORDS
    await load_packages(db, PACKAGES)
    lat: dict[str, list[float]] = {"word (many hits)": [], "exact name": [], "no hit": []}
    for _ in range(rounds):
        await _timed(lat["word (many hits)"], queries.search(db, rng.choice(words)))
        await _timed(lat["exact name"], queries.search(db, f"skill-{rng.randrange(PACKAGES):05d}"))
        await _timed(lat["no hit"], queries.search(db, "zzz-nothing"))
    for label, values in lat.items():
        print(summary(f"search {PACKAGES} packages: {label}", values))
    worst = max(pct(v, 50) for v in lat.values())
    print(
        f"  search p50 worst {worst:.2f} ms; target ≤ {TARGET_SEARCH_MS} ms: "
        f"{'met' if worst <= TARGET_SEARCH_MS else 'MISSED'}"
    )


async def run(tmp: Path, scale: float) -> None:
    print(f"== registry: transparency log of {ENTRIES} entries, search over {PACKAGES} packages ==")
    db = await open_database(f"sqlite+aiosqlite:///{tmp / 'registry-bench.db'}")
    try:
        filled = await _fill_log(db, ENTRIES)
        rate = ENTRIES / filled
        print(f"  appended {ENTRIES} entries in {filled:.1f} s ({rate:.0f}/s, batches of 10,000)")
        await _proofs(db, ENTRIES, max(50, int(500 * scale)))
        await _search(db, max(10, int(50 * scale)))
    finally:
        await db.close()
    registry_publish.run(tmp, scale)
