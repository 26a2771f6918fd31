"""End to end: approvals on a real `nexflow up` (nsjail backend), over HTTP and the CLI.

The admin asks for `shell-run` (shell needs approval), an operator user approves it over
HTTP, and the command really runs in the sandbox; a default-scoped token cannot approve,
a denied or expired approval never runs, and a pending one survives a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("approvals-e2e")]

COMMAND = {"command": "echo approved-$((6*7))"}


def _user(stack: Stack, name: str, roles: list[str], scopes: list[str] | None) -> httpx.Client:
    made = stack.client.post("/api/v1/users", json={"name": name, "roles": roles})
    assert made.status_code == 201, made.text
    body: dict[str, Any] = {"name": "e2e"}
    if scopes is not None:
        body["scopes"] = scopes
    token = stack.client.post(f"/api/v1/users/{name}/tokens", json=body)
    assert token.status_code == 201, token.text
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token.json()['token']}"}
    )


def _ask(stack: Stack) -> dict[str, Any]:
    reply = stack.call("shell-run", COMMAND)
    assert reply.status_code == 202, reply.text
    body: dict[str, Any] = reply.json()
    assert body["status"] == "pending_approval"
    assert body["call_id"].startswith("c_") and body["approval_id"].startswith("a_")
    assert "approval_required_shell" in {r["code"] for r in body["reasons"]}
    return body


def _story(stack: Stack, call_id: str, *ends: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        story: dict[str, Any] = stack.client.get(f"/api/v1/calls/{call_id}").json()
        if story["status"] in ends or time.monotonic() > deadline:
            return story
        time.sleep(0.1)


def _actions(story: dict[str, Any]) -> list[str]:
    return [e["action"] for e in story["events"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, httpx.Client]]:
    stack = start_stack(tmp_path_factory.mktemp("approvals-e2e"), "--sandbox", "nsjail")
    operator = _user(stack, "otto", ["operator"], ["approvals:decide", "audit:read"])
    yield stack, operator
    operator.close()
    stack.stop()


def test_operator_approves_and_the_command_really_runs(world: tuple[Stack, httpx.Client]) -> None:
    """202 pending; the operator approves over HTTP; the call runs in the sandbox and its
    real output is at GET /api/v1/calls/{id}."""
    stack, operator = world
    asked = _ask(stack)
    pending = operator.get("/api/v1/approvals", params={"status": "pending"}).json()
    assert asked["approval_id"] in [a["id"] for a in pending["approvals"]]
    ok = operator.post(f"/api/v1/approvals/{asked['approval_id']}/approve", json={"comment": "ok"})
    assert ok.status_code == 200, ok.text
    story = _story(stack, asked["call_id"], "succeeded", "failed", "killed", "error")
    assert story["status"] == "succeeded", story
    assert "approved-42" in story["result"]["stdout"]
    assert story["result"]["exit_code"] == 0
    actions = _actions(story)
    assert actions.index("approval.granted") < actions.index("call.dispatched")
    granted = next(e for e in story["events"] if e["action"] == "approval.granted")
    assert granted["actor"] == "otto"


def test_default_scoped_token_cannot_approve(world: tuple[Stack, httpx.Client]) -> None:
    """A user's default token lacks approvals:decide: 403 insufficient_scope, still pending."""
    stack, _ = world
    asked = _ask(stack)
    with _user(stack, "dora", ["operator"], None) as dora:
        reply = dora.post(f"/api/v1/approvals/{asked['approval_id']}/approve")
    assert reply.status_code == 403, reply.text
    assert reply.json()["error"] == "insufficient_scope"
    shown = stack.client.get(f"/api/v1/approvals/{asked['approval_id']}").json()
    assert shown["status"] == "pending"


def test_denied_approval_never_runs(world: tuple[Stack, httpx.Client]) -> None:
    """The admin CLI cannot approve its own call (policy); the operator denies it: it never
    dispatches, and deciding again is 409 approval_not_pending."""
    stack, operator = world
    asked = _ask(stack)
    own = stack.cli("approval", "approve", asked["approval_id"])
    assert own.returncode == 1, own.stdout + own.stderr
    assert "self_approval_not_allowed" in own.stderr
    denied = operator.post(f"/api/v1/approvals/{asked['approval_id']}/deny", json={"comment": "no"})
    assert denied.status_code == 200, denied.text
    again = operator.post(f"/api/v1/approvals/{asked['approval_id']}/approve")
    assert again.status_code == 409 and again.json()["error"] == "approval_not_pending"
    time.sleep(0.5)
    story = _story(stack, asked["call_id"], "denied")
    assert story["status"] == "denied"
    assert "call.dispatched" not in _actions(story)


def test_expired_approval_never_runs(tmp_path: Path) -> None:
    """With NEXFLOW_APPROVALS__TTL_S=2 an unanswered approval expires (actor system) and
    approving it afterwards is 409; nothing was dispatched."""
    stack = start_stack(tmp_path, "--sandbox", "nsjail", env={"NEXFLOW_APPROVALS__TTL_S": "2"})
    try:
        asked = _ask(stack)
        story = _story(stack, asked["call_id"], "expired", timeout=15)
        assert story["status"] == "expired", story
        expired = next(e for e in story["events"] if e["action"] == "approval.expired")
        assert expired["actor"] == "system"
        with _user(stack, "otto", ["operator"], ["approvals:decide"]) as otto:
            late = otto.post(f"/api/v1/approvals/{asked['approval_id']}/approve")
        assert late.status_code == 409 and late.json()["status"] == "expired", late.text
        assert "call.dispatched" not in _actions(_story(stack, asked["call_id"], "expired"))
    finally:
        stack.stop()


def test_pending_approval_survives_a_restart(tmp_path: Path) -> None:
    """Stop the stack with a pending approval, start it on the same home: still pending,
    and approving it then runs the command."""
    stack = start_stack(tmp_path, "--sandbox", "nsjail")
    try:
        asked = _ask(stack)
        otto = _user(stack, "otto", ["operator"], ["approvals:decide"])
        token = otto.headers["Authorization"]
        otto.close()
    finally:
        stack.stop()
    stack = start_stack(tmp_path, "--sandbox", "nsjail")
    try:
        shown = stack.client.get(f"/api/v1/approvals/{asked['approval_id']}").json()
        assert shown["status"] == "pending", shown
        with httpx.Client(base_url=stack.url, headers={"Authorization": token}) as otto:
            ok = otto.post(f"/api/v1/approvals/{asked['approval_id']}/approve")
        assert ok.status_code == 200, ok.text
        story = _story(stack, asked["call_id"], "succeeded", "failed", "killed", "error")
        assert "approved-42" in story["result"]["stdout"], story
    finally:
        stack.stop()
