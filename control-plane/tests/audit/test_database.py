"""The one database: opened and migrated on its own, shared by the areas, one write turn."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nexflow_control.accounts import AccountStore, Actor
from nexflow_control.approvals import ApprovalStore
from nexflow_control.audit import AuditFilter, AuditLog, AuditUnavailable, query, verify
from nexflow_control.db import Database, migrations
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

AREA_TABLES = {"audit_events", "audit_reason_codes", "users", "approvals", "web_sessions"}


async def test_database_open_migrates_every_area_without_an_audit_log(db_url: str) -> None:
    """`Database.open` alone brings the schema to head, the tables of every area included."""
    db = await Database.open(db_url)
    try:
        async with db.engine.connect() as conn:
            revision = await migrations.current(conn)

            def names(sync: Connection) -> set[str]:
                return set(inspect(sync).get_table_names())

            tables = await conn.run_sync(names)
    finally:
        await db.close()
    assert revision == migrations.head()
    assert tables >= AREA_TABLES


async def test_areas_take_turns_on_the_database_write_turn(db_url: str) -> None:
    """An accounts change waits for the shared `Database.write_turn`, then commits its event."""
    db = await Database.open(db_url)
    audit = AuditLog(db)
    accounts = await AccountStore.open(db, audit)
    await ApprovalStore.open(db, audit)
    try:
        async with db.write_turn:
            change = asyncio.create_task(accounts.create_user("jo", ["user"], actor=Actor("a")))
            await asyncio.sleep(0.3)
            assert not change.done()
        await change
        page = await query(audit, AuditFilter(action="accounts.user_created"))
        assert [r.payload["user"] for r in page.records] == ["jo"]
        assert (await verify(audit)).ok
        await audit.close()
        assert [u.name for u in await accounts.list_users()] == ["jo"]  # the db outlives the log
    finally:
        await audit.close()
        await db.close()


async def test_unusable_database_is_refused_as_before(tmp_path: Path) -> None:
    """A database that cannot be opened is `AuditUnavailable`, named as the audit store."""
    (tmp_path / "file").write_text("")
    with pytest.raises(AuditUnavailable, match=r"^the audit store cannot be opened \(FileExists"):
        await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'file' / 'x.db'}")
