"""Fixtures for the secret store tests: a real SQLite file or a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nexflow_control.audit import AuditLog
from nexflow_control.db import Database
from nexflow_control.secrets import SecretStore

from tests.pg import backend, db_url, parametrize_backends

__all__ = ["backend", "db_url"]  # the fixtures this folder's tests use


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, sqlite_fixtures=set())


@pytest.fixture
async def parts(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[SecretStore, AuditLog]]:
    """A store on a migrated database, its key in `tmp_path/home/keys/secrets.key`."""
    db = await Database.open(db_url)
    audit = AuditLog(db)
    store = SecretStore.open(db, audit, tmp_path / "home" / "keys" / "secrets.key")
    yield store, audit
    await store.close()
    await audit.close()
    await db.close()
