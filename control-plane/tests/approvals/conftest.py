"""Fixtures for the approval tests: the real app (create_app) on a temporary home with a
real SQLite file or a real PostgreSQL database (each test runs on both) and a copy of
the shipped policies, driven over HTTP in-process.

The executor is a small gRPC servicer on a unix socket (the real contract and channel):
it records each ExecuteRequest it gets and answers with fixed output, so a test can see
exactly what an approved call was dispatched with. Real sandbox runs are in
tests/e2e/test_approvals_e2e.py.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from nexflow_control.api.deps import Services
from nexflow_control.app import create_app
from nexflow_control.settings import REPO_ROOT, ApprovalSettings, PolicySettings, Settings

from tests.pg import PgServer, parametrize_backends, pg_rows

ADMIN_TOKEN = "bootstrap-admin-" + "b" * 32


class StubExecutor(pb_grpc.ExecutorServicer):
    """Records requests; answers stdout `{"ran": <stdin>}` (an object, as the echo
    skill's output schema asks) and exit code 0."""

    def __init__(self) -> None:
        self.requests: list[pb.ExecuteRequest] = []

    async def Execute(self, request: pb.ExecuteRequest, context: Any) -> Any:
        self.requests.append(request)
        yield pb.ExecuteEvent(started=pb.Started(call_id=request.call_id))
        data = b'{"ran":' + request.stdin + b"}"
        yield pb.ExecuteEvent(output=pb.Output(stream=pb.STREAM_STDOUT, data=data))
        yield pb.ExecuteEvent(
            finished=pb.Finished(
                exit_code=0, kill_reason=pb.KILL_REASON_NONE, stdout_bytes=len(data)
            )
        )


def make_skill(root: Path, name: str, permissions: str) -> Path:
    """A copy of the built-in echo skill under another name and permissions."""
    target = root / name
    shutil.copytree(REPO_ROOT / "skills" / "echo", target)
    text = (target / "SKILL.md").read_text()
    text = text.replace("name: echo", f"name: {name}")
    (target / "SKILL.md").write_text(text.replace("permissions: []", f"permissions: {permissions}"))
    return target


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    home: Path
    policies: Path
    skills: Path
    executor: StubExecutor
    db_url: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        svc: Services = self.app.state.services
        return svc

    async def request(self, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        token = ADMIN_TOKEN if who == "admin" else self.tokens[who]
        headers = {"Authorization": f"Bearer {token}"}
        return await self.client.request(method, path, headers=headers, **kw)

    async def user(self, name: str, roles: list[str], scopes: list[str] | None = None) -> None:
        made = await self.request(
            "admin", "POST", "/api/v1/users", json={"name": name, "roles": roles}
        )
        assert made.status_code == 201, made.text
        body: dict[str, Any] = {"name": "t"}
        if scopes is not None:
            body["scopes"] = scopes
        token = await self.request("admin", "POST", f"/api/v1/users/{name}/tokens", json=body)
        assert token.status_code == 201, token.text
        self.tokens[name] = token.json()["token"]

    async def call(self, who: str, skill: str, value: dict[str, Any]) -> httpx.Response:
        return await self.request(who, "POST", f"/api/v1/skills/{skill}", json={"input": value})

    async def pending(
        self, who: str = "admin", value: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A `shell-echo` call that waits for approval: the 202 body."""
        reply = await self.call(who, "shell-echo", value or {"data": 1})
        assert reply.status_code == 202, reply.text
        body: dict[str, Any] = reply.json()
        return body

    async def call_state(self, call_id: str, until: Callable[[str], bool]) -> dict[str, Any]:
        """GET /calls/{id} until `until(status)` (at most ~5 s)."""
        for _ in range(500):
            reply = await self.request("admin", "GET", f"/api/v1/calls/{call_id}")
            assert reply.status_code == 200, reply.text
            body: dict[str, Any] = reply.json()
            if until(body["status"]):
                return body
            await asyncio.sleep(0.01)
        raise AssertionError(f"call {call_id} stayed {body['status']}")

    def rows(self, sql: str, *params: Any) -> list[Any]:
        """Rows straight from the database (an independent reader); `?` placeholders."""
        if self.db_url is not None:
            return pg_rows(self.db_url, sql, *params)
        with sqlite3.connect(self.home / "nexflow.db") as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, params))

    def actions(self, call_id: str) -> list[tuple[str, str]]:
        """(action, actor) of a call's audit events, in chain order."""
        rows = self.rows(
            "SELECT action, actor FROM audit_events WHERE call_id=? ORDER BY seq", call_id
        )
        return [(r["action"], r["actor"]) for r in rows]


@asynccontextmanager
async def stub_executor(socket: Path) -> AsyncIterator[StubExecutor]:
    server = grpc.aio.server()
    servicer = StubExecutor()
    pb_grpc.add_ExecutorServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix://{socket}")
    await server.start()
    try:
        yield servicer
    finally:
        await server.stop(None)


@asynccontextmanager
async def running_api(
    tmp: Path, *, ttl_s: float = 300.0, db_url: str | None = None
) -> AsyncIterator[Api]:
    """The app on `tmp/home` (reused when it exists: a restart), its policies and skills;
    the database is the home's SQLite file, or `db_url`."""
    policies, skills = tmp / "policies", tmp / "skills"
    if not policies.exists():
        shutil.copytree(REPO_ROOT / "policies", policies)
        skills.mkdir()
        make_skill(skills, "shell-echo", "[shell]")
    socket = tmp / "executor.sock"
    settings = Settings(
        database_url=db_url,
        home=tmp / "home",
        admin_token=ADMIN_TOKEN,
        executor_socket=socket,
        executor_timeout_s=2,
        policy=PolicySettings(reload_interval_s=0),
        policy_dir=policies,
        builtin_skills_dir=skills,
        approvals=ApprovalSettings(ttl_s=ttl_s, sweep_interval_s=0.1),
    )
    async with stub_executor(socket) as executor:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cp") as client:
                yield Api(client, app, settings.home, policies, skills, executor, db_url)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, sqlite_fixtures=set())


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres" (parametrized by `pytest_generate_tests`)."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None (the home's SQLite file) or a fresh database on the real PostgreSQL server."""
    if backend != "postgres":
        return None
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
async def api(tmp_path: Path, db_url: str | None) -> AsyncIterator[Api]:
    async with running_api(tmp_path, db_url=db_url) as running:
        yield running
