"""Approvals over HTTP: the state machine, who may decide, expiry, restart, audit order."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from .conftest import Api, running_api

CODES = {"approval_required_shell"}


def _done(status: str) -> bool:
    return status not in ("pending_approval", "approved", "running")


async def test_pending_then_granted_then_ran(api: Api) -> None:
    """A call needing approval is 202 pending; approved by an operator it runs in the
    background with the bound input and its result shows at GET /calls/{id}."""
    await api.user("olga", ["operator"], ["approvals:decide", "audit:read"])
    body = await api.pending(value={"data": 42})
    assert body["status"] == "pending_approval"
    assert {r["code"] for r in body["reasons"]} == CODES
    assert api.executor.requests == []
    listed = await api.request("olga", "GET", "/api/v1/approvals", params={"status": "pending"})
    assert [a["id"] for a in listed.json()["approvals"]] == [body["approval_id"]]
    state = await api.call_state(body["call_id"], lambda s: s == "pending_approval")
    assert state["approval_id"] == body["approval_id"]

    ok = await api.request(
        "olga", "POST", f"/api/v1/approvals/{body['approval_id']}/approve", json={"comment": "fine"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["decided_by"] == "olga"
    state = await api.call_state(body["call_id"], _done)
    assert state["status"] == "succeeded", state
    assert state["result"]["output"] == {"ran": {"data": 42}}
    (request,) = api.executor.requests
    assert request.call_id == body["call_id"] and request.stdin == b'{"data":42}'
    shown = await api.request("olga", "GET", f"/api/v1/approvals/{body['approval_id']}")
    assert shown.json()["status"] == "ran"
    assert api.actions(body["call_id"]) == [
        ("call.requested", "admin"),
        ("call.decided", "admin"),
        ("approval.requested", "admin"),
        ("approval.granted", "olga"),
        ("call.decided", "admin"),
        ("call.dispatched", "admin"),
        ("call.finished", "admin"),
    ]


async def test_denied_never_runs_and_double_decide_is_409(api: Api) -> None:
    """A denied approval never dispatches; deciding it again answers 409 approval_not_pending."""
    await api.user("olga", ["operator"], ["approvals:decide"])
    body = await api.pending()
    path = f"/api/v1/approvals/{body['approval_id']}"
    denied = await api.request("olga", "POST", f"{path}/deny")
    assert denied.status_code == 200, denied.text
    assert denied.json()["status"] == "denied"
    for verb in ("approve", "deny"):
        again = await api.request("olga", "POST", f"{path}/{verb}")
        assert again.status_code == 409, again.text
        assert again.json()["error"] == "approval_not_pending"
        assert again.json()["status"] == "denied"
    await asyncio.sleep(0.05)
    assert api.executor.requests == []
    state = await api.call_state(body["call_id"], _done)
    assert state["status"] == "denied"
    assert ("approval.denied", "olga") in api.actions(body["call_id"])
    assert "call.dispatched" not in [a for a, _ in api.actions(body["call_id"])]


async def test_scope_and_policy_decide_who_may_approve(api: Api) -> None:
    """No scope: 403 insufficient_scope; scope but a role policy does not allow: 403 with
    its reason code; the admin approving its own call: self_approval_not_allowed."""
    await api.user("alice", ["user"])  # default scopes: no approvals:decide
    await api.user("bob", ["user"], ["approvals:decide"])
    body = await api.pending()
    path = f"/api/v1/approvals/{body['approval_id']}/approve"

    no_scope = await api.request("alice", "POST", path)
    assert no_scope.status_code == 403
    assert no_scope.json() | {"scope": "approvals:decide"} == no_scope.json()
    assert no_scope.json()["error"] == "insufficient_scope"

    by_role = await api.request("bob", "POST", path)
    assert by_role.status_code == 403, by_role.text
    assert by_role.json()["error"] == "policy_denied"
    assert [r["code"] for r in by_role.json()["reasons"]] == ["approver_role_not_allowed"]

    own = await api.request("admin", "POST", path)
    assert own.status_code == 403, own.text
    assert [r["code"] for r in own.json()["reasons"]] == ["self_approval_not_allowed"]

    still = await api.request("admin", "GET", f"/api/v1/approvals/{body['approval_id']}")
    assert still.json()["status"] == "pending"
    assert api.executor.requests == []
    # Every refused attempt is on the record, with who tried and why.
    refused = api.rows(
        "SELECT action, actor, reason_codes FROM audit_events"
        " WHERE action IN ('auth.scope_refused', 'approval.refused') ORDER BY seq"
    )
    assert [(r["action"], r["actor"], json.loads(r["reason_codes"])) for r in refused] == [
        ("auth.scope_refused", "alice", ["insufficient_scope"]),
        ("approval.refused", "bob", ["approver_role_not_allowed"]),
        ("approval.refused", "admin", ["self_approval_not_allowed"]),
    ]


async def test_changed_input_is_invalidated_not_run(api: Api) -> None:
    """A stored input altered after the request (hash no longer matches) is not run."""
    await api.user("olga", ["operator"], ["approvals:decide"])
    body = await api.pending(value={"data": 1})
    api.rows("UPDATE approvals SET input=? WHERE id=?", '{"data":2}', body["approval_id"])
    await _approve_and_expect_stale(api, body, "input_changed")


async def test_changed_skill_is_invalidated_not_run(api: Api) -> None:
    """A skill whose SKILL.md changed (new digest) after the request is not run."""
    await api.user("olga", ["operator"], ["approvals:decide"])
    body = await api.pending()
    md = api.skills / "shell-echo" / "SKILL.md"
    md.write_text(md.read_text().replace("version: 1.0.0", "version: 1.0.1"))
    from nexflow_control.app import skill_sources
    from nexflow_control.skills import SkillCatalog

    api.services.calls.catalog = SkillCatalog.load(skill_sources(api.services.settings))
    await _approve_and_expect_stale(api, body, "skill_changed")


async def test_changed_grants_are_invalidated_not_run(api: Api) -> None:
    """A policy change that alters the grants after the request voids the approval."""
    await api.user("olga", ["operator"], ["approvals:decide"])
    body = await api.pending()
    data_file = api.policies / "data.json"
    data = json.loads(data_file.read_text())
    data["nexflow"]["config"]["limits"]["defaults"]["pids"] = 33
    data_file.write_text(json.dumps(data))
    assert (await api.services.engine.reload()).changed
    await _approve_and_expect_stale(api, body, "grants_changed")


async def _approve_and_expect_stale(
    api: Api, body: dict[str, object], why: str, requester: str = "admin"
) -> None:
    ok = await api.request("olga", "POST", f"/api/v1/approvals/{body['approval_id']}/approve")
    assert ok.status_code == 200, ok.text
    state = await api.call_state(str(body["call_id"]), _done)
    assert state["status"] == "error" and state["error"] == "approval_stale", state
    assert api.executor.requests == []
    actions = api.actions(str(body["call_id"]))
    assert actions[-2:] == [("approval.invalidated", "system"), ("call.failed", requester)]
    (row,) = api.rows("SELECT reason_codes FROM audit_events WHERE action='approval.invalidated'")
    assert json.loads(row["reason_codes"]) == [why]
    shown = await api.request("admin", "GET", f"/api/v1/approvals/{body['approval_id']}")
    assert shown.json()["status"] == "invalidated"


async def test_expiry_denies_and_never_runs(tmp_path: Path, db_url: str | None) -> None:
    """With a short TTL the sweeper expires the approval (actor system); approving it then
    is 409 and nothing runs."""
    async with running_api(tmp_path, ttl_s=0.3, db_url=db_url) as api:
        await api.user("olga", ["operator"], ["approvals:decide"])
        body = await api.pending()
        state = await api.call_state(body["call_id"], lambda s: s == "expired")
        assert state["status"] == "expired"
        late = await api.request("olga", "POST", f"/api/v1/approvals/{body['approval_id']}/approve")
        assert late.status_code == 409 and late.json()["status"] == "expired", late.text
        assert api.executor.requests == []
        assert api.actions(body["call_id"])[-1] == ("approval.expired", "system")


async def test_pending_survives_restart_and_granted_is_interrupted(
    tmp_path: Path, db_url: str | None
) -> None:
    """A new app on the same database keeps pending approvals pending (and they can be
    approved and run); a granted-but-never-dispatched one is interrupted, not run."""
    async with running_api(tmp_path, db_url=db_url) as api:
        await api.user("olga", ["operator"], ["approvals:decide"])
        olga = api.tokens["olga"]
        kept = await api.pending(value={"data": 7})
        lost = await api.pending(value={"data": 8})
        # A crash between the grant and the dispatch, simulated in the table.
        api.rows("UPDATE approvals SET status='granted' WHERE id=?", lost["approval_id"])
    async with running_api(tmp_path, db_url=db_url) as api:
        api.tokens["olga"] = olga
        listed = await api.request("olga", "GET", "/api/v1/approvals", params={"status": "pending"})
        assert [a["id"] for a in listed.json()["approvals"]] == [kept["approval_id"]]
        gone = await api.request("olga", "GET", f"/api/v1/approvals/{lost['approval_id']}")
        assert gone.json()["status"] == "interrupted"
        assert (await api.call_state(lost["call_id"], _done))["error"] == "approval_interrupted"
        ok = await api.request("olga", "POST", f"/api/v1/approvals/{kept['approval_id']}/approve")
        assert ok.status_code == 200, ok.text
        state = await api.call_state(kept["call_id"], _done)
        assert state["result"]["output"] == {"ran": {"data": 7}}
        assert [r.stdin for r in api.executor.requests] == [b'{"data":7}']


async def test_unknown_approval_and_bad_body(api: Api) -> None:
    """Unknown id: 404 approval_not_found; a body with unknown fields: 422."""
    missing = await api.request("admin", "POST", "/api/v1/approvals/a_0000/approve")
    assert missing.status_code == 404 and missing.json()["error"] == "approval_not_found"
    body = await api.pending()
    bad = await api.request(
        "admin", "POST", f"/api/v1/approvals/{body['approval_id']}/deny", json={"x": 1}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "x"


async def test_a_requester_disabled_since_asking_is_not_run(api: Api) -> None:
    """Locking a user out also voids what they asked for: the approval is invalidated
    (`requester_disabled`) and nothing reaches the executor."""
    await api.user("olga", ["operator"], ["approvals:decide"])
    await api.user("rita", ["operator"], ["calls:run"])
    body = await api.pending(who="rita")
    off = await api.request("admin", "PATCH", "/api/v1/users/rita", json={"disabled": True})
    assert off.status_code == 200, off.text
    await _approve_and_expect_stale(api, body, "requester_disabled", requester="rita")


async def test_a_requester_who_lost_the_role_since_asking_is_not_run(api: Api) -> None:
    """The call is re-decided with the roles the requester has NOW: an operator demoted to
    viewer after asking no longer gets the shell, so the approval is void."""
    await api.user("olga", ["operator"], ["approvals:decide"])
    await api.user("rita", ["operator"], ["calls:run"])
    body = await api.pending(who="rita")
    demoted = await api.request("admin", "PATCH", "/api/v1/users/rita", json={"roles": ["viewer"]})
    assert demoted.status_code == 200, demoted.text
    ok = await api.request("olga", "POST", f"/api/v1/approvals/{body['approval_id']}/approve")
    assert ok.status_code == 200, ok.text
    state = await api.call_state(str(body["call_id"]), _done)
    assert state["status"] == "error" and state["error"] == "approval_stale", state
    assert api.executor.requests == []


async def test_a_denied_call_reads_as_denied_not_running(api: Api) -> None:
    """A call the policy denies is 403 with its call id, and GET /calls/{id} then says
    `denied` (it never ran and never will), not `running`."""
    await api.user("vera", ["viewer"])
    denied = await api.call("vera", "shell-echo", {"data": 1})
    assert denied.status_code == 403, denied.text
    assert denied.json()["error"] == "policy_denied"
    state = await api.call_state(denied.json()["call_id"], lambda s: True)
    assert state["status"] == "denied", state
