"""The raw drivers under the engine, for hot paths that need one short transaction
instead of SQLAlchemy async's hops (`audit.SqliteWriter`, `throttle.RawCounts`, the
`secrets` reads):

    SqliteThread      one plain `sqlite3` connection to the database file, used from a
                      thread of its own: the whole unit of work runs there and the loop
                      is woken once with its result
    sqlite_file(db)   the file a SQLite database is, when it is one
    pg_connect_args(db)   what asyncpg needs to open a connection of its own to `db`

A `SqliteThread` opens its file `mode=rw` (never created) and checks it before each unit:
a deleted or replaced file is opened again. A unit that raises closes the
connection (rolling back what it left open); the next one opens a new one.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

if TYPE_CHECKING:
    from ._database import Database

T = TypeVar("T")


def sqlite_file(db: Database) -> Path | None:
    """The SQLite file behind `db`; None for PostgreSQL and for an in-memory or URI
    SQLite database (a second connection would not see the engine's)."""
    url = db.engine.url
    if db.engine.dialect.name != "sqlite":
        return None
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:") or url.query.get("uri"):
        return None
    return Path(path)


def pg_connect_args(db: Database) -> dict[str, Any]:
    """asyncpg's `connect()` keyword arguments for `db`'s PostgreSQL database (without
    SQLAlchemy's statement-cache options, which asyncpg does not take)."""
    _, params = db.engine.dialect.create_connect_args(db.engine.url)
    return {k: v for k, v in params.items() if not k.startswith("prepared_")}


class SqliteThread:
    def __init__(
        self, path: Path, *, busy_timeout_ms: int, name: str, pragmas: Sequence[str] = ()
    ) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._pragmas = tuple(pragmas)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._closed = False
        # Touched only from the thread above.
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None

    async def run(self, unit: Callable[..., T], *args: Any) -> T:
        """`unit(connection, *args)` on the thread; its result, or what it raised."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._run, unit, args)

    async def close(self) -> None:
        """Close the connection and end the thread (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._drop)
        self._thread.shutdown(wait=True)

    def _run(self, unit: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._connection()
        try:
            return unit(conn, *args)
        except BaseException:
            self._drop()
            raise

    def _connection(self) -> sqlite3.Connection:
        st = os.stat(self._path)  # gone: FileNotFoundError, the unit fails
        if self._conn is not None and self._file != (st.st_dev, st.st_ino):
            self._drop()
        if self._conn is None:
            uri = f"file:{quote(str(self._path))}?mode=rw"
            conn = sqlite3.connect(
                uri, uri=True, timeout=self._busy_timeout_ms / 1000, isolation_level=None
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                for pragma in self._pragmas:
                    conn.execute(f"PRAGMA {pragma}")
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
