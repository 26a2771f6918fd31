"""A call's sealed secrets read on the raw driver: one hop (SQLite) or one round trip
(PostgreSQL) instead of SQLAlchemy's checkout, pre-ping, execute and return.

Through SQLAlchemy async a `reveal` was ~1-2 ms of a call, nearly all of it the engine's
hops between the event loop and the driver, not the read. Here:

- SQLite: the SELECT runs on a thread of its own with a plain `sqlite3` connection and
  the loop is woken once with the rows (as `audit.SqliteWriter` and
  `throttle.RawCounts` do). The file is opened `mode=rw` (never created) and checked
  before every read: a deleted or replaced file is opened again.
- PostgreSQL: one asyncpg connection of the store's own, the statement prepared once
  (asyncpg's statement cache); reads take turns on it. A connection that failed is
  dropped and the next read opens a new one.

Nothing is cached: every read sees the table as committed, so a rotation or a removal
(by this control plane or another on the same database) is what the next call gets.
What is read is only ever sealed bytes; opening them is `SecretStore`'s business.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from ..db import Database
from ..db._raw import SqliteThread, pg_connect_args, sqlite_file

Row = tuple[str, int, bytes, bytes]
"""name, version, nonce, sealed."""

_PG_READ = "SELECT name, version, nonce, sealed FROM secrets WHERE name = ANY($1::text[])"


def _sqlite_read(count: int) -> str:
    marks = ", ".join("?" * count)  # only placeholders vary, never a value
    return f"SELECT name, version, nonce, sealed FROM secrets WHERE name IN ({marks})"  # noqa: S608


class SqliteReads:
    """Reads on the SQLite file at `path`, from a thread of their own."""

    def __init__(self, path: Path, *, busy_timeout_ms: int) -> None:
        self._db = SqliteThread(path, busy_timeout_ms=busy_timeout_ms, name="secret-reads")

    async def read(self, names: Sequence[str]) -> list[Row]:
        return await self._db.run(_read, tuple(names))

    async def close(self) -> None:
        await self._db.close()


def _read(conn: sqlite3.Connection, names: tuple[str, ...]) -> list[Row]:
    rows = conn.execute(_sqlite_read(len(names)), names).fetchall()
    return [(str(n), int(v), bytes(nonce), bytes(sealed)) for n, v, nonce, sealed in rows]


class PgReads:
    """Reads through one asyncpg connection opened with `connect_args`."""

    def __init__(self, connect_args: dict[str, Any]) -> None:
        self._connect_args = connect_args
        self._conn: asyncpg.Connection | None = None
        self._turn = asyncio.Lock()  # one statement at a time on a connection

    async def read(self, names: Sequence[str]) -> list[Row]:
        async with self._turn:
            try:
                if self._conn is not None and self._conn.is_closed():
                    self._conn = None  # the server went away while we were idle
                if self._conn is None:
                    self._conn = await asyncpg.connect(**self._connect_args)
                rows = await self._conn.fetch(_PG_READ, list(names))
            except BaseException:
                self._drop()
                raise
        return [(str(r[0]), int(r[1]), bytes(r[2]), bytes(r[3])) for r in rows]

    async def close(self) -> None:
        async with self._turn:
            conn, self._conn = self._conn, None
            if conn is not None and not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.close(), 5)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    conn.terminate()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()  # no goodbye round trip to a server that may be gone


def raw_reads(db: Database) -> SqliteReads | PgReads | None:
    """The raw reader for `db`'s database; None for an in-memory or URI SQLite database
    (a second connection would see another database): the engine reads those."""
    if db.engine.dialect.name == "postgresql":
        return PgReads(pg_connect_args(db))
    path = sqlite_file(db)
    return None if path is None else SqliteReads(path, busy_timeout_ms=db.busy_timeout_ms)
