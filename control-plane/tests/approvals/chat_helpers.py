"""Helpers for the chat identity tests: a gateway token, linked chat users, run-as calls."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import Api

GATEWAY_SCOPES = ["calls:run_as", "approvals:relay"]
CHAT = "telegram:-100500"


async def chat_users(api: Api) -> None:
    """`gw` (the gateway's token), `alice` (operator, telegram:100), `bob` (operator,
    telegram:200), `ursula` (user, telegram:300), each linked by the admin."""
    await api.user("gw", ["viewer"], GATEWAY_SCOPES)
    for name, roles, subject in (
        ("alice", ["operator"], "100"),
        ("bob", ["operator"], "200"),
        ("ursula", ["user"], "300"),
    ):
        await api.user(name, roles)
        linked = await api.request(
            "admin",
            "POST",
            f"/api/v1/users/{name}/identities",
            json={"provider": "telegram", "subject": subject},
        )
        assert linked.status_code == 201, linked.text


async def as_chat(
    api: Api,
    method: str,
    path: str,
    identity: str,
    channel: str = CHAT,
    token: str = "gw",
    **kw: Any,
) -> httpx.Response:
    """A request of the gateway's token acting for `identity` from `channel`."""
    headers = {
        "Authorization": f"Bearer {api.tokens[token]}",
        "X-Nexflow-On-Behalf-Of": identity,
        "X-Nexflow-Channel": channel,
    }
    return await api.client.request(method, path, headers=headers, **kw)


async def pending_for(api: Api, identity: str) -> dict[str, Any]:
    """A `shell-echo` call of `identity` that waits for approval: the 202 body."""
    reply = await as_chat(
        api, "POST", "/api/v1/skills/shell-echo", identity, json={"input": {"data": 7}}
    )
    assert reply.status_code == 202, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def nonce_for(api: Api, approval_id: str, identity: str, channel: str = CHAT) -> str:
    reply = await as_chat(
        api, "POST", f"/api/v1/approvals/{approval_id}/chat-nonce", identity, channel
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["nonce"])


async def press(
    api: Api,
    approval_id: str,
    identity: str,
    nonce: str,
    decision: str = "approve",
    channel: str = CHAT,
) -> httpx.Response:
    body = {"identity": identity, "channel": channel, "decision": decision, "nonce": nonce}
    return await api.request("gw", "POST", f"/api/v1/approvals/{approval_id}/press", json=body)
