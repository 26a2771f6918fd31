"""Everything that differs between database backends, in one place.

* SQLite: WAL journal, `synchronous=NORMAL`, a busy timeout, and `BEGIN IMMEDIATE` for
  write transactions, which takes the database write lock *before* the audit chain's
  head is read, so two processes can never both extend the same head.
* PostgreSQL (`postgresql+asyncpg://`): write transactions take
  `pg_advisory_xact_lock(WRITE_LOCK_KEY)` first, released at commit or rollback, so
  audited writes (appends, and the changes committed with their events) and migrations
  from any number of processes go one at a time. Chosen over `SELECT ... FOR
  UPDATE` on the head row (there is no row to lock in an empty log, and a lock on the
  last row does not stop a second writer that read the same head) and over `LOCK TABLE
  ... IN EXCLUSIVE MODE` (the same serialization, but it needs the table to exist, and
  `Database.open` takes the lock before the migrations that create it).
  The head is read after the lock by a new statement; under READ COMMITTED (the default,
  and what the engine uses) that statement sees every chain extension committed before
  the lock was granted. Readers never wait for the lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

SUPPORTED = frozenset({"sqlite", "postgresql"})
WRITE_LOCK_KEY = 0x4E4558_41554454  # "NEX" "AUDT": the audit chain's lock since the start
_BEGIN_OPTION = "nexflow_begin"
WRITE_TX: dict[str, Any] = {_BEGIN_OPTION: "BEGIN IMMEDIATE"}
"""Execution options for a connection that will write (see `lock_writes`)."""


def ensure_parent_dir(url: str) -> None:
    """Create the folder of a SQLite database file; nothing for other URLs."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def prepare_engine(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    """Install the per-backend connection setup; refuses unsupported backends."""
    name = engine.dialect.name
    if name not in SUPPORTED:
        raise ValueError(f"the audit log does not support the {name!r} database")
    if name != "sqlite":
        return

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


async def lock_writes(conn: AsyncConnection) -> None:
    """Hold the write lock until this transaction ends; call first in every audited write.

    SQLite already holds the write lock (the transaction began with BEGIN IMMEDIATE
    because the connection carries `WRITE_TX`). PostgreSQL takes an advisory lock.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
