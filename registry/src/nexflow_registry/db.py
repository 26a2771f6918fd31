"""The registry's own small schema and engine (SQLite by default; one process per database).

The registry keeps its tables apart from the control plane's. `open_database` creates
them if missing and records the schema version; a newer version than this code knows is
refused rather than guessed at. Writers take `Database.write_turn` (this process's queue)
and, on SQLite, `BEGIN IMMEDIATE`, so a publish and its log entry commit together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
    false,
    inspect,
    select,
    text,
    true,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .errors import RegistryUnavailable

SCHEMA_VERSION = 3
metadata = MetaData()

schema_info = Table("registry_schema", metadata, Column("version", Integer, primary_key=True))
log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)
log_nodes = Table(
    "log_nodes",
    metadata,
    # level << 48 | index: one integer key, so a proof's nodes are one `IN` lookup.
    Column("node", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)
publishers = Table(
    "publishers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", String(40), nullable=False),
)
publisher_keys = Table(
    "publisher_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("publisher", String(64), nullable=False, index=True),
    Column("public_key", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    # active | rotated (no new publishes; its versions stay valid) | revoked (distrust it)
    Column("status", String(16), nullable=False, server_default="active"),
    Column("status_reason", Text, nullable=True),
    Column("log_index", BigInteger, nullable=True),
)
tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("publisher", String(64), nullable=True),
    Column("package", String(64), nullable=True),
    Column("admin", Boolean, nullable=False, default=False),
    Column("created_at", String(40), nullable=False),
)
versions = Table(
    "versions",
    metadata,
    Column("package", String(64), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("publisher", String(64), nullable=False, index=True),
    Column("digest", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("archive_format", String(8), nullable=False),
    Column("description", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("permissions", Text, nullable=False),
    Column("manifest", Text, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("yanked", Boolean, nullable=False, default=False),
    Column("yank_reason", Text, nullable=True),
    Column("created_at", String(40), nullable=False),
    # schema 2: the scan, unsigned (ClawHub) publishes, reasoned removal
    Column("scan_verdict", String(8), nullable=False, server_default="clean"),
    Column("scan_findings", Text, nullable=False, server_default="[]"),
    Column("signed", Boolean, nullable=False, server_default=true()),
    Column("changelog", Text, nullable=False, server_default=""),
    Column("removed", Boolean, nullable=False, server_default=false()),
    Column("removed_reason", Text, nullable=True),
    # schema 3: what the version asks for (scan.Requests as JSON); "" = published before
    Column("requests", Text, nullable=False, server_default=""),
)
name_reviews = Table(
    "name_reviews",
    metadata,
    # a new package whose name is too close to another publisher's: held until decided
    Column("package", String(64), primary_key=True),
    Column("publisher", String(64), nullable=False),
    Column("similar_to", Text, nullable=False),
    Column("status", String(16), nullable=False),  # held | approved | rejected
    Column("reason", Text, nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("decided_at", String(40), nullable=True),
)
uploads = Table(
    "uploads",
    metadata,
    # ClawHub's per-file uploads, waiting for the `POST /api/v1/skills` that names them
    Column("ticket", String(64), primary_key=True),
    Column("publisher", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_id", String(64), nullable=True),
    Column("created_at", String(40), nullable=False),
)


class Database:
    """The engine and this process's write turn."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.write_turn = asyncio.Lock()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, one at a time in this process; committed when the block ends."""
        async with self.write_turn, self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                await conn.execution_options(nexflow_begin="BEGIN IMMEDIATE")
            async with conn.begin():
                yield conn

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # BEGIN is emitted below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 5000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("nexflow_begin", "BEGIN"))


def _add_missing_columns(sync_conn: Any) -> None:
    """Bring an older schema up: every column added since has a server default."""
    inspector = inspect(sync_conn)
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=sync_conn.dialect)
            default = column.server_default
            clause = ""
            if default is not None:
                arg = getattr(default, "arg", "")
                value = arg if isinstance(arg, str) else str(arg.compile(dialect=sync_conn.dialect))
                clause = f" NOT NULL DEFAULT {value if not isinstance(arg, str) else repr(value)}"
            sync_conn.execute(
                text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{clause}")
            )


def _ensure_parent(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)


async def open_database(url: str) -> Database:
    """Connect, create the schema if missing; `RegistryUnavailable` if it cannot be used."""
    _ensure_parent(url)
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine)
    database = Database(engine)
    try:
        async with database.writing() as conn:
            await conn.run_sync(metadata.create_all)
            found = (await conn.execute(select(schema_info.c.version))).scalar()
            if found is None:
                await conn.execute(schema_info.insert().values(version=SCHEMA_VERSION))
            elif found < SCHEMA_VERSION:
                await conn.run_sync(_add_missing_columns)
                await conn.execute(schema_info.update().values(version=SCHEMA_VERSION))
            elif found > SCHEMA_VERSION:
                raise RegistryUnavailable(
                    f"the database's schema is version {found}; "
                    f"this registry knows {SCHEMA_VERSION}"
                )
    except RegistryUnavailable:
        await engine.dispose()
        raise
    except Exception as exc:
        await engine.dispose()
        raise RegistryUnavailable(f"the database cannot be opened ({type(exc).__name__})") from exc
    return database
