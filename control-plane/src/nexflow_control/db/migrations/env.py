"""Alembic environment: on the caller's connection (the runtime), or an async engine (CLI).

The runtime passes its connection in `config.attributes["connection"]`, already inside a
write transaction holding the write lock; Alembic then adds no transaction of its own.
Run by the `alembic` command instead (to draft a revision), it connects with the async
engine of `sqlalchemy.url` (or NEXFLOW_DATABASE_URL), the pattern of Alembic's async
template.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from nexflow_control.db.migrations._run import target_metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move instead
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("NEXFLOW_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set NEXFLOW_DATABASE_URL or sqlalchemy.url")
    asyncio.run(_run_async(url))


_main()
