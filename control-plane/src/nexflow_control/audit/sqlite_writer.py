"""`SqliteWriter`: the audit log's appends on SQLite, one thread and one raw connection.

Through SQLAlchemy async and aiosqlite, one batch was a dozen hops between the event
loop and aiosqlite's thread (checkout, BEGIN, head, INSERT, codes, COMMIT, each one
there and back) and cost ~4 ms of CPU whatever the disk did. Here a batch is one hop:
the writer task hands the whole batch to this thread, which runs BEGIN IMMEDIATE, the
head read, one `executemany`, COMMIT on a plain `sqlite3` connection, and the result
comes back as one wake-up of the loop. The guarantees are those of `Database.writing()`:
BEGIN IMMEDIATE takes the database's write lock before the head is read, so any number
of processes (and `AuditLog.transaction()` on the engine) extend one chain; the batch is
all or nothing; the busy timeout is the database's.

The file is opened `mode=rw` (never created: a missing database is an error, not a new
empty chain) and checked before every batch: if it was deleted or replaced, the old
connection would go on writing into a file nobody can see any more, so it is closed and
the path opened again (which fails when nothing usable is there). Any failure closes the
connection; the next batch starts on a fresh one.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from .append import (
    SQLITE_HEAD,
    SQLITE_INSERT,
    SQLITE_INSERT_CODES,
    Entry,
    chain,
    code_rows,
    sqlite_row,
)
from .chain import GENESIS_HASH
from .records import AuditRecord


class SqliteWriter:
    """Appends batches to the SQLite file at `path` from a thread of its own."""

    def __init__(self, path: Path, *, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self._closed = False
        # Touched only from the thread above.
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None

    async def write(self, entries: Sequence[Entry]) -> list[AuditRecord]:
        """Chain `entries` after the head and commit them; raises what the driver raised."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._write, entries)

    async def close(self) -> None:
        """Close the connection and end the thread (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._drop)
        self._thread.shutdown(wait=False)

    def _write(self, entries: Sequence[Entry]) -> list[AuditRecord]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(SQLITE_HEAD).fetchone()
            links = chain(entries, (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH))
            conn.executemany(SQLITE_INSERT, [sqlite_row(k) for k in links])
            if codes := code_rows(links):
                conn.executemany(SQLITE_INSERT_CODES, codes)
            conn.execute("COMMIT")
        except BaseException:
            self._drop()
            raise
        return [k.record for k in links]

    def _connection(self) -> sqlite3.Connection:
        st = os.stat(self._path)  # gone: FileNotFoundError, the batch fails
        if self._conn is not None and self._file != (st.st_dev, st.st_ino):
            self._drop()  # deleted or replaced under us
        if self._conn is None:
            uri = f"file:{quote(str(self._path))}?mode=rw"
            timeout = self._busy_timeout_ms / 1000
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
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
