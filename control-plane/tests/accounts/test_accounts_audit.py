"""Every account change is one audit event, by the principal who made it, with no secret."""

from __future__ import annotations

import json
import sqlite3

from .conftest import SQLITE_ONLY, Api


async def test_each_change_is_audited_with_its_actor(api: Api) -> None:
    """Create, update, token create/revoke, link/unlink each leave one accounts.* event."""
    await api.user("alice", "user")
    await api.admin("PATCH", "/api/v1/users/alice", json={"roles": ["operator"], "disabled": True})
    created = await api.token("alice", name="bot", scopes=["calls:run"])
    await api.admin("POST", f"/api/v1/tokens/{created['id']}/revoke")
    body = {"provider": "telegram", "subject": "123"}
    await api.admin("POST", "/api/v1/users/alice/identities", json=body)
    await api.admin("DELETE", "/api/v1/users/alice/identities/telegram/123")

    events = api.events()
    assert [e["action"] for e in events] == [
        "accounts.user_created",
        "accounts.user_updated",
        "accounts.token_created",
        "accounts.token_revoked",
        "accounts.identity_linked",
        "accounts.identity_unlinked",
    ]
    assert {e["actor"] for e in events} == {"admin"}
    payloads = [json.loads(e["payload"]) for e in events]
    assert payloads[0] == {
        "user": "alice",
        "user_id": payloads[0]["user_id"],
        "roles": ["user"],
        "via": "bootstrap",
    }
    assert payloads[1]["changes"] == {
        "roles": {"from": ["user"], "to": ["operator"]},
        "disabled": {"from": False, "to": True},
    }
    assert payloads[2] == {
        "user": "alice",
        "id": created["id"],
        "name": "bot",
        "scopes": ["calls:run"],
        "expires_at": None,
        "via": "bootstrap",
    }
    assert payloads[3]["id"] == created["id"]
    assert payloads[4]["identity"] == payloads[5]["identity"] == "telegram:123"


async def test_no_secret_or_hash_in_the_audit_log(api: Api) -> None:
    """Neither a token, its secret nor its hash appears anywhere in the audit log."""
    await api.user("bob", "user")
    created = await api.token("bob")
    await api.as_token(created["token"], "GET", "/api/v1/me")
    await api.admin("POST", f"/api/v1/tokens/{created['id']}/revoke")
    (row,) = api.rows("SELECT hash FROM api_tokens")
    secret = created["token"].removeprefix(created["prefix"])
    everything = json.dumps([dict(r) for r in api.rows("SELECT * FROM audit_events")], default=str)
    assert created["id"] in everything  # the public id is there: the test looks at real rows
    for needle in (created["token"], secret, row["hash"]):
        assert needle not in everything


async def test_actor_is_the_user_whose_token_made_the_change(api: Api) -> None:
    """A user with accounts:admin acting through their token is the actor, via that token."""
    await api.user("ops", "operator")
    ops = await api.token("ops", scopes=["accounts:admin"])
    resp = await api.as_token(
        ops["token"], "POST", "/api/v1/users", json={"name": "newbie", "roles": ["viewer"]}
    )
    assert resp.status_code == 201, resp.text
    (event,) = [e for e in api.events("accounts.user_created") if "newbie" in e["payload"]]
    assert event["actor"] == "ops"
    assert json.loads(event["payload"])["via"] == ops["id"]


async def test_refused_change_leaves_no_event_and_the_chain_verifies(api: Api) -> None:
    """Refused changes store neither rows nor events; the chain stays whole."""
    await api.user("carol", "user")
    before = len(api.events())
    for method, path, body in [
        ("POST", "/api/v1/users", {"name": "carol"}),
        ("POST", "/api/v1/users", {"name": "Bad"}),
        ("POST", "/api/v1/users/ghost/tokens", {}),
        ("POST", "/api/v1/users/carol/tokens", {"scopes": ["nope"]}),
    ]:
        assert (await api.admin(method, path, json=body)).status_code >= 400
    assert len(api.events()) == before
    assert api.rows("SELECT * FROM api_tokens") == []
    verify = await api.admin("GET", "/api/v1/audit/verify")
    assert verify.json()["ok"] is True, verify.text


async def test_audit_log_is_readable_by_audit_scope(api: Api) -> None:
    """Account events are ordinary audit events: filterable by action over the API."""
    await api.user("dora", "user")
    resp = await api.admin("GET", "/api/v1/audit", params={"action": "accounts.*"})
    assert resp.status_code == 200, resp.text
    (event,) = resp.json()["events"]
    assert event["action"] == "accounts.user_created" and event["payload"]["user"] == "dora"


@SQLITE_ONLY
async def test_no_audit_no_change(api: Api) -> None:
    """When the audit event cannot be stored, the change is rolled back: 503, nothing kept."""
    await api.user("erin", "user")
    with sqlite3.connect(api.db_path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit store refuses'); END"
        )
    for method, path, body in [
        ("POST", "/api/v1/users", {"name": "frank", "roles": ["user"]}),
        ("PATCH", "/api/v1/users/erin", {"disabled": True}),
        ("POST", "/api/v1/users/erin/tokens", {}),
    ]:
        resp = await api.admin(method, path, json=body)
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"] == "audit_unavailable"
    assert [r["name"] for r in api.rows("SELECT name FROM users")] == ["erin"]
    assert api.rows("SELECT disabled FROM users")[0]["disabled"] == 0
    assert api.rows("SELECT * FROM api_tokens") == []
