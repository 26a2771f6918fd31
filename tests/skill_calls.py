"""Calling built-in skills on a test stack: plain calls, and calls a second person approves."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.harness import Stack

ENDS = ("succeeded", "failed", "killed", "error")


def approver(stack: Stack, name: str = "otto") -> httpx.Client:
    """An operator account (a person other than the admin) whose token may decide approvals."""
    made = stack.client.post("/api/v1/users", json={"name": name, "roles": ["operator"]})
    assert made.status_code == 201, made.text
    body = {"name": "skills", "scopes": ["approvals:decide", "audit:read"]}
    token = stack.client.post(f"/api/v1/users/{name}/tokens", json=body)
    assert token.status_code == 201, token.text
    auth = {"Authorization": f"Bearer {token.json()['token']}"}
    return httpx.Client(base_url=stack.url, headers=auth, timeout=60)


def finished(stack: Stack, call_id: str, timeout: float = 60) -> dict[str, Any]:
    """The call's story once it has ended (or as it is at `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        story: dict[str, Any] = stack.client.get(f"/api/v1/calls/{call_id}").json()
        if story["status"] in ENDS or time.monotonic() > deadline:
            return story
        time.sleep(0.1)


def ok(stack: Stack, skill: str, value: dict[str, Any]) -> dict[str, Any]:
    """Run `skill` (no approval expected) and return its output; fail unless it succeeded."""
    reply = stack.call(skill, value)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert body["status"] == "succeeded", body
    out: dict[str, Any] = body["output"]
    return out


def failed(stack: Stack, skill: str, value: dict[str, Any]) -> dict[str, Any]:
    """Run `skill` and return the error object its script printed; fail unless it failed."""
    reply = stack.call(skill, value)
    body: dict[str, Any] = reply.json()
    assert body.get("status") == "failed", body
    out: dict[str, Any] = body["output"]
    return out


def approved(
    stack: Stack,
    person: httpx.Client,
    skill: str,
    value: dict[str, Any],
    reason: str = "approval_required_skill",
) -> tuple[str, Any]:
    """Ask for `skill`, check it waits for approval for `reason`, approve it as `person`;
    the ended call's status and the output its script printed."""
    reply = stack.call(skill, value)
    assert reply.status_code == 202, reply.text
    asked = reply.json()
    assert asked["status"] == "pending_approval", asked
    assert reason in {r["code"] for r in asked["reasons"]}, asked
    decided = person.post(f"/api/v1/approvals/{asked['approval_id']}/approve", json={})
    assert decided.status_code == 200, decided.text
    story = finished(stack, asked["call_id"])
    result = story.get("result") or {}
    return str(story["status"]), result.get("output")
