"""End to end: `nexflow up` and its one local executor, through the executors seam."""

from __future__ import annotations

import pytest
from nexflow_control.executors import build_bundle

from tests.harness import REPO, Stack

pytestmark = [pytest.mark.e2e]


def test_skill_travels_as_the_executor_contract_says(own_stack: Stack) -> None:
    """/health lists the one local executor; a call's skill travels by bundle digest when
    that executor names itself (the digest contract), by folder otherwise, and
    call.finished says which (and which executor ran it)."""
    health = own_stack.client.get("/health").json()
    (local,) = health["executors"]
    assert local["name"] == "local" and local["healthy"] and not local["draining"]
    reply = own_stack.call("echo", {"message": "by digest?"})
    assert reply.status_code == 200, reply.text
    events = own_stack.client.get(
        "/api/v1/audit", params={"call_id": reply.json()["call_id"]}
    ).json()["events"]
    finished = next(e for e in events if e["action"] == "call.finished")["payload"]
    assert finished["executor"] == "local"
    expected = build_bundle(REPO / "skills" / "echo").sha256 if local["executor_id"] else ""
    assert finished["bundle_sha256"] == expected
