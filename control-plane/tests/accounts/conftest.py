"""Fixtures for the account tests: the real app (create_app) on a temporary home with a
real SQLite file or a real PostgreSQL database (each `api` test runs on both; `SQLITE_ONLY`
ones reach into the SQLite file), driven over HTTP in-process; no executor runs."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from nexflow_control.api.deps import Services
from nexflow_control.app import create_app
from nexflow_control.settings import REPO_ROOT, PolicySettings, Settings

from tests.pg import SQLITE_ONLY, PgServer, parametrize_backends, pg_rows

__all__ = ["SQLITE_ONLY"]

ADMIN_TOKEN = "bootstrap-admin-" + "a" * 32


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, sqlite_fixtures=set())


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres" (parametrized by `pytest_generate_tests`)."""
    return str(request.param)


def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None (the home's SQLite file) or a fresh PostgreSQL database."""
    if backend != "postgres":
        return None
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()


def make_settings(tmp_path: Path, skills: Path, database_url: str | None = None) -> Settings:
    """A control plane on a fresh home; the executor socket leads nowhere."""
    return Settings(
        database_url=database_url,
        home=tmp_path / "home",
        admin_token=ADMIN_TOKEN,
        executor_socket=tmp_path / "no-executor.sock",
        executor_timeout_s=0.2,
        policy=PolicySettings(reload_interval_s=0),
        builtin_skills_dir=skills,
    )


@pytest.fixture(scope="session")
def skills(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the built-in `echo` skill: loading every skill would triple each app's start."""
    target = tmp_path_factory.mktemp("skills")
    shutil.copytree(REPO_ROOT / "skills" / "echo", target / "echo")
    return target


@dataclass
class Api:
    """The app over HTTP, with helpers that assert each setup step worked."""

    client: httpx.AsyncClient
    app: FastAPI
    db_path: Path
    db_url: str | None = None

    @property
    def services(self) -> Services:
        svc: Services = self.app.state.services
        return svc

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.auth(ADMIN_TOKEN), **kw)

    async def as_token(self, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.auth(token), **kw)

    async def user(self, name: str, *roles: str) -> dict[str, Any]:
        resp = await self.admin("POST", "/api/v1/users", json={"name": name, "roles": list(roles)})
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def token(self, user: str, **body: Any) -> dict[str, Any]:
        """Create a token; the answer, whose `token` is the bearer token."""
        resp = await self.admin("POST", f"/api/v1/users/{user}/tokens", json=body)
        assert resp.status_code == 201, resp.text
        created: dict[str, Any] = resp.json()
        return created

    def rows(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Rows straight from the database (a second, independent reader); `?` placeholders."""
        if self.db_url is not None:
            return pg_rows(self.db_url, sql, *params)
        with sqlite3.connect(self.db_path) as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, params))

    def events(self, prefix: str = "accounts.") -> list[sqlite3.Row]:
        """Audit rows whose action starts with `prefix`, in chain order."""
        return self.rows(
            "SELECT * FROM audit_events WHERE action LIKE ? ORDER BY seq", prefix + "%"
        )


def sqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


async def threads_finished(already: AbstractSet[threading.Thread] = frozenset()) -> None:
    """Let aiosqlite worker threads (but those in `already`) end while the loop is open.

    After a failed connect aiosqlite stops its thread without awaiting it; if the test's
    loop closes first, the thread's late callback raises in the thread.
    """
    for _ in range(200):
        if not any(t.is_alive() for t in sqlite_threads() - already):
            return
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running_api(
    tmp_path: Path, skills: Path, db_url: str | None = None
) -> AsyncIterator[Api]:
    others = sqlite_threads()  # e.g. a module's shared app, still running
    settings = make_settings(tmp_path, skills, db_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cp") as client:
            yield Api(client, app, settings.home / "nexflow.db", db_url)
    await threads_finished(others)


@pytest.fixture
async def api(
    tmp_path: Path, skills: Path, backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[Api]:
    """A fresh control plane for one test."""
    async with running_api(tmp_path, skills, database_url(backend, request)) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_api(
    tmp_path_factory: pytest.TempPathFactory,
    skills: Path,
    backend: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Api]:
    """One control plane for a module's tests that only read, or write disjoint things
    (tests using it are marked `asyncio(loop_scope="module")`)."""
    url = database_url(backend, request)
    async with running_api(tmp_path_factory.mktemp("shared"), skills, url) as running:
        yield running
