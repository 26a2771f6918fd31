"""Users over HTTP: create, list, show, roles, disable; bad input is 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from .conftest import Api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def target(shared_api: Api) -> Api:
    """The shared control plane with one user, `target`."""
    await shared_api.user("target", "user")
    return shared_api


async def test_create_list_show_and_set_roles(api: Api) -> None:
    """A created user is listed and shown; PATCH replaces roles and keeps the rest."""
    created = await api.user("alice", "user", "user", "operator")
    assert created["name"] == "alice" and created["roles"] == ["user", "operator"]
    assert created["disabled"] is False and created["identities"] == []
    assert created["id"].startswith("u_") and created["created_at"]

    listed = (await api.admin("GET", "/api/v1/users")).json()["users"]
    assert [u["name"] for u in listed] == ["alice"]
    shown = await api.admin("GET", "/api/v1/users/alice")
    assert shown.status_code == 200 and shown.json() == created

    resp = await api.admin("PATCH", "/api/v1/users/alice", json={"roles": ["viewer"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["roles"] == ["viewer"] and resp.json()["disabled"] is False
    assert resp.json()["updated_at"] >= created["updated_at"]
    (row,) = api.rows("SELECT roles FROM users WHERE name = 'alice'")
    assert row["roles"] == '["viewer"]'


async def test_role_change_applies_to_existing_tokens(api: Api) -> None:
    """Roles are read at each request: a token sees its user's new roles at once."""
    await api.user("bob", "viewer")
    token = (await api.token("bob"))["token"]
    await api.admin("PATCH", "/api/v1/users/bob", json={"roles": ["user"]})
    me = await api.as_token(token, "GET", "/api/v1/me")
    assert me.json()["roles"] == ["user"]


async def test_duplicate_name_is_409_user_exists(api: Api) -> None:
    """A second user with a taken name is 409 user_exists and stores nothing."""
    await api.user("carol", "user")
    before = len(api.events())
    resp = await api.admin("POST", "/api/v1/users", json={"name": "carol", "roles": ["admin"]})
    assert resp.status_code == 409
    assert resp.json()["error"] == "user_exists" and resp.json()["user"] == "carol"
    (row,) = api.rows("SELECT roles FROM users WHERE name = 'carol'")
    assert row["roles"] == '["user"]'
    assert len(api.events()) == before


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Alice", "invalid_input"),
        ("", "invalid_input"),
        ("-dash", "invalid_input"),
        (".dot", "invalid_input"),
        ("a b", "invalid_input"),
        ("a" * 65, "invalid_input"),
        ("émile", "invalid_input"),
        ("a/b", "invalid_input"),
        ("admin", "name_reserved"),
    ],
)
@pytest.mark.asyncio(loop_scope="module")
async def test_bad_user_name_is_422_naming_the_field(shared_api: Api, name: str, code: str) -> None:
    """A name outside [a-z0-9][a-z0-9._-]{0,63} (or `admin`) is 422 with field `name`."""
    resp = await shared_api.admin("POST", "/api/v1/users", json={"name": name, "roles": []})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == code and resp.json()["field"] == "name"
    assert shared_api.rows("SELECT * FROM users WHERE name = ?", name) == []


async def test_longest_and_shortest_names_are_fine(api: Api) -> None:
    """One character and 64 characters are both valid names."""
    for name in ("x", "a" * 64, "0.b_c-d"):
        await api.user(name)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/users", {"name": "ok", "roles": ["Admin"]}, "roles"),
        ("/api/v1/users", {"name": "ok", "roles": ["a b"]}, "roles"),
        ("/api/v1/users", {"name": "ok", "roles": [f"r{i}" for i in range(33)]}, "roles"),
        ("/api/v1/users", {"name": "ok", "roles": "user"}, "roles"),
        ("/api/v1/users", {"name": 7}, "name"),
        ("/api/v1/users", {"roles": []}, "name"),
        ("/api/v1/users", {"name": "ok", "role": ["user"]}, "role"),
        ("/api/v1/users/target/tokens", {"scopes": ["calls:walk"]}, "scopes"),
        ("/api/v1/users/target/tokens", {"scopes": []}, "scopes"),
        ("/api/v1/users/target/tokens", {"expires_in": "30 days"}, "expires_in"),
        ("/api/v1/users/target/tokens", {"expires_in": "0d"}, "expires_in"),
        ("/api/v1/users/target/tokens", {"expires_in": "99999w"}, "expires_in"),
        ("/api/v1/users/target/tokens", {"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        (
            "/api/v1/users/target/tokens",
            {"expires_in": "1d", "expires_at": "2999-01-01T00:00:00Z"},
            "expires_at",
        ),
        ("/api/v1/users/target/tokens", {"name": "\x07bell"}, "name"),
        ("/api/v1/users/target/tokens", {"name": ""}, "name"),
        ("/api/v1/users/target/identities", {"provider": "Tele gram", "subject": "1"}, "provider"),
        ("/api/v1/users/target/identities", {"provider": "telegram", "subject": "a b"}, "subject"),
        ("/api/v1/users/target/identities", {"provider": "telegram", "subject": ""}, "subject"),
        ("/api/v1/users/target/identities", {"provider": "telegram"}, "subject"),
    ],
)
@pytest.mark.asyncio(loop_scope="module")
async def test_bad_input_is_422_naming_the_field(
    target: Api, path: str, body: dict[str, Any], field: str
) -> None:
    """Every malformed field is refused with 422, the field named, and nothing stored."""
    before = len(target.events())
    resp = await target.admin("POST", path, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field, resp.json()
    assert resp.json()["error"] in ("invalid_input", "invalid_request")
    assert "Traceback" not in resp.text
    assert len(target.events()) == before


async def test_patch_needs_something_to_change(api: Api) -> None:
    """An empty PATCH is 422; an unchanged value is 200 with no audit event."""
    await api.user("dora", "user")
    resp = await api.admin("PATCH", "/api/v1/users/dora", json={})
    assert resp.status_code == 422 and resp.json()["field"] == "body"
    before = len(api.events())
    resp = await api.admin("PATCH", "/api/v1/users/dora", json={"roles": ["user"]})
    assert resp.status_code == 200
    assert len(api.events()) == before


async def test_unknown_user_and_token_are_404(api: Api) -> None:
    """Acting on a user or token that does not exist is 404 with a stable code."""
    for method, path, body in [
        ("GET", "/api/v1/users/ghost", None),
        ("PATCH", "/api/v1/users/ghost", {"disabled": True}),
        ("GET", "/api/v1/users/ghost/tokens", None),
        ("GET", "/api/v1/tokens?user=ghost", None),
        ("POST", "/api/v1/users/ghost/tokens", {}),
        ("POST", "/api/v1/users/ghost/identities", {"provider": "telegram", "subject": "1"}),
        ("DELETE", "/api/v1/users/ghost/identities/telegram/1", None),
    ]:
        resp = await api.admin(method, path, json=body)
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["error"] == "user_not_found"
    resp = await api.admin("POST", "/api/v1/tokens/0123456789abcdef/revoke")
    assert resp.status_code == 404 and resp.json()["error"] == "token_not_found"
