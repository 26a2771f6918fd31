"""Hot reload in the running control plane, with the embedded engine and with a real OPA server.

The app is the real one (create_app on a temporary home, real SQLite audit log) driven
over HTTP in-process; no executor runs, so an allowed call ends at dispatch, after its
``call.decided`` event is stored.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nexflow_control.app import create_app
from nexflow_control.policy import LocalOpaServer, policy_revision
from nexflow_control.settings import PolicySettings, Settings

POLICIES = Path(__file__).resolve().parents[3] / "policies"
TOKEN = "t" * 40
DECISION_FILE = "nexflow/authz/decision.rego"


@pytest.fixture(params=["embedded", pytest.param("opa", marks=pytest.mark.opa)])
def engine_kind(request: pytest.FixtureRequest) -> str:
    """Each test runs with both engines."""
    return str(request.param)


@pytest.fixture
def opa_url(engine_kind: str) -> Iterator[tuple[str | None, str | None]]:
    """(url, token) of a real OPA server for the opa engine; (None, None) otherwise."""
    if engine_kind != "opa":
        yield None, None
        return
    with LocalOpaServer() as server:
        yield server.url, server.token


@pytest.fixture
async def app_client(
    tmp_path: Path, opa_url: tuple[str | None, str | None]
) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    """A running control plane on a private copy of the policies; (client, policy dir)."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    settings = Settings(
        home=tmp_path / "home",
        admin_token=TOKEN,
        policy_dir=policies,
        executor_socket=tmp_path / "no-executor.sock",
        executor_timeout_s=0.2,
        policy=PolicySettings(
            opa_url=opa_url[0], opa_token=opa_url[1], reload_interval_s=0.05, opa_timeout_ms=5000
        ),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://cp", headers=headers
        ) as client:
            yield client, policies


async def _events(client: httpx.AsyncClient, action: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/audit", params={"action": action})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def _wait_for(
    client: httpx.AsyncClient, action: str, count: int, timeout_s: float = 10
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = await _events(client, action)
        if len(events) >= count:
            return events
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {action} event within {timeout_s} s")


async def _decided_revision(client: httpx.AsyncClient) -> tuple[int, str]:
    """Call the echo skill; (HTTP status, policy revision stored in its call.decided event)."""
    before = len(await _events(client, "call.decided"))
    response = await client.post("/api/v1/skills/echo", json={"input": {"message": "hi"}})
    events = await _events(client, "call.decided")  # newest first
    assert len(events) == before + 1, response.text
    return response.status_code, str(events[0]["policy_revision"])


def _edit_data(policies: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads((policies / "data.json").read_text())
    change(data)
    (policies / "data.json").write_text(json.dumps(data, indent=2))


async def test_policy_change_reloads_and_is_audited(
    app_client: tuple[httpx.AsyncClient, Path],
) -> None:
    """Editing data.json switches decisions to the new revision and audits policy.reloaded."""
    client, policies = app_client
    first = policy_revision(policies)
    status, revision = await _decided_revision(client)
    assert revision == first and status != 403

    def admin_runs_nothing(data: dict[str, Any]) -> None:
        data["nexflow"]["config"]["roles"]["admin"]["skills"]["names"] = []

    _edit_data(policies, admin_runs_nothing)
    second = policy_revision(policies)
    (event,) = await _wait_for(client, "policy.reloaded", 1)
    assert event["policy_revision"] == second != first
    assert event["payload"]["previous_revision"] == first
    assert event["payload"]["attempted_revision"] == second

    status, revision = await _decided_revision(client)
    assert status == 403 and revision == second


async def test_broken_policy_keeps_old_revision(
    app_client: tuple[httpx.AsyncClient, Path],
) -> None:
    """A policy that does not compile is reported as policy.reload_failed; the old one decides."""
    client, policies = app_client
    first = policy_revision(policies)
    (policies / DECISION_FILE).write_text("package nexflow.authz\n\ndecision := {\n")
    broken = policy_revision(policies)
    (event,) = await _wait_for(client, "policy.reload_failed", 1)
    assert event["policy_revision"] == first
    assert event["payload"]["previous_revision"] == first
    assert event["payload"]["attempted_revision"] == broken
    assert event["payload"]["error"]

    status, revision = await _decided_revision(client)
    assert revision == first and status != 403
    await asyncio.sleep(0.3)  # several more polls: the same broken revision is not retried
    assert len(await _events(client, "policy.reload_failed")) == 1
