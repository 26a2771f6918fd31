"""The chat on the stack's main address: `nexflow up` proxies `/api/v1/chat`, sessions,
notes and `ws /ws/chat/*` to the gateway; each person chats as themselves."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from gateway.tests.conftest import Gateway, stack_database, start_gateway, stop_gateway
from gateway.tests.scripted_llm import ScriptedLLM, call, say, tool_results
from tests.harness import Stack, free_port, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("gateway-e2e")]

PASSWORD = "a-long-enough-password"


@pytest.fixture(scope="module")
def proxied(
    llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Gateway]]:
    """A stack whose chat routes go to a gateway on a port chosen before either starts."""
    port = free_port()
    stack = start_stack(
        tmp_path_factory.mktemp("proxied"),
        "--sandbox",
        "nsjail",
        env={"NEXFLOW_GATEWAY_URL": f"http://127.0.0.1:{port}"},
    )
    for name in ("ann", "bob"):
        made = stack.client.post("/api/v1/users", json={"name": name, "roles": ["operator"]})
        assert made.status_code == 201, made.text
    gateway = start_gateway(
        tmp_path_factory.mktemp("gw"),
        llm,
        stack.url,
        _token(stack, "ann", ["calls:run", "skills:read"]),
        stack_database(stack),
        port=port,
    )
    yield stack, gateway
    for client in _CLIENTS:
        client.close()
    stop_gateway(gateway)
    stack.stop()


def _token(stack: Stack, user: str, scopes: list[str] | None = None) -> str:
    body: dict[str, Any] = {"name": f"t-{user}"} | ({"scopes": scopes} if scopes else {})
    made = stack.client.post(f"/api/v1/users/{user}/tokens", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


_CLIENTS: list[httpx.Client] = []


def _as(stack: Stack, token: str) -> httpx.Client:
    """A client with `token` (closed when the module's stack stops)."""
    client = httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    )
    _CLIENTS.append(client)
    return client


def _relay(body: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": "the tool said " + " | ".join(tool_results(body))}


def test_chat_on_the_main_address_runs_as_the_caller(
    proxied: tuple[Stack, Gateway], llm: ScriptedLLM
) -> None:
    """A user's chat through the stack's port: the call is audited as that user, the session
    is theirs alone, and the turn's steps and costs are stored."""
    stack, _ = proxied
    bob = _as(stack, _token(stack, "bob"))
    llm.script(call(("echo", '{"message": "from bob"}')), _relay)
    reply = bob.post("/api/v1/chat", json={"message": "echo please"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    [made] = body["calls"]
    assert made["status"] == "succeeded" and made["duration_ms"] > 0
    story = stack.client.get(f"/api/v1/calls/{made['call_id']}").json()
    assert {e["actor"] for e in story["events"] if e["actor"]} == {"bob"}
    detail = bob.get(f"/api/v1/sessions/{body['session_id']}")
    assert detail.status_code == 200, detail.text
    [turn] = detail.json()["history"]
    assert turn["message"] == "echo please" and turn["calls"][0]["call_id"] == made["call_id"]
    assert detail.json()["usage"]["llm_calls"] == 2
    ann = _as(stack, _token(stack, "ann"))
    other = ann.get(f"/api/v1/sessions/{body['session_id']}")
    assert other.status_code == 404 and other.json()["error"] == "session_not_found"
    llm.script(say("must not be asked"))
    for message in ("carry on", '/run echo {"message": "as ann"}'):
        posted = ann.post(
            "/api/v1/chat", json={"message": message, "session_id": body["session_id"]}
        )
        assert posted.status_code == 404 and posted.json()["error"] == "session_not_found"
    assert llm.requests == [], "neither the model nor a command ran in bob's session"
    assert bob.get(f"/api/v1/sessions/{body['session_id']}").json()["turns"] == 1
    assert body["session_id"] not in {
        s["id"] for s in ann.get("/api/v1/sessions").json()["sessions"]
    }
    found = bob.get("/api/v1/chat/search", params={"q": "echo"}).json()["hits"]
    assert [h["session_id"] for h in found] == [body["session_id"]]


def test_notes_through_the_proxy(proxied: tuple[Stack, Gateway]) -> None:
    """Notes are kept, listed and deleted per user on the main address."""
    stack, _ = proxied
    bob = _as(stack, _token(stack, "bob"))
    added = bob.post("/api/v1/notes", json={"text": "the CI box is ci-7"})
    assert added.status_code == 201, added.text
    assert [n["text"] for n in bob.get("/api/v1/notes").json()["notes"]] == ["the CI box is ci-7"]
    assert _as(stack, _token(stack, "ann")).get("/api/v1/notes").json()["notes"] == []
    gone = bob.delete(f"/api/v1/notes/{added.json()['id']}")
    assert gone.status_code == 204, gone.text
    again = bob.delete(f"/api/v1/notes/{added.json()['id']}")
    assert again.status_code == 404 and again.json()["error"] == "note_not_found"
    bad = bob.post("/api/v1/notes", json={"text": "x" * 5000})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"


def test_unknown_credential_is_refused(proxied: tuple[Stack, Gateway]) -> None:
    """A token the control plane does not know gets 401 from the gateway, through the proxy."""
    stack, _ = proxied
    for path in ("/api/v1/sessions", "/api/v1/notes"):
        reply = httpx.get(
            f"{stack.url}{path}", headers={"Authorization": "Bearer nxf_nobody_x"}, timeout=30
        )
        assert reply.status_code == 401 and reply.json()["error"] == "unauthenticated"
    assert httpx.get(f"{stack.url}/api/v1/sessions", timeout=30).status_code == 401


def _frames(ws: ClientConnection) -> list[dict[str, Any]]:
    """Frames until `turn.finished` or `error`."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] not in ("turn.finished", "error"):
        seen.append(json.loads(ws.recv(timeout=60)))
    return seen


def test_socket_streams_deltas_and_tool_steps(
    proxied: tuple[Stack, Gateway], llm: ScriptedLLM
) -> None:
    """`ws /ws/chat/new` on the main address streams the reply word by word and each tool
    step as it happens, then the stored turn; the next message continues the session."""
    stack, _ = proxied
    token = _token(stack, "bob")
    llm.script(call(("echo", '{"message": "streamed"}')), say("all went well today"))
    url = stack.url.replace("http", "ws") + "/ws/chat/new"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        ws.send(json.dumps({"message": "go"}))
        frames = _frames(ws)
        kinds = [f["type"] for f in frames]
        assert kinds[0] == "session" and kinds[-1] == "turn.finished", kinds
        assert kinds.index("tool.started") < kinds.index("tool.finished") < kinds.index("delta")
        deltas = "".join(f["text"] for f in frames if f["type"] == "delta")
        assert deltas == "all went well today" == frames[-1]["reply"]
        step = next(f for f in frames if f["type"] == "tool.finished")["step"]
        assert step["skill"] == "echo" and step["output"] == {"message": "streamed"}
        assert frames[-1]["usage"]["prompt_tokens"] > 0, "usage comes from the stream"
        session_id = frames[0]["session_id"]
        llm.script(say("second"))
        ws.send(json.dumps({"message": "more"}))
        assert _frames(ws)[-1]["session_id"] == session_id
        ws.send("not json")
        assert _frames(ws)[-1]["error"] == "invalid_request"
    turns = _as(stack, token).get(f"/api/v1/sessions/{session_id}").json()["history"]
    assert [t["message"] for t in turns] == ["go", "more"]


def test_vanished_client_does_not_lose_the_turn(
    proxied: tuple[Stack, Gateway], llm: ScriptedLLM
) -> None:
    """A socket closed right after its message: the turn still runs to the end and is stored."""
    stack, _ = proxied
    token = _token(stack, "bob")
    llm.script(call(("echo", '{"message": "left"}')), say("done without you"))
    url = stack.url.replace("http", "ws") + "/ws/chat/new"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        ws.send(json.dumps({"message": "then leave"}))
        session_id = json.loads(ws.recv(timeout=60))["session_id"]
    bob = _as(stack, token)
    for _ in range(300):
        found = bob.get(f"/api/v1/sessions/{session_id}")
        if found.status_code == 200:
            break
        time.sleep(0.1)
    assert found.status_code == 200, found.text
    assert found.json()["history"][0]["reply"] == "done without you"


def test_browser_session_chats_as_its_user(
    proxied: tuple[Stack, Gateway], llm: ScriptedLLM
) -> None:
    """A web login's cookie and CSRF header carry through the proxy: the call is the user's;
    without the CSRF header the skill call is refused by the control plane."""
    stack, _ = proxied
    assert (
        stack.client.put("/api/v1/users/bob/password", json={"password": PASSWORD}).status_code
        == 204
    )
    browser = httpx.Client(base_url=stack.url, timeout=120)
    _CLIENTS.append(browser)
    login = browser.post("/auth/login", json={"name": "bob", "password": PASSWORD})
    assert login.status_code == 200, login.text
    csrf = login.json()["csrf_token"]
    llm.script(call(("echo", '{"message": "cookie"}')), _relay)
    reply = browser.post("/api/v1/chat", json={"message": "hi"}, headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 200, reply.text
    [made] = reply.json()["calls"]
    assert made["status"] == "succeeded", made
    story = stack.client.get(f"/api/v1/calls/{made['call_id']}").json()
    assert {e["actor"] for e in story["events"] if e["actor"]} == {"bob"}
    llm.script(call(("echo", '{"message": "no csrf"}')), _relay)
    bare = browser.post("/api/v1/chat", json={"message": "hi"})
    assert bare.status_code == 200, bare.text
    assert bare.json()["calls"][0]["error"] == "csrf_failed"


def test_slow_reader_never_stalls_the_turn(
    proxied: tuple[Stack, Gateway], llm: ScriptedLLM
) -> None:
    """A reader that reads nothing: the turn is stored all the same; once it reads, every
    text piece is either delivered or counted as dropped, and the final frame is whole."""
    _, gateway = proxied
    words = [f"w{i}" for i in range(3_000)]  # litellm streams ~1 ms a chunk under load
    llm.script(say(" ".join(words)))
    url = gateway.url.replace("http", "ws") + "/ws/chat/new"
    headers = {"Authorization": f"Bearer {gateway.token}"}
    with connect(url, additional_headers=headers, max_queue=4) as ws:
        ws.send(json.dumps({"message": "a long answer please"}))
        deadline = time.monotonic() + 120
        while not gateway.client.get("/api/v1/sessions").json()["sessions"]:  # ann's first
            assert time.monotonic() < deadline, "the turn was never stored"
            time.sleep(0.2)
        frames = _frames(ws)
    last = frames[-1]
    deltas = [f for f in frames if f["type"] == "delta"]
    assert last["reply"] == " ".join(words)
    assert len(deltas) + last["dropped_frames"] == len(words)


def test_gateway_down_is_a_stable_503(proxied: tuple[Stack, Gateway], stack: Stack) -> None:
    """No gateway configured, or the configured one gone: 503 `gateway_unavailable`."""
    unconfigured = stack.client.get("/api/v1/sessions")
    assert unconfigured.status_code == 503, unconfigured.text
    assert unconfigured.json()["error"] == "gateway_unavailable"
    assert "NEXFLOW_WEB_CHAT" in unconfigured.json()["message"]
    main, gateway = proxied
    stop_gateway(gateway)
    down = main.client.post("/api/v1/chat", json={"message": "anyone?"})
    assert down.status_code == 503 and down.json()["error"] == "gateway_unavailable"
    assert "Traceback" not in down.text
