"""Opening the chat database: the control plane's database URL, its tables already made;
and `in_one_hop`, which runs one store operation's statements together.

On a SQLite file, aiosqlite sends every cursor step (open, execute, fetch, close) to its
thread and back through the event loop: a turn's history read and its write transaction
took ~22 such hops, most of the store's CPU per turn (`bench/chat_gateway.py`).
`in_one_hop` runs the whole operation in one worker thread instead, on a plain `sqlite3`
engine on the same file with the same pragmas (one hop there, one back). On PostgreSQL
(and an in-memory SQLite, which a second engine would not see) the same function runs on
the async engine's connection (`run_sync`), so each statement is written once.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..errors import StoreUnavailable
from .tables import metadata

_WORKERS = 4
_pool: ThreadPoolExecutor | None = None
_THREADED: weakref.WeakKeyDictionary[Engine, Engine | None] = weakref.WeakKeyDictionary()


async def open_engine(url: str) -> AsyncEngine:
    """An engine on `url` whose chat tables exist, or `StoreUnavailable` saying why not."""
    try:
        engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    except (SQLAlchemyError, ValueError) as exc:
        raise StoreUnavailable(f"bad database URL: {type(exc).__name__}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    try:
        async with engine.connect() as conn:
            missing = await conn.run_sync(_missing_tables)
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        raise StoreUnavailable(f"the database cannot be opened: {type(exc).__name__}") from exc
    if missing:
        await engine.dispose()
        raise StoreUnavailable(
            f"the database has no {', '.join(sorted(missing))}: start the control plane on it "
            "first (it creates the chat tables), or run `nexflow db upgrade`"
        )
    return engine


def _missing_tables(conn: Connection) -> set[str]:
    """The chat tables (and columns, named `table.column`) the database does not have yet."""
    found = inspect(conn)
    missing = set(metadata.tables) - set(found.get_table_names())
    for name, table in metadata.tables.items():
        if name not in missing:
            have = {c["name"] for c in found.get_columns(name)}
            missing |= {f"{name}.{c.name}" for c in table.columns if c.name not in have}
    return missing


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Cascading deletes, and the control plane's concurrency settings on the shared file."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    # WAL (the control plane made the file so) without an fsync per commit: a crash may
    # lose the last turns, never corrupt the file; ~8 ms less per stored turn here.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


async def in_one_hop[T](engine: AsyncEngine, work: Callable[[Connection], T], *, write: bool) -> T:
    """`work` run on one connection of `engine`'s database, in a transaction committed at
    its end when `write`; on a SQLite file in one worker thread (see the module)."""
    threaded = statement_engine(engine)
    if threaded is engine.sync_engine:
        async with engine.begin() if write else engine.connect() as conn:
            return await conn.run_sync(work)
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="nexflow-gateway-db")
    return await asyncio.get_running_loop().run_in_executor(
        _pool, _in_thread, threaded, work, write
    )


def statement_engine(engine: AsyncEngine) -> Engine:
    """The synchronous engine `in_one_hop` runs statements on (its events see them): a
    `sqlite3` engine on the same file, made once, disposed with `engine`; else
    `engine.sync_engine` itself."""
    own = engine.sync_engine
    if own in _THREADED:
        return _THREADED[own] or own
    url = engine.url
    memory = not url.database or url.database == ":memory:" or "mode=memory" in str(url)
    threaded = None
    if url.get_backend_name() == "sqlite" and url.get_driver_name() == "aiosqlite" and not memory:
        threaded = create_engine(
            url.set(drivername="sqlite"),
            connect_args={"check_same_thread": False},
            pool_size=_WORKERS,
        )
        event.listen(threaded, "connect", _sqlite_pragmas)
        event.listen(own, "engine_disposed", lambda _engine: threaded.dispose())
    _THREADED[own] = threaded
    return threaded or own


def _in_thread[T](engine: Engine, work: Callable[[Connection], T], write: bool) -> T:
    with engine.begin() if write else engine.connect() as conn:
        return work(conn)
