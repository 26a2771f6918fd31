"""Web login over HTTP: passwords, the session cookie, CSRF, throttling, logout, export.

Each test runs on SQLite and on a real PostgreSQL (see conftest). The live tail's
socket is tested in `test_log_tail.py`; the browser flow in tests/e2e/test_web_ui_e2e.py.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from nexflow_control.accounts import Actor
from nexflow_control.accounts.sessions import SessionStore
from nexflow_control.errors import Unauthenticated

from .conftest import Api

PASSWORD = "correct horse battery"


async def _with_password(api: Api, name: str, *roles: str) -> None:
    await api.user(name, *roles)
    done = await api.admin("PUT", f"/api/v1/users/{name}/password", json={"password": PASSWORD})
    assert done.status_code == 204, done.text


async def _login(api: Api, name: str, password: str = PASSWORD, **kw: object) -> httpx.Response:
    return await api.client.post("/auth/login", json={"name": name, "password": password}, **kw)


async def test_login_sets_a_hardened_cookie_and_the_session_acts_as_the_user(api: Api) -> None:
    await _with_password(api, "alice", "operator")
    reply = await _login(api, "alice")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["user"] == "alice" and body["roles"] == ["operator"]
    assert "approvals:decide" in body["scopes"] and "accounts:admin" not in body["scopes"]
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith("nexflow_session=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute in cookie, cookie
    assert reply.headers["cache-control"] == "no-store"

    me = await api.client.get("/api/v1/me")  # the cookie, no bearer token
    assert me.status_code == 200, me.text
    assert me.json()["id"] == "alice" and me.json()["channel"] == "web"
    session = await api.client.get("/auth/session")
    assert session.json()["csrf_token"] == body["csrf_token"]

    # Stored: a scrypt hash of the password and a sha256 of the cookie, never either secret.
    secret = api.client.cookies["nexflow_session"]
    stored = api.rows("SELECT hash FROM user_passwords")[0]["hash"]
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    ids = [r["id"] for r in api.rows("SELECT id FROM web_sessions")]
    assert len(ids) == 1 and secret not in ids[0] and len(ids[0]) == 64
    login = api.events("auth.")[-1]
    assert login["action"] == "auth.login" and login["actor"] == "alice"
    assert PASSWORD not in login["payload"] and secret not in login["payload"]


@pytest.mark.parametrize("who", ["alice", "nobody", "nopassword"])
async def test_every_failed_login_looks_the_same_and_is_audited(api: Api, who: str) -> None:
    await _with_password(api, "alice", "user")
    await api.user("nopassword", "user")
    reply = await _login(api, who, "wrong password!")
    assert reply.status_code == 401
    assert reply.json() == {"error": "login_failed", "message": "wrong user name or password"}
    assert "set-cookie" not in reply.headers
    failed = api.events("auth.login_failed")
    assert [r["actor"] for r in failed] == [who]
    assert "wrong password" not in failed[0]["payload"]


async def test_unsafe_requests_need_the_csrf_token_and_this_origin(api: Api) -> None:
    await _with_password(api, "alice", "admin")
    csrf = (await _login(api, "alice")).json()["csrf_token"]
    body = {"name": "bob", "roles": ["user"]}
    missing = await api.client.post("/api/v1/users", json=body)
    assert missing.status_code == 403 and missing.json()["error"] == "csrf_failed"
    wrong = await api.client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403 and wrong.json()["error"] == "csrf_failed"
    foreign = await api.client.post(
        "/api/v1/users",
        json=body,
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403 and "cross-origin" in foreign.json()["message"]
    assert api.rows("SELECT name FROM users WHERE name = 'bob'") == []
    ok = await api.client.post(
        "/api/v1/users", json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://cp"}
    )
    assert ok.status_code == 201, ok.text
    created = api.events("accounts.user_created")[-1]
    assert created["actor"] == "alice" and '"via":"session:' in created["payload"]


async def test_login_takes_json_from_this_origin_only(api: Api) -> None:
    await _with_password(api, "alice", "user")
    form = await api.client.post("/auth/login", data={"name": "alice", "password": PASSWORD})
    assert form.status_code == 422 and form.json()["error"] == "unsupported_media_type"
    foreign = await _login(api, "alice", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["error"] == "csrf_failed"
    assert "nexflow_session" not in api.client.cookies


async def test_failed_logins_are_throttled_per_name_and_per_client(api: Api) -> None:
    await _with_password(api, "alice", "user")
    await _with_password(api, "bob", "user")
    for _ in range(5):
        assert (await _login(api, "alice", "guess guess guess")).status_code == 401
    blocked = await _login(api, "alice")  # even the right password, for now
    assert blocked.status_code == 429, blocked.text
    assert blocked.json()["error"] == "login_rate_limited"
    assert int(blocked.headers["retry-after"]) >= 1
    assert (await _login(api, "bob")).status_code == 200  # another name is not locked out
    for i in range(15):  # the client's budget (20) is spent across names
        assert (await _login(api, f"name{i}", "guess guess guess")).status_code == 401
    assert (await _login(api, "bob")).status_code == 429


async def test_logout_ends_the_session_and_needs_csrf(api: Api) -> None:
    await _with_password(api, "alice", "user")
    csrf = (await _login(api, "alice")).json()["csrf_token"]
    secret = api.client.cookies["nexflow_session"]
    refused = await api.client.post("/auth/logout")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"
    out = await api.client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert 'nexflow_session=""' in out.headers["set-cookie"]
    api.client.cookies.set("nexflow_session", secret)  # a copy kept from before the logout
    replay = await api.client.get("/api/v1/me")
    assert replay.status_code == 401 and replay.json()["error"] == "session_expired"
    # The logout, then the replayed cookie refused (and audited as such).
    last = api.events("auth.")[-2:]
    assert [r["action"] for r in last] == ["auth.logout", "auth.failed"]
    assert json.loads(last[1]["reason_codes"]) == ["session_expired"]


async def test_a_password_change_or_disabling_ends_sessions(api: Api) -> None:
    await _with_password(api, "alice", "user")
    await _login(api, "alice")
    assert (await api.client.get("/api/v1/me")).status_code == 200
    await api.admin("PUT", "/api/v1/users/alice/password", json={"password": "another pass 2"})
    assert (await api.client.get("/api/v1/me")).status_code == 401
    assert (await _login(api, "alice")).status_code == 401  # the old password is gone
    assert (await _login(api, "alice", "another pass 2")).status_code == 200
    await api.admin("PATCH", "/api/v1/users/alice", json={"disabled": True})
    assert (await api.client.get("/api/v1/me")).json()["error"] == "session_expired"
    assert (await _login(api, "alice", "another pass 2")).status_code == 401


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "10 to 1024"), (" padded password ", "spaces"), ("aaaaaaaaaaaa", "distinct")],
)
async def test_weak_passwords_are_refused_naming_the_field(
    api: Api, password: str, message: str
) -> None:
    await api.user("alice", "user")
    reply = await api.admin("PUT", "/api/v1/users/alice/password", json={"password": password})
    assert reply.status_code == 422
    assert reply.json()["field"] == "password" and message in reply.json()["message"]
    assert api.rows("SELECT * FROM user_passwords") == []


async def test_sessions_end_when_idle_and_at_their_lifetime(api: Api) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = SessionStore(
        api.services.db,
        api.services.audit,
        lifetime=timedelta(hours=2),
        idle=timedelta(minutes=30),
        clock=lambda: now[0],
    )
    await api.user("alice", "user")
    await store.set_password("alice", PASSWORD, actor=Actor("admin"))
    secret, _ = await store.login("alice", PASSWORD, client="test")
    for _ in range(3):  # used every 29 minutes: stays alive past the idle time
        now[0] += timedelta(minutes=29)
        assert (await store.session(secret)).user.name == "alice"
    now[0] += timedelta(minutes=31)  # 2h03 after login, and idle too long
    with pytest.raises(Unauthenticated):
        await store.session(secret)
    secret, _ = await store.login("alice", PASSWORD, client="test")
    for _ in range(4):
        now[0] += timedelta(minutes=29)
        await store.session(secret)
    now[0] += timedelta(minutes=5)  # 2h01 after login: never idle, but past its lifetime
    with pytest.raises(Unauthenticated):
        await store.session(secret)


async def test_export_streams_jsonl_and_csv_with_filters(api: Api) -> None:
    await _with_password(api, "alice", "user")
    for _ in range(3):
        await _login(api, "alice", "guess guess guess")
    jsonl = await api.admin("GET", "/api/v1/audit/export", params={"action": "auth.*"})
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in jsonl.headers["content-disposition"]
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [e["action"] for e in lines] == ["auth.login_failed"] * 3
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)  # oldest first
    assert all(set(e) >= {"prev_hash", "hash"} for e in lines)

    exported = await api.admin("GET", "/api/v1/audit/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    everything = api.rows("SELECT seq FROM audit_events ORDER BY seq")
    assert [int(r["seq"]) for r in rows] == [r["seq"] for r in everything]
    assert all(json.loads(r["payload"]) is not None for r in rows)  # JSON cells
    bad = await api.admin("GET", "/api/v1/audit/export", params={"format": "xml"})
    assert bad.status_code == 422 and bad.json()["field"] == "format"


async def test_export_defuses_spreadsheet_formulas(api: Api) -> None:
    await _with_password(api, "alice", "user")
    await _login(api, "=cmd|' /C calc'!A0", "guess guess guess")
    exported = await api.admin(
        "GET", "/api/v1/audit/export", params={"format": "csv", "action": "auth.login_failed"}
    )
    (row,) = list(csv.DictReader(io.StringIO(exported.text)))
    assert row["actor"] == "'=cmd|' /C calc'!A0"


async def test_users_change_their_own_password(api: Api) -> None:
    await _with_password(api, "alice", "user")
    csrf = (await _login(api, "alice")).json()["csrf_token"]
    body = {"current_password": PASSWORD, "new_password": "a brand new one"}
    no_csrf = await api.client.post("/auth/password", json=body)
    assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "csrf_failed"
    wrong = await api.client.post(
        "/auth/password",
        json={**body, "current_password": "not the password"},
        headers={"X-CSRF-Token": csrf},
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "login_failed"
    weak = await api.client.post(
        "/auth/password", json={**body, "new_password": "short"}, headers={"X-CSRF-Token": csrf}
    )
    assert weak.status_code == 422 and weak.json()["field"] == "password"
    done = await api.client.post("/auth/password", json=body, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 204, done.text
    assert (await api.client.get("/api/v1/me")).status_code == 401  # every session ended
    assert (await _login(api, "alice")).status_code == 401
    assert (await _login(api, "alice", "a brand new one")).status_code == 200
    changed = api.events("accounts.password_set")[-1]
    assert changed["actor"] == "alice" and '"via":"session:' in changed["payload"]
    failed = api.events("auth.login_failed")
    assert [json.loads(r["payload"])["during"] for r in failed] == ["password_change", "login"]
