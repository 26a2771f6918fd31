"""`ws /ws/logs`: the live tail over a real WebSocket handshake (Starlette's test client),
its filters, replay, and who may open it; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.app import create_app
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():  # this Starlette prefers `httpx2`; plain httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from .conftest import ADMIN_TOKEN, database_url, make_settings

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "correct horse battery"


@pytest.fixture
def client(tmp_path: Path, skills: Path, backend: str, request: pytest.FixtureRequest) -> Any:
    app = create_app(make_settings(tmp_path, skills, database_url(backend, request)))
    with TestClient(app, base_url="http://cp") as client:
        yield client


def _refusal(client: TestClient, url: str, headers: dict[str, str]) -> WebSocketDisconnect:
    """How the server closes a socket it will not serve (the handshake is refused)."""
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(url, headers=headers) as ws,
    ):
        ws.receive_json()
    return refused.value


def _make_users(client: TestClient, *names: str) -> None:
    for name in names:
        made = client.post("/api/v1/users", json={"name": name, "roles": ["user"]}, headers=BEARER)
        assert made.status_code == 201, made.text


def test_tail_sends_new_events_that_match_the_filter(client: TestClient) -> None:
    with client.websocket_connect("/ws/logs?action=accounts.user_created", headers=BEARER) as ws:
        _make_users(client, "alice")
        client.post("/api/v1/users/alice/tokens", json={"name": "t"}, headers=BEARER)
        _make_users(client, "bob")
        got: list[dict[str, Any]] = []
        while len(got) < 2:
            message = ws.receive_json()
            assert message["type"] == "events"
            got += message["events"]
    assert [(e["action"], e["payload"]["user"]) for e in got] == [
        ("accounts.user_created", "alice"),
        ("accounts.user_created", "bob"),
    ]
    assert got[0]["seq"] < got[1]["seq"]


def test_tail_replays_what_came_after_a_seq_then_goes_live(client: TestClient) -> None:
    _make_users(client, "alice", "bob")
    events = client.get("/api/v1/audit", params={"action": "accounts.*"}, headers=BEARER).json()
    first = min(e["seq"] for e in events["events"])
    with client.websocket_connect(
        f"/ws/logs?action=accounts.*&after={first}", headers=BEARER
    ) as ws:
        replay = ws.receive_json()["events"]
        assert [e["payload"]["user"] for e in replay] == ["bob"]
        _make_users(client, "carol")
        live = ws.receive_json()["events"]
        assert [e["payload"]["user"] for e in live] == ["carol"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, 4401), ({"Authorization": "Bearer nope"}, 4401)],
)
def test_tail_refuses_the_unauthenticated(
    client: TestClient, headers: dict[str, str], code: int
) -> None:
    assert _refusal(client, "/ws/logs", headers).code == code
    refused = client.get("/api/v1/audit", params={"action": "auth.failed"}, headers=BEARER).json()[
        "events"
    ]
    assert [(e["payload"]["method"], e["payload"]["path"]) for e in refused] == [
        ("WEBSOCKET", "/ws/logs")
    ]


def test_tail_needs_audit_read(client: TestClient) -> None:
    _make_users(client, "alice")
    token = client.post(
        "/api/v1/users/alice/tokens", json={"scopes": ["calls:run"]}, headers=BEARER
    ).json()["token"]
    refused = _refusal(client, "/ws/logs", {"Authorization": f"Bearer {token}"})
    assert refused.code == 4403 and refused.reason == "insufficient_scope"
    audited = client.get(
        "/api/v1/audit", params={"action": "auth.scope_refused"}, headers=BEARER
    ).json()["events"]
    assert [(e["actor"], e["payload"]["path"]) for e in audited] == [("alice", "/ws/logs")]


def test_a_session_socket_must_come_from_this_origin(client: TestClient) -> None:
    """Cross-site WebSocket hijacking: another site's page opening the socket with the
    visitor's cookie is refused; the same origin is let in."""
    _make_users(client, "alice")
    client.put("/api/v1/users/alice/password", json={"password": PASSWORD}, headers=BEARER)
    assert client.post("/auth/login", json={"name": "alice", "password": PASSWORD}).is_success
    cookie = {"Cookie": f"nexflow_session={client.cookies['nexflow_session']}"}
    for origin in ({"Origin": "https://evil.example"}, {}):
        refused = _refusal(client, "/ws/logs", {**cookie, **origin})
        assert refused.code == 4403 and refused.reason == "csrf_failed"
    # The test client sends sockets to host "testserver": that is this origin.
    with client.websocket_connect(
        "/ws/logs", headers={**cookie, "Origin": "http://testserver"}
    ) as ws:
        _make_users(client, "dave")
        assert ws.receive_json()["type"] == "events"


def test_malformed_filters_close_the_socket_with_a_code(client: TestClient) -> None:
    assert _refusal(client, "/ws/logs?since=yesterday", BEARER).code == 4422
