"""The typed edge of the chat routes: pairing codes, chat nonces and relayed presses."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .schemas import Answer

IdentityText = Annotated[
    str, StringConstraints(min_length=3, max_length=300, pattern=r"^[a-z][a-z0-9_-]*:[!-~]+$")
]
ChannelText = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[a-z][\w.\-:@]*$")
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairingRequest(_Body):
    """An unknown chat sender (`telegram:123`) and the chat it wrote from."""

    identity: IdentityText
    channel: ChannelText


class PairingCode(Answer):
    code: str
    identity: str
    expires_at: str


class PairingOut(Answer):
    code: str
    identity: str
    channel: str
    status: str
    created_at: str
    expires_at: str
    decided_at: str | None
    decided_by: str | None
    user: str | None


class PairingList(Answer):
    pairings: list[PairingOut]


class PairingConfirm(_Body):
    user: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ChatNonceOut(Answer):
    approval_id: str
    channel: str
    nonce: str
    expires_at: str


class PressRequest(_Body):
    """A human's tap as the gateway's connector saw it."""

    identity: IdentityText
    channel: ChannelText
    decision: Literal["approve", "deny"]
    nonce: Annotated[str, StringConstraints(min_length=16, max_length=64, pattern=r"^[\w\-]+$")]


class PressOut(Answer):
    id: str
    call_id: str
    status: str
    decided_by: str | None = Field(None, description="the user the pressing identity is linked to")
