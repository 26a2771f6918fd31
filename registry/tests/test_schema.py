"""The registry's schema upgrade from version 1 (before scans, removal, reviews, ClawHub
uploads and recorded requests) keeps every row and adds the new columns with their
defaults, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from nexflow_registry.db import SCHEMA_VERSION, open_database, schema_info, versions
from sqlalchemy import select, text

ADDED_COLUMNS = {
    "versions": [
        "scan_verdict",
        "scan_findings",
        "signed",
        "changelog",
        "removed",
        "removed_reason",
        "requests",
    ],
    "publisher_keys": ["status", "status_reason", "log_index"],
}
ROW = {
    "package": "echo",
    "version": "1.0.0",
    "publisher": "acme",
    "digest": "0" * 64,
    "size": 1,
    "archive_format": "zip",
    "description": "d",
    "tags": "[]",
    "permissions": "[]",
    "manifest": "[]",
    "key_id": "k",
    "signature": "s",
    "log_index": 0,
    "yanked": False,
    "yank_reason": None,
    "created_at": "2026-01-01T00:00:00+00:00",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"


async def test_a_version_1_database_is_upgraded_in_place(db_url: str) -> None:
    """A database made by schema 1 (the new columns and tables dropped, version set to 1)
    opens: its row is kept, gains the defaults (clean, signed, not removed), and the
    schema records the current version; its requests are unknown (empty)."""
    db = await open_database(db_url)
    async with db.writing() as conn:
        await conn.execute(versions.insert().values(**ROW))
        for table, columns in ADDED_COLUMNS.items():
            for column in columns:
                await conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        await conn.execute(text("DROP TABLE name_reviews"))
        await conn.execute(text("DROP TABLE uploads"))
        await conn.execute(schema_info.update().values(version=1))
    await db.close()

    db = await open_database(db_url)
    try:
        async with db.engine.connect() as conn:
            row = (await conn.execute(select(versions))).one()
            version = (await conn.execute(select(schema_info.c.version))).scalar()
            reviews = (await conn.execute(text("SELECT count(*) FROM name_reviews"))).scalar()
        assert (row.package, row.scan_verdict, row.scan_findings) == ("echo", "clean", "[]")
        assert (bool(row.signed), bool(row.removed), row.changelog) == (True, False, "")
        assert row.requests == ""
        assert version == SCHEMA_VERSION == 3 and reviews == 0
    finally:
        await db.close()
