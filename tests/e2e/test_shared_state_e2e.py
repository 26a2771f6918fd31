"""End to end: two `nexflow up` processes (each with its own executor) on one real
PostgreSQL answer as one: a principal's rate limit, the failed-login throttle, approvals
and the live tail are shared."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.harness import REPO, Stack, start_pair
from tests.pg import PgServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.nsjail,
    pytest.mark.xdist_group("shared-state-e2e"),
]

PER_MINUTE = 5
LOGIN_FAILURES = 3


def _policies(tmp: Path) -> Path:
    """The shipped policies, with principal `rita` limited to PER_MINUTE calls a minute."""
    policies = tmp / "policies"
    shutil.copytree(REPO / "policies", policies)
    data_path = policies / "data.json"
    data = json.loads(data_path.read_text())
    limit = {"per_minute": PER_MINUTE, "per_hour": 100}
    data["nexflow"]["config"]["principals"]["rita"] = {"rate_limit": limit}
    data_path.write_text(json.dumps(data))
    return policies


@pytest.fixture(scope="module")
def planes(
    tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer
) -> Iterator[tuple[Stack, Stack]]:
    """Control planes `a` and `b` on one database, the same admin token and configuration
    (policies, workspace), separate homes and executors."""
    tmp = tmp_path_factory.mktemp("shared-state")
    workspace = tmp / "workspace"
    workspace.mkdir()
    os.chown(workspace, 65534, 65534)  # the sandbox user writes it (as `nexflow up` sets up)
    env = {
        # Grants name the workspace: planes that approve each other's calls share it.
        "NEXFLOW_WORKSPACE": str(workspace),
        "NEXFLOW_DATABASE_URL": pg_server.create_database("shared"),
        "NEXFLOW_POLICY_DIR": str(_policies(tmp)),
        "NEXFLOW_WEB__LOGIN_FAILURES": str(LOGIN_FAILURES),
    }
    a, b = start_pair(tmp, "--sandbox", "nsjail", env=env)
    yield a, b
    assert b.stop() == 0
    assert a.stop() == 0


def _user(stack: Stack, name: str, roles: list[str], scopes: list[str] | None = None) -> str:
    made = stack.client.post("/api/v1/users", json={"name": name, "roles": roles})
    assert made.status_code == 201, made.text
    body: dict[str, Any] = {"name": "e2e"} if scopes is None else {"name": "e2e", "scopes": scopes}
    token = stack.client.post(f"/api/v1/users/{name}/tokens", json=body)
    assert token.status_code == 201, token.text
    return str(token.json()["token"])


def _as(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def test_a_rate_limit_is_one_budget_over_both(planes: tuple[Stack, Stack]) -> None:
    """Calls spread over both control planes hit the principal's limit at the same total."""
    a, b = planes
    token = _user(a, "rita", ["user"])
    with _as(a, token) as on_a, _as(b, token) as on_b:
        codes = []
        for i in range(PER_MINUTE + 2):
            reply = (on_a, on_b)[i % 2].post(
                "/api/v1/skills/echo", json={"input": {"message": f"n{i}"}}
            )
            codes.append(reply.status_code)
            if reply.status_code == 403:
                assert reply.json()["error"] == "policy_denied", reply.text
                assert "rate_limited" in {r["code"] for r in reply.json()["reasons"]}
    assert codes == [200] * PER_MINUTE + [403, 403], codes


def test_the_login_throttle_is_shared(planes: tuple[Stack, Stack]) -> None:
    """Failed logins for one name spread over both planes meet one limit: the next is 429
    on either, even with the right password."""
    a, b = planes
    _user(a, "lou", ["user"])
    password = "a-long-enough-password"
    done = a.client.put("/api/v1/users/lou/password", json={"password": password})
    assert done.status_code == 204, done.text
    for i in range(LOGIN_FAILURES):
        plane = (a, b)[i % 2]
        wrong = httpx.post(f"{plane.url}/auth/login", json={"name": "lou", "password": "wrong"})
        assert wrong.status_code == 401, wrong.text
    for plane in (a, b):
        right = httpx.post(f"{plane.url}/auth/login", json={"name": "lou", "password": password})
        assert right.status_code == 429, right.text
        assert right.json()["error"] == "login_rate_limited"


def test_an_approval_made_on_one_runs_from_the_other(planes: tuple[Stack, Stack]) -> None:
    """A call asked on `a` is listed on `b`, approved there, runs from `b`'s executor, and
    its finished story reads the same on `a`."""
    a, b = planes
    token = _user(a, "otto", ["operator"], ["approvals:decide", "audit:read"])
    asked = a.call("shell-run", {"command": "echo shared-$((6*7))"})
    assert asked.status_code == 202, asked.text
    call_id, approval_id = asked.json()["call_id"], asked.json()["approval_id"]
    with _as(b, token) as otto:
        listed = otto.get("/api/v1/approvals").json()
        assert approval_id in json.dumps(listed)
        approved = otto.post(f"/api/v1/approvals/{approval_id}/approve", json={})
        assert approved.status_code == 200, approved.text
    deadline = time.monotonic() + 60
    while True:
        story = a.client.get(f"/api/v1/calls/{call_id}").json()
        if story["status"] in ("succeeded", "failed", "error"):
            break
        assert time.monotonic() < deadline, story
        time.sleep(0.2)
    assert story["status"] == "succeeded", json.dumps(story)[-3000:]
    assert "shared-42" in json.dumps(story)
    b_log = "".join(p.read_text(errors="replace") for p in b.log_path.parent.glob("nexflow-up*"))
    assert call_id in b_log  # b dispatched it (its own executor), a only asked


async def _tail_sees(a: Stack, b: Stack) -> dict[str, Any]:
    url = a.url.replace("http", "ws", 1) + "/ws/logs?action=call.finished"
    headers = {"Authorization": f"Bearer {a.token}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await asyncio.sleep(0.5)  # the tail is listening before the call is made
        reply = await asyncio.to_thread(b.call, "echo", {"message": "from b"})
        assert reply.status_code == 200, reply.text
        call_id = reply.json()["call_id"]
        async with asyncio.timeout(30):
            while True:
                message = json.loads(await ws.recv())
                for event in message.get("events", []):
                    if event["call_id"] == call_id:
                        return dict(event)


def test_the_live_tail_on_one_shows_what_the_other_wrote(planes: tuple[Stack, Stack]) -> None:
    """`ws /ws/logs` on `a` streams the `call.finished` event of a call made on `b`."""
    a, b = planes
    event = asyncio.run(_tail_sees(a, b))
    assert event["action"] == "call.finished"
