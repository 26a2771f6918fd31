"""Opening the chat database: the control plane's database URL, its tables already made."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..errors import StoreUnavailable
from .tables import metadata


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
