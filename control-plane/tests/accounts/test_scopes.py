"""Scopes on the routes: each route refuses a token without its scope with 403
insufficient_scope naming it, and lets a token with only that scope through."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from nexflow_control.accounts import ALL_SCOPES
from nexflow_control.accounts.scopes import GATEWAY_EXCLUDED, GATEWAY_SCOPES

from .conftest import Api

ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/skills", "skills:read", None),
    ("GET", "/api/v1/skills/echo", "skills:read", None),
    ("POST", "/api/v1/skills/echo", "calls:run", {"input": {"message": "hi"}}),
    ("GET", "/api/v1/audit", "audit:read", None),
    ("GET", "/api/v1/audit/verify", "audit:read", None),
    ("GET", "/api/v1/calls/c_0000", "audit:read", None),
    ("GET", "/api/v1/calls", "audit:read", None),
    ("GET", "/api/v1/stats/calls", "audit:read", None),
    ("GET", "/api/v1/secrets/usage", "secrets:admin", None),
    ("GET", "/api/v1/users", "accounts:admin", None),
    ("POST", "/api/v1/users", "accounts:admin", {"name": "made-by-scope", "roles": []}),
    ("GET", "/api/v1/users/target", "accounts:admin", None),
    ("PATCH", "/api/v1/users/target", "accounts:admin", {"roles": ["viewer"]}),
    ("GET", "/api/v1/users/target/tokens", "accounts:admin", None),
    ("POST", "/api/v1/users/target/tokens", "accounts:admin", {}),
    ("GET", "/api/v1/tokens", "accounts:admin", None),
    ("POST", "/api/v1/tokens/0123456789abcdef/revoke", "accounts:admin", None),
    (
        "POST",
        "/api/v1/users/target/identities",
        "accounts:admin",
        {"provider": "telegram", "subject": "1"},
    ),
    ("DELETE", "/api/v1/users/target/identities/telegram/1", "accounts:admin", None),
    ("POST", "/api/v1/pairings", "calls:run_as", {"identity": "telegram:9", "channel": "telegram"}),
    ("GET", "/api/v1/pairings", "accounts:admin", None),
    ("POST", "/api/v1/pairings/ABCDEFGH/reject", "accounts:admin", None),
    (
        "POST",
        "/api/v1/approvals/a_0000000000000000/press",
        "approvals:relay",
        {
            "identity": "telegram:1",
            "channel": "telegram:1",
            "decision": "approve",
            "nonce": "n" * 32,
        },
    ),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tokens(shared_api: Api) -> dict[str, str]:
    """For each scope: `without:<scope>` (every other scope a token may hold together:
    the gateway's scopes never sit beside approvals:decide or accounts:admin) and
    `only:<scope>`."""
    await shared_api.user("scoped", "user")
    await shared_api.user("target", "user")
    out: dict[str, str] = {}
    for scope in sorted(ALL_SCOPES):
        others = ALL_SCOPES - {scope}
        others = sorted(
            others - (GATEWAY_EXCLUDED if scope in GATEWAY_EXCLUDED else GATEWAY_SCOPES)
        )
        out[f"without:{scope}"] = (await shared_api.token("scoped", scopes=others))["token"]
        out[f"only:{scope}"] = (await shared_api.token("scoped", scopes=[scope]))["token"]
    return out


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("method", "path", "scope", "body"), ROUTES)
async def test_route_needs_its_scope(
    shared_api: Api,
    tokens: dict[str, str],
    method: str,
    path: str,
    scope: str,
    body: dict[str, Any] | None,
) -> None:
    """Without the scope: 403 insufficient_scope naming it; with only it: past the check."""
    denied = await shared_api.as_token(tokens[f"without:{scope}"], method, path, json=body)
    assert denied.status_code == 403, denied.text
    assert denied.json()["error"] == "insufficient_scope"
    assert denied.json()["scope"] == scope
    assert f"'{scope}'" in denied.json()["message"] and "Scope." not in denied.json()["message"]

    allowed = await shared_api.as_token(tokens[f"only:{scope}"], method, path, json=body)
    assert allowed.status_code not in (401, 500), allowed.text
    if allowed.status_code == 403:  # e.g. policy_denied: a later check, not the scope
        assert allowed.json()["error"] != "insufficient_scope", allowed.text


@pytest.mark.asyncio(loop_scope="module")
async def test_refused_scope_changes_nothing(shared_api: Api, tokens: dict[str, str]) -> None:
    """A request refused for its scope stores nothing: no user, no audit event."""
    before = len(shared_api.events())
    resp = await shared_api.as_token(
        tokens["without:accounts:admin"], "POST", "/api/v1/users", json={"name": "nope"}
    )
    assert resp.status_code == 403
    assert shared_api.rows("SELECT * FROM users WHERE name = 'nope'") == []
    assert len(shared_api.events()) == before


async def test_approvals_scope_exists_and_is_grantable(api: Api) -> None:
    """approvals:decide is a known scope that must be asked for by name."""
    await api.user("approver", "operator")
    created = await api.token("approver", scopes=["approvals:decide"])
    assert created["scopes"] == ["approvals:decide"]
    me = await api.as_token(created["token"], "GET", "/api/v1/me")
    assert me.json()["scopes"] == ["approvals:decide"]


async def test_bootstrap_admin_has_every_scope(api: Api) -> None:
    """The bootstrap admin token is principal admin with role admin and every scope."""
    me = await api.admin("GET", "/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["id"] == "admin" and me.json()["kind"] == "bootstrap"
    assert me.json()["roles"] == ["admin"]
    assert set(me.json()["scopes"]) == ALL_SCOPES
    assert me.json()["user_id"] is None and me.json()["token_id"] is None


async def test_no_token_is_401_and_health_stays_open(api: Api) -> None:
    """No or a bad bearer token is 401 unauthenticated; /health needs none."""
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        resp = await api.client.get("/api/v1/me", headers=headers)
        assert resp.status_code == 401 and resp.json()["error"] == "unauthenticated"
    resp = await api.client.get("/health")
    assert resp.status_code in (200, 503) and "status" in resp.json()


async def test_user_principal_reaches_policy_and_audit(api: Api) -> None:
    """A user's name and roles are what policy decides on and what the audit records."""
    await api.user("vic", "viewer")
    created = await api.token("vic")
    resp = await api.as_token(
        created["token"], "POST", "/api/v1/skills/echo", json={"input": {"message": "hi"}}
    )
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "policy_denied"
    actors = {row["actor"] for row in api.events("call.")}
    assert actors == {"vic"}
