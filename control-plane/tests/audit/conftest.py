"""Fixtures for the audit log tests: a real SQLite file per test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nexflow_control.audit import AuditLog


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


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite+aiosqlite:///{db_path}"


@pytest.fixture
async def log(db_url: str) -> AsyncIterator[AuditLog]:
    opened = await AuditLog.open(db_url)
    yield opened
    await opened.close()
