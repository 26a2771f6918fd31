"""`RawCounts`: `SharedCounts.take` on a SQLite file in one hop of the event loop.

Through SQLAlchemy async and aiosqlite a take was six round trips between the loop and
aiosqlite's thread (checkout, BEGIN IMMEDIATE, the count, the upsert, COMMIT, return)
and ~3 ms of a call's ~9 ms in the control plane. Here the whole transaction runs on a
thread of its own with a plain `sqlite3` connection, and the loop is woken once with the
result. The guarantees are those of the engine path: BEGIN IMMEDIATE takes the database's
write lock before the count is read, so two takes of one key, in any process, never both
see a count below a limit; the busy timeout is the database's. The file is opened
`mode=rw` (never created) and checked before every take, as `audit.SqliteWriter` does:
a deleted or replaced file is opened again; any failure closes the connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ..db._raw import SqliteThread

_UPSERT = (
    "INSERT INTO throttle_counts (kind, key, bucket, n) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (kind, key, bucket) DO UPDATE SET n = n + 1"
)
_PRUNE = "DELETE FROM throttle_counts WHERE kind = ? AND bucket <= ?"


def _count_sql(windows: int) -> str:
    """The count of `windows` windows: only placeholders vary, never a value."""
    sums = ", ".join(["COALESCE(SUM(CASE WHEN bucket > ? THEN n ELSE 0 END), 0)"] * windows)
    where = "kind = ? AND key = ? AND bucket > ?"
    return "SELECT " + sums + ", MIN(bucket) FROM throttle_counts WHERE " + where  # noqa: S608


class RawCounts:
    """Takes on the SQLite file at `path`, from a thread of their own."""

    def __init__(self, path: Path, *, busy_timeout_ms: int) -> None:
        self._db = SqliteThread(
            path,
            busy_timeout_ms=busy_timeout_ms,
            name="shared-counts",
            pragmas=("journal_mode = WAL", "synchronous = NORMAL"),
        )

    async def take(
        self,
        kind: str,
        key: str,
        second: int,
        spans: Sequence[int],
        limit: int | None,
        prune_upto: int | None,
    ) -> tuple[tuple[int, ...], int | None, bool]:
        """(hits in each window, the oldest hit's second, whether this one was added);
        rows of `kind` at or before `prune_upto` are deleted in the same transaction."""
        return await self._db.run(_take, kind, key, second, tuple(spans), limit, prune_upto)


def _take(
    conn: sqlite3.Connection,
    kind: str,
    key: str,
    second: int,
    spans: tuple[int, ...],
    limit: int | None,
    prune_upto: int | None,
) -> tuple[tuple[int, ...], int | None, bool]:
    conn.execute("BEGIN IMMEDIATE")
    params = [second - s for s in spans] + [kind, key, second - max(spans)]
    row = conn.execute(_count_sql(len(spans)), params).fetchone()
    counts = tuple(int(v) for v in row[:-1])
    taken = limit is None or counts[0] < limit
    if taken:
        conn.execute(_UPSERT, (kind, key, second))
    if prune_upto is not None:
        conn.execute(_PRUNE, (kind, prune_upto))
    conn.execute("COMMIT")
    oldest = row[-1]
    return counts, None if oldest is None else int(oldest), taken
