"""Running Alembic programmatically on a connection the caller already holds."""

from __future__ import annotations

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

log = structlog.get_logger("nexflow.db")

BASELINE = "0001"
"""The revision whose schema the pre-Alembic `create_all` code made."""
_BASELINE_TABLES = frozenset({"audit_events", "users", "api_tokens", "identities"})
_VERSION_TABLE = "alembic_version"


def target_metadata() -> list[MetaData]:
    """Every table the migrations manage, as the areas that own them define them."""
    from ...accounts.models import metadata as accounts
    from ...approvals.models import metadata as approvals
    from ...audit.models import metadata as audit
    from ...chat.models import metadata as chat
    from ...schedules.models import metadata as schedules
    from ...secrets.models import metadata as secrets
    from ...throttle.models import metadata as throttle

    return [audit, accounts, approvals, throttle, secrets, schedules, chat]


def config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged scripts; `connection` is what env.py runs on."""
    cfg = Config()
    cfg.set_main_option("script_location", "nexflow_control.db:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision the package ships."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


async def upgrade(conn: AsyncConnection) -> str | None:
    """Migrate to head inside `conn`'s open transaction; the revision it was at before."""
    return await conn.run_sync(_upgrade)


async def current(conn: AsyncConnection) -> str | None:
    """The database's revision (None: never migrated)."""
    return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def current_at(url: str) -> str | None:
    """`current` on a connection of its own to the database at `url`."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await current(conn)
    finally:
        await engine.dispose()


def _upgrade(conn: Connection) -> str | None:
    cfg = config(conn)
    before = MigrationContext.configure(conn).get_current_revision()
    tables = set(inspect(conn).get_table_names())
    if before is None and _VERSION_TABLE not in tables and tables >= _BASELINE_TABLES:
        log.info("db.adopted", revision=BASELINE, why="tables made before migrations existed")
        command.stamp(cfg, BASELINE)
    command.upgrade(cfg, "head")
    after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("db.migrated", before=before, after=after)
    return before
