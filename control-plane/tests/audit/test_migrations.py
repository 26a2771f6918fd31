"""The schema comes from Alembic revisions: same as the models, adopted from create_all, a CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from nexflow_control.audit import AuditEvent, AuditLog, verify
from nexflow_control.audit.models import metadata as audit_metadata
from nexflow_control.cli import app
from nexflow_control.db import migrations
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner


async def schema_diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def diff(sync: Connection) -> list[Any]:
                context = MigrationContext.configure(sync, opts={"compare_type": True})
                found = compare_metadata(context, migrations.target_metadata())
                # The chat tables (and their FTS5 shadow tables) are the gateway's: its
                # tests compare them with its own models.
                return [d for d in found if not _gateway_table(d)]

            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


def _gateway_table(change: Any) -> bool:
    if isinstance(change, list):  # modify_* changes: (kind, schema, table, ...)
        return str(change[0][2]).startswith("chat_")
    table = getattr(change[1], "table", change[1])
    return str(getattr(table, "name", "")).startswith("chat_")


revision = migrations.current_at


async def test_migrated_schema_equals_the_models(db_url: str) -> None:
    """After `upgrade head` autogenerate finds no difference from the models' metadata."""
    log = await AuditLog.open(db_url)
    await log.close()
    assert await schema_diff(db_url) == []
    assert await revision(db_url) == migrations.head()


async def test_open_twice_migrates_once(db_url: str) -> None:
    """A second open finds the database at head and keeps its records."""
    log = await AuditLog.open(db_url)
    await log.append(AuditEvent(action="test.one"))
    await log.close()
    log = await AuditLog.open(db_url)
    try:
        assert (await verify(log)).checked == 1
    finally:
        await log.close()
    assert await revision(db_url) == migrations.head()


def make_legacy(db_path: Path, *, with_accounts: bool) -> None:
    """A database as the pre-Alembic code left it: create_all, no alembic_version."""
    from nexflow_control.accounts.models import metadata as accounts_metadata

    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{db_path}")
    audit_metadata.create_all(engine)
    if with_accounts:
        accounts_metadata.create_all(engine)
    engine.dispose()


async def test_create_all_database_is_adopted(db_url: str, db_path: Path) -> None:
    """Tables made by the old create_all, no alembic_version: stamped, records kept, chain ok."""
    make_legacy(db_path, with_accounts=True)
    log = await AuditLog.open(db_url)  # the old code's tables, filled by the same store
    await log.append(AuditEvent(action="test.before"))
    await log.close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("DROP TABLE alembic_version")  # as if made before migrations existed
    log = await AuditLog.open(db_url)
    try:
        await log.append(AuditEvent(action="test.after"))
        report = await verify(log)
    finally:
        await log.close()
    assert report.ok and report.checked == 2
    assert await revision(db_url) == migrations.head()
    assert migrations.head() > migrations.BASELINE  # adopted at the baseline, then upgraded
    assert await schema_diff(db_url) == []


async def test_audit_only_database_gets_the_accounts_tables(db_url: str, db_path: Path) -> None:
    """A database from before the accounts tables existed is completed by the baseline."""
    make_legacy(db_path, with_accounts=False)
    log = await AuditLog.open(db_url)
    await log.close()
    assert await schema_diff(db_url) == []


def test_db_cli_upgrade_and_current(db_url: str, db_path: Path) -> None:
    """`nexflow db current` says behind (exit 1) before `nexflow db upgrade`, at head after."""
    runner = CliRunner()
    db_path.parent.mkdir(parents=True)
    before = runner.invoke(app, ["db", "current", "--database-url", db_url])
    assert before.exit_code == 1 and "current: none" in before.output, before.output
    up = runner.invoke(app, ["db", "upgrade", "--database-url", db_url])
    assert up.exit_code == 0, up.output
    after = runner.invoke(app, ["db", "current", "--database-url", db_url])
    assert after.exit_code == 0 and f"current: {migrations.head()}" in after.output
