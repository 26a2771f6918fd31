"""`Database`: the control plane's one database, opened once and shared by every area.

`await Database.open(url)` builds the engine (per-backend setup in `_dialect`), and
migrates the schema to head under the write lock, so two processes starting at once
never both migrate. The audit log, the accounts (and web sessions) and the approvals
are each handed the same `Database`; each reads and writes only its own tables in it.

`writing()` is a write transaction that holds the database's write lock: the audit log
chains its records in it, and an area's change committed with its audit events runs in
one (`AuditLog.transaction()`). `write_turn` is this process's queue for such writers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import AuditUnavailable
from . import migrations
from ._dialect import WRITE_TX, ensure_parent_dir, lock_writes, prepare_engine
from ._types import canonical_json


class Database:
    """The engine, the write lock and the write turn. Build it with `await Database.open(url)`."""

    def __init__(self, engine: AsyncEngine, *, busy_timeout_ms: int = 5000) -> None:
        self._engine = engine
        self.busy_timeout_ms = busy_timeout_ms
        """How long a SQLite writer waits for another's lock (the engine's connections
        and the audit log's own writer both use it)."""
        self.write_turn = asyncio.Lock()
        """Held by `AuditLog.transaction()`: this process's transactional writers (accounts,
        approvals) take turns here rather than in the database's lock wait (SQLite's busy
        handler backs off in steps of milliseconds). Hold it for other single writes to
        the same database, too."""

    @classmethod
    async def open(cls, url: str, *, busy_timeout_ms: int = 5000) -> Database:
        """Connect and migrate the schema to head; `AuditUnavailable` if it cannot be used.

        `busy_timeout_ms` bounds how long SQLite waits for another writer's lock before
        a write fails. (The error names the audit store: the store users know this
        database as, and the one a control plane cannot start without.)
        """
        try:
            ensure_parent_dir(url)
            # Pre-ping: a server restarted while this process was idle left only dead
            # connections in the pool; the first write after it must not fail for that.
            engine = create_async_engine(
                url, json_serializer=canonical_json, pool_pre_ping=not url.startswith("sqlite")
            )
        except (OSError, SQLAlchemyError, ValueError) as exc:
            raise _cannot_open(exc) from exc
        database = cls(engine, busy_timeout_ms=busy_timeout_ms)
        from alembic.util.exc import CommandError as AlembicError  # only a process that opens

        try:
            prepare_engine(engine, busy_timeout_ms=busy_timeout_ms)
            async with database.writing() as conn:
                await migrations.upgrade(conn)
        except (OSError, SQLAlchemyError, ValueError, AlembicError) as exc:
            await engine.dispose()
            raise _cannot_open(exc) from exc
        return database

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (reads open their own connection on it)."""
        return self._engine

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction holding the write lock; committed when the block ends."""
        async with self._engine.connect() as conn:
            await conn.execution_options(**WRITE_TX)
            async with conn.begin():
                await lock_writes(conn)
                yield conn

    async def close(self) -> None:
        """Release every connection."""
        await self._engine.dispose()


def _cannot_open(exc: BaseException) -> AuditUnavailable:
    return AuditUnavailable(f"the audit store cannot be opened ({error_summary(exc)})")


def error_type(exc: BaseException) -> str:
    """The lower error's type only: no SQL, no parameters (which may hold a token hash)."""
    orig = getattr(exc, "orig", None)
    return type(orig if isinstance(orig, BaseException) else exc).__name__


def error_summary(exc: BaseException) -> str:
    """A short, content-free description of a lower error (no SQL, no parameters)."""
    orig = getattr(exc, "orig", None)
    inner = orig if isinstance(orig, BaseException) else exc
    text = str(inner.args[0]) if inner.args and isinstance(inner.args[0], str) else ""
    return f"{type(inner).__name__}: {text[:120]}" if text else type(inner).__name__
