"""Fixtures for the audit log tests: a real SQLite file, or a real PostgreSQL database, per test.

Every test using `db_url` (or `log`) runs on both; one using `db_path` (it reaches into the
SQLite file) runs on SQLite only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nexflow_control.audit import AuditLog
from nexflow_control.db import Database

from tests.pg import parametrize_backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, sqlite_fixtures={"db_path"})


@pytest.fixture(autouse=True)
async def sqlite_threads_finish() -> AsyncIterator[None]:
    """Let aiosqlite worker threads end while the loop is still open.

    After a failed connect aiosqlite stops its thread without awaiting it; if the test's
    loop closes first, the thread's late callback raises in the thread.
    """
    yield
    for _ in range(200):
        if not any(
            "_connection_worker_thread" in t.name and t.is_alive() for t in threading.enumerate()
        ):
            return
        await asyncio.sleep(0.01)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.db"


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres" (parametrized by `pytest_generate_tests`)."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'audit.db'}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database at `db_url`."""
    opened = await Database.open(db_url)
    yield opened
    await opened.close()


@pytest.fixture
async def log(db_url: str) -> AsyncIterator[AuditLog]:
    opened = await AuditLog.open(db_url)
    yield opened
    await opened.close()
