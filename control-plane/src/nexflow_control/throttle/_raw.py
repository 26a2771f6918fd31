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

import asyncio
import os
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from ..db import Database

_UPSERT = (
    "INSERT INTO throttle_counts (kind, key, bucket, n) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (kind, key, bucket) DO UPDATE SET n = n + 1"
)
_PRUNE = "DELETE FROM throttle_counts WHERE kind = ? AND bucket <= ?"


def sqlite_file(db: Database) -> Path | None:
    """The SQLite file behind `db`; None for PostgreSQL and an in-memory or URI database
    (a second connection would not see the engine's)."""
    url = db.engine.url
    if db.engine.dialect.name != "sqlite":
        return None
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:") or url.query.get("uri"):
        return None
    return Path(path)


def _count_sql(windows: int) -> str:
    """The count of `windows` windows: only placeholders vary, never a value."""
    sums = ", ".join(["COALESCE(SUM(CASE WHEN bucket > ? THEN n ELSE 0 END), 0)"] * windows)
    where = "kind = ? AND key = ? AND bucket > ?"
    return "SELECT " + sums + ", MIN(bucket) FROM throttle_counts WHERE " + where  # noqa: S608


class RawCounts:
    """Takes on the SQLite file at `path`, from a thread of their own."""

    def __init__(self, path: Path, *, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shared-counts")
        # Touched only from the thread above.
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None

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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, self._take, kind, key, second, tuple(spans), limit, prune_upto
        )

    def _take(
        self,
        kind: str,
        key: str,
        second: int,
        spans: tuple[int, ...],
        limit: int | None,
        prune_upto: int | None,
    ) -> tuple[tuple[int, ...], int | None, bool]:
        conn = self._connection()
        try:
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
        except BaseException:
            self._drop()
            raise
        oldest = row[-1]
        return counts, None if oldest is None else int(oldest), taken

    def _connection(self) -> sqlite3.Connection:
        st = os.stat(self._path)  # gone: FileNotFoundError, the take fails
        if self._conn is not None and self._file != (st.st_dev, st.st_ino):
            self._drop()
        if self._conn is None:
            uri = f"file:{quote(str(self._path))}?mode=rw"
            conn = sqlite3.connect(
                uri, uri=True, timeout=self._busy_timeout_ms / 1000, isolation_level=None
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            except BaseException:
                conn.close()
                raise
            self._conn, self._file = conn, (st.st_dev, st.st_ino)
        return self._conn

    def _drop(self) -> None:
        conn, self._conn, self._file = self._conn, None, None
        if conn is not None:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # closing rolls back what is left
            finally:
                conn.close()
