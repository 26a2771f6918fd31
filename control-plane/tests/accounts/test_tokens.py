"""API tokens over HTTP: format, hash-only storage, revocation, expiry, disabling, last use."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nexflow_control.accounts import AccountStore, Actor
from nexflow_control.audit import AuditLog
from nexflow_control.db import Database

from .conftest import SQLITE_ONLY, Api, sqlite_threads, threads_finished

TOKEN_RE = re.compile(r"nxf_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})")


async def test_token_round_trip(api: Api) -> None:
    """A new token has the nxf_<id>_<secret> form and authenticates as its user."""
    await api.user("alice", "user", "viewer")
    created = await api.token("alice", name="laptop")
    match = TOKEN_RE.fullmatch(created["token"])
    assert match, created["token"]
    assert match.group(1) == created["id"]
    assert created["prefix"] == f"nxf_{created['id']}_"
    assert created["token"].startswith(created["prefix"])
    assert created["status"] == "active" and created["expires_at"] is None

    me = await api.as_token(created["token"], "GET", "/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": "alice",
        "kind": "user",
        "user_id": me.json()["user_id"],
        "token_id": created["id"],
        "roles": ["user", "viewer"],
        "scopes": ["audit:read", "calls:run", "skills:read"],
        "channel": "http",
    }
    assert me.json()["user_id"].startswith("u_")


async def test_default_scopes_never_include_approvals(api: Api) -> None:
    """A token created without scopes gets calls:run skills:read audit:read, never approvals."""
    await api.user("agent", "user")
    created = await api.token("agent")
    assert created["scopes"] == ["audit:read", "calls:run", "skills:read"]
    assert "approvals:decide" not in created["scopes"]
    (row,) = api.rows("SELECT scopes FROM api_tokens WHERE id = ?", created["id"])
    assert "approvals" not in row["scopes"]


@SQLITE_ONLY
async def test_only_the_hash_is_stored(api: Api) -> None:
    """The database holds sha256(token) and never the secret, in any table or file."""
    await api.user("bob", "user")
    created = await api.token("bob")
    whole = created["token"]
    secret = TOKEN_RE.fullmatch(whole).group(2)  # type: ignore[union-attr]
    (row,) = api.rows("SELECT * FROM api_tokens WHERE id = ?", created["id"])
    assert row["hash"] == hashlib.sha256(whole.encode()).hexdigest()
    assert secret not in " ".join(str(v) for v in tuple(row))
    # Every byte SQLite wrote (the database and its write-ahead log) is free of it too.
    files = [p for p in api.db_path.parent.iterdir() if p.name.startswith("nexflow.db")]
    assert files
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data, path
        assert whole.encode() not in data, path


async def test_listing_shows_no_secret_or_hash(api: Api) -> None:
    """Token lists carry id, prefix, name, scopes, status and dates: no secret, no hash."""
    await api.user("carol", "user")
    created = await api.token("carol", name="ci")
    for path in ("/api/v1/users/carol/tokens", "/api/v1/tokens", "/api/v1/tokens?user=carol"):
        resp = await api.admin("GET", path)
        assert resp.status_code == 200, resp.text
        (listed,) = [t for t in resp.json()["tokens"] if t["id"] == created["id"]]
        assert set(listed) == {
            "id", "prefix", "user", "name", "scopes", "status",
            "created_at", "expires_at", "revoked_at", "last_used_at",
        }  # fmt: skip
        assert created["token"] not in resp.text
        (row,) = api.rows("SELECT hash FROM api_tokens WHERE id = ?", created["id"])
        assert row["hash"] not in resp.text


async def test_revoked_token_is_401_token_revoked(api: Api) -> None:
    """After revocation the token answers 401 token_revoked; revoking again changes nothing."""
    await api.user("dave", "user")
    created = await api.token("dave")
    assert (await api.as_token(created["token"], "GET", "/api/v1/me")).status_code == 200

    resp = await api.admin("POST", f"/api/v1/tokens/{created['id']}/revoke")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "revoked" and resp.json()["revoked_at"]

    denied = await api.as_token(created["token"], "GET", "/api/v1/me")
    assert denied.status_code == 401
    assert denied.json()["error"] == "token_revoked"
    assert denied.headers["www-authenticate"] == "Bearer"

    again = await api.admin("POST", f"/api/v1/tokens/{created['id']}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == resp.json()["revoked_at"]
    assert len(api.events("accounts.token_revoked")) == 1


async def test_wrong_secret_tells_nothing_about_the_token(api: Api) -> None:
    """A real id with a wrong secret is plain 401 unauthenticated, even for a revoked token."""
    await api.user("erin", "user")
    created = await api.token("erin")
    forged = created["prefix"] + "A" * 43
    for _ in range(2):
        resp = await api.as_token(forged, "GET", "/api/v1/me")
        assert resp.status_code == 401 and resp.json()["error"] == "unauthenticated"
        await api.admin("POST", f"/api/v1/tokens/{created['id']}/revoke")
    for junk in ("nxf_", "nxf_zz_zz", created["token"] + "x", created["token"][:-1]):
        resp = await api.as_token(junk, "GET", "/api/v1/me")
        assert resp.status_code == 401 and resp.json()["error"] == "unauthenticated", junk


async def test_expired_token_is_401_token_expired(api: Api) -> None:
    """A token past its expires_at answers 401 token_expired."""
    await api.user("frank", "user")
    created = await api.token("frank", expires_in="1s")
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(seconds=1)
    assert (await api.as_token(created["token"], "GET", "/api/v1/me")).status_code == 200
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    resp = await api.as_token(created["token"], "GET", "/api/v1/me")
    assert resp.status_code == 401
    assert resp.json()["error"] == "token_expired"
    listed = (await api.admin("GET", "/api/v1/users/frank/tokens")).json()["tokens"]
    assert listed[0]["status"] == "expired"


async def test_expires_at_is_honoured(api: Api) -> None:
    """An absolute expires_at is stored as given (UTC) and shown in lists."""
    await api.user("gina", "user")
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    created = await api.token("gina", expires_at=when.isoformat())
    assert datetime.fromisoformat(created["expires_at"]) == when
    naive = (when + timedelta(days=1)).replace(tzinfo=None)
    created = await api.token("gina", expires_at=naive.isoformat())
    assert datetime.fromisoformat(created["expires_at"]) == naive.replace(tzinfo=UTC)


async def test_disabled_user_is_401_user_disabled(api: Api) -> None:
    """Disabling a user stops every token of theirs with 401 user_disabled; enabling restores."""
    await api.user("hank", "user")
    first, second = await api.token("hank"), await api.token("hank", name="phone")
    resp = await api.admin("PATCH", "/api/v1/users/hank", json={"disabled": True})
    assert resp.status_code == 200 and resp.json()["disabled"] is True
    for created in (first, second):
        denied = await api.as_token(created["token"], "GET", "/api/v1/skills")
        assert denied.status_code == 401
        assert denied.json()["error"] == "user_disabled"
    await api.admin("PATCH", "/api/v1/users/hank", json={"disabled": False})
    assert (await api.as_token(first["token"], "GET", "/api/v1/me")).status_code == 200


async def test_concurrent_token_creation(api: Api) -> None:
    """Twenty tokens created at once: all distinct, all stored, all audited, chain intact."""
    await api.user("ivy", "user")
    answers = await asyncio.gather(
        *(api.admin("POST", "/api/v1/users/ivy/tokens", json={"name": f"t{i}"}) for i in range(20))
    )
    assert [r.status_code for r in answers] == [201] * 20, [r.text for r in answers]
    tokens = {r.json()["token"] for r in answers}
    assert len(tokens) == 20
    assert len(api.rows("SELECT id FROM api_tokens")) == 20
    assert len(api.events("accounts.token_created")) == 20
    checks = await asyncio.gather(*(api.as_token(t, "GET", "/api/v1/me") for t in tokens))
    assert {c.status_code for c in checks} == {200}
    verify = await api.admin("GET", "/api/v1/audit/verify")
    assert verify.json()["ok"] is True, verify.text


async def test_last_used_is_written_at_most_once_a_minute(tmp_path: Path) -> None:
    """Authenticating records last_used_at, then does not even try to write for a minute."""
    others = sqlite_threads()
    db = tmp_path / "a.db"
    database = await Database.open(f"sqlite+aiosqlite:///{db}", busy_timeout_ms=3000)
    audit = AuditLog(database)
    now = [datetime(2030, 1, 1, 12, 0, tzinfo=UTC)]
    store = await AccountStore.open(database, audit, clock=lambda: now[0])
    try:
        await store.create_user("jo", ["user"], actor=Actor("admin"))
        token, whole = await store.create_token("jo", actor=Actor("admin"))
        assert token.last_used_at is None

        async def last_used() -> datetime | None:
            (listed,) = await store.list_tokens("jo")
            return listed.last_used_at

        start = now[0]
        await store.authenticate(whole)
        assert await last_used() == start
        now[0] = start + timedelta(seconds=59)
        # Another process holds the write lock: a request that tried to write would
        # wait out the 3 s busy timeout; one that does not try answers at once.
        blocker = sqlite3.connect(db, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            began = time.monotonic()
            await store.authenticate(whole)
            assert time.monotonic() - began < 1.0
        finally:
            blocker.close()
        assert await last_used() == start
        now[0] = start + timedelta(seconds=61)
        await store.authenticate(whole)
        assert await last_used() == now[0]
    finally:
        await audit.close()
        await database.close()
        await threads_finished(others)
