"""End to end: on a real `nexflow up`, the admin makes a user and a token over HTTP; that
token works for what its scopes allow and nothing more."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.harness import start_stack

pytestmark = [pytest.mark.e2e]


def test_admin_creates_a_user_whose_token_is_scoped(tmp_path: Path) -> None:
    """A `user` token created over HTTP reads /me and skills, and is 403 on accounts; its
    secret is in no log line."""
    stack = start_stack(tmp_path)
    try:
        admin = stack.client
        resp = admin.post("/api/v1/users", json={"name": "alice", "roles": ["user"]})
        assert resp.status_code == 201, resp.text
        resp = admin.post("/api/v1/users/alice/tokens", json={"name": "e2e"})
        assert resp.status_code == 201, resp.text
        token = resp.json()["token"]
        assert token.startswith("nxf_")

        with httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as alice:
            me = alice.get("/api/v1/me")
            assert me.status_code == 200, me.text
            assert me.json()["id"] == "alice" and me.json()["roles"] == ["user"]
            assert "approvals:decide" not in me.json()["scopes"]

            skills = alice.get("/api/v1/skills")
            assert skills.status_code == 200, skills.text
            assert "echo" in [s["name"] for s in skills.json()["skills"]]

            for method, path in [("GET", "/api/v1/users"), ("POST", "/api/v1/users")]:
                denied = alice.request(method, path, json={"name": "mallory", "roles": ["admin"]})
                assert denied.status_code == 403, denied.text
                assert denied.json()["error"] == "insufficient_scope"
                assert denied.json()["scope"] == "accounts:admin"

        users = admin.get("/api/v1/users").json()["users"]
        assert [u["name"] for u in users] == ["alice"]
        actions = [
            e["action"]
            for e in admin.get("/api/v1/audit", params={"action": "accounts.*"}).json()["events"]
        ]
        assert sorted(actions) == ["accounts.token_created", "accounts.user_created"]
    finally:
        stack.stop()
    log = stack.log_path.read_text()
    assert "control_plane.ready" in log  # the stack's real log (it has no access lines)
    assert token.partition("_")[2].partition("_")[2] not in log
