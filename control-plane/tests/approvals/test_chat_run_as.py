"""A gateway's `calls:run_as` token acts for linked chat users, and for nobody else."""

from __future__ import annotations

import json

from .chat_helpers import CHAT, as_chat, chat_users, pending_for
from .conftest import Api


async def test_run_as_runs_as_the_linked_user_and_audits_user_channel_and_credential(
    api: Api,
) -> None:
    """A call made on behalf of telegram:100 is alice's call; its audit names alice, the
    chat, the identity and the gateway's token; policy saw alice's roles."""
    await chat_users(api)
    pending = await pending_for(api, "telegram:100")
    gw_token_id = api.tokens["gw"].split("_")[1]
    (requested,) = api.rows(
        "SELECT actor, payload FROM audit_events WHERE call_id=? AND action='call.requested'",
        pending["call_id"],
    )
    payload = json.loads(requested["payload"])
    assert requested["actor"] == "alice"
    assert payload["channel"] == CHAT and payload["identity"] == "telegram:100"
    assert payload["via"] == gw_token_id
    approval = await api.request("admin", "GET", f"/api/v1/approvals/{pending['approval_id']}")
    assert approval.json()["principal"] == "alice"


async def test_unlinked_identity_is_refused_with_a_stable_code(api: Api) -> None:
    """An identity linked to no user gets 403 identity_not_linked and runs nothing."""
    await chat_users(api)
    before = len(api.rows("SELECT seq FROM audit_events WHERE action='call.requested'"))
    reply = await as_chat(
        api, "POST", "/api/v1/skills/shell-echo", "telegram:999", json={"input": {"data": 1}}
    )
    assert reply.status_code == 403, reply.text
    assert reply.json()["error"] == "identity_not_linked"
    bad = await as_chat(api, "GET", "/api/v1/skills", "no-colon")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_identity"
    after = len(api.rows("SELECT seq FROM audit_events WHERE action='call.requested'"))
    assert after == before


async def test_on_behalf_of_needs_the_run_as_scope(api: Api) -> None:
    """An ordinary token naming an identity is 403 insufficient_scope: only calls:run_as
    may act for someone else."""
    await chat_users(api)
    reply = await as_chat(
        api,
        "POST",
        "/api/v1/skills/shell-echo",
        "telegram:100",
        token="bob",
        json={"input": {"data": 1}},
    )
    assert reply.status_code == 403 and reply.json()["error"] == "insufficient_scope"


async def test_gateway_token_can_never_approve_or_administer(api: Api) -> None:
    """Neither the gateway's token nor a run-as request may approve, administer or hold
    approvals:decide beside calls:run_as."""
    await chat_users(api)
    pending = await pending_for(api, "telegram:100")
    approve = f"/api/v1/approvals/{pending['approval_id']}/approve"
    for reply in (
        await api.request("gw", "POST", approve, json={}),
        await as_chat(api, "POST", approve, "telegram:200", json={}),
        await as_chat(api, "GET", "/api/v1/users", "telegram:200"),
        await api.request("gw", "GET", "/api/v1/users"),
    ):
        assert reply.status_code == 403 and reply.json()["error"] == "insufficient_scope"
    for extra in ("approvals:decide", "accounts:admin"):
        mixed = await api.request(
            "admin",
            "POST",
            "/api/v1/users/gw/tokens",
            json={"name": "bad", "scopes": ["calls:run_as", extra]},
        )
        assert mixed.status_code == 422 and mixed.json()["error"] == "scope_conflict"
    status = await api.request("admin", "GET", f"/api/v1/approvals/{pending['approval_id']}")
    assert status.json()["status"] == "pending"


async def test_run_as_reads_only_its_users_calls(api: Api) -> None:
    """Through the gateway alice reads her own call, not bob's (404); she may not mint
    buttons for bob's approval (404) nor cancel his call (403), but reaches her own."""
    await chat_users(api)
    mine = await pending_for(api, "telegram:100")
    theirs = await pending_for(api, "telegram:200")
    own = await as_chat(api, "GET", f"/api/v1/calls/{mine['call_id']}", "telegram:100")
    assert own.status_code == 200 and own.json()["status"] == "pending_approval"
    other = await as_chat(api, "GET", f"/api/v1/calls/{theirs['call_id']}", "telegram:100")
    assert other.status_code == 404 and other.json()["error"] == "call_not_found"
    nonce = await as_chat(
        api, "POST", f"/api/v1/approvals/{theirs['approval_id']}/chat-nonce", "telegram:100"
    )
    assert nonce.status_code == 404, nonce.text
    cancel = await as_chat(api, "POST", f"/api/v1/calls/{theirs['call_id']}/cancel", "telegram:100")
    assert cancel.status_code == 403 and cancel.json()["error"] == "insufficient_scope"
    own = await as_chat(api, "POST", f"/api/v1/calls/{mine['call_id']}/cancel", "telegram:100")
    assert own.status_code == 409 and own.json()["error"] == "call_not_running", own.text
