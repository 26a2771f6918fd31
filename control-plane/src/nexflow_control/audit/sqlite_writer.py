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

The thread and its connection are a `db._raw.SqliteThread`: the file is opened `mode=rw`
(never created: a missing database is an error, not a new empty chain) and checked
before every batch: if it was deleted or replaced, the old connection would go on
writing into a file nobody can see any more, so it is closed and the path opened again
(which fails when nothing usable is there). Any failure closes the connection; the next
batch starts on a fresh one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ..db._raw import SqliteThread
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
        self._db = SqliteThread(
            path,
            busy_timeout_ms=busy_timeout_ms,
            name="audit-writer",
            pragmas=("journal_mode = WAL", "synchronous = NORMAL"),
        )

    async def write(self, entries: Sequence[Entry]) -> list[AuditRecord]:
        """Chain `entries` after the head and commit them; raises what the driver raised."""
        return await self._db.run(_write, entries)

    async def close(self) -> None:
        """Close the connection and end the thread (again: nothing)."""
        await self._db.close()


def _write(conn: sqlite3.Connection, entries: Sequence[Entry]) -> list[AuditRecord]:
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute(SQLITE_HEAD).fetchone()
    links = chain(entries, (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH))
    conn.executemany(SQLITE_INSERT, [sqlite_row(k) for k in links])
    if codes := code_rows(links):
        conn.executemany(SQLITE_INSERT_CODES, codes)
    conn.execute("COMMIT")
    return [k.record for k in links]
