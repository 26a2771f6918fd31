"""What a chat needs from the control plane beyond skill calls: pairing codes for unknown
senders, one-time nonces for approval buttons, relaying a human's press, and a call's
status. Each is one HTTP request (`ControlPlane.request`); refusals arrive as
`ControlPlaneRefused` with the control plane's stable code.

The press is the only way anything in the gateway reaches an approval, and only a
connector's `Press` calls `relay`: the LLM loop has no tool for it and never sees a nonce.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from .connectors.base import Button, Press
from .control_plane import ControlPlane


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PairingCode(_Answer):
    code: str
    expires_at: str


class Decided(_Answer):
    id: str
    call_id: str
    status: str
    decided_by: str | None = None


class CallStatus(_Answer):
    call_id: str
    skill: str | None = None
    status: str
    error: str | None = None
    result: dict[str, Any] | None = None

    @property
    def waiting(self) -> bool:
        """Still waiting for a human or still running."""
        return self.status in ("pending_approval", "approved", "running")


def identity_of(channel: str, user_id: str) -> str:
    return f"{channel}:{user_id}"


async def pairing_code(cp: ControlPlane, identity: str, chat: str) -> PairingCode:
    """A code an admin confirms to link `identity` (the same one while it lives)."""
    body = await cp.request("POST", "/api/v1/pairings", {"identity": identity, "channel": chat})
    return PairingCode.model_validate(body)


async def approval_buttons(cp_as: ControlPlane, approval_id: str) -> tuple[Button, Button]:
    """Approve and deny buttons for `approval_id` in the chat `cp_as` acts from, carrying
    a nonce the control plane minted for that approval and that chat."""
    path = f"/api/v1/approvals/{quote(approval_id, safe='')}/chat-nonce"
    nonce = str((await cp_as.request("POST", path))["nonce"])
    return (
        Button(label="Approve", approval_id=approval_id, decision="approve", nonce=nonce),
        Button(label="Deny", approval_id=approval_id, decision="deny", nonce=nonce),
    )


async def relay(cp: ControlPlane, press: Press) -> Decided:
    """Hand a human's press to the control plane, which checks and decides it."""
    body = {
        "identity": identity_of(press.channel, press.user_id),
        "channel": f"{press.channel}:{press.chat_id}",
        "decision": press.decision,
        "nonce": press.nonce,
    }
    path = f"/api/v1/approvals/{quote(press.approval_id, safe='')}/press"
    return Decided.model_validate(await cp.request("POST", path, body))


async def call_status(cp_as: ControlPlane, call_id: str) -> CallStatus:
    body = await cp_as.request("GET", f"/api/v1/calls/{quote(call_id, safe='')}")
    return CallStatus.model_validate(body)
