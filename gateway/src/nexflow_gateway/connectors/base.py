"""The one interface every chat channel implements, and what flows through it.

A connector turns a channel's updates into `Event`s (a message) and `Press`es (a human's
tap on an approval button) from `events()`, and delivers `Reply`s (`send`). A chat
message is hostile input: every field is bounded, so an oversized or malformed update
fails validation at the connector's edge (a counted drop or a clear reply), never deeper
in the gateway.

A `Press` is the only way a chat approves or denies: it comes from the channel's own
button callback (Telegram `callback_query`, a Discord component interaction, the web
page's button), carries the approval it is bound to and a one-time nonce, and is never
built from model or skill output.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ..errors import GatewayError
from .text import shown

MAX_MESSAGE_CHARS = 16_000
MAX_METADATA_ITEMS = 32
MAX_BUTTONS = 8

Channel = Literal["web", "telegram", "discord"]
Decision = Literal["approve", "deny"]
_Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.\-:]+$")]
_Value = Annotated[str, StringConstraints(max_length=1024)]
_Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.\-:@]+$")]
_Nonce = Annotated[str, StringConstraints(min_length=16, max_length=64, pattern=r"^[\w\-]+$")]


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One message from a channel: who said what, where and when (the PRD's event).

    `user_id` is the sender on that channel (`123` for Telegram user 123); `chat_id` is
    where the reply goes (the private chat, the group, the Discord channel; the sender's
    own id when the channel has no other notion). `metadata` carries what a channel adds
    (`addressed`, `chat_type`, `reply_to`...), always as bounded strings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: _Id
    channel: Channel
    user_id: _Id
    chat_id: _Id
    message: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    metadata: dict[_Key, _Value] = Field(default_factory=dict, max_length=MAX_METADATA_ITEMS)
    timestamp: datetime = Field(default_factory=_now)


class Press(BaseModel):
    """A human pressed an approval button: bound to one approval and one nonce."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: _Id
    channel: Channel
    user_id: _Id
    chat_id: _Id
    approval_id: _Id
    decision: Decision
    nonce: _Nonce
    timestamp: datetime = Field(default_factory=_now)


class Button(BaseModel):
    """An approval button under a reply; pressing it yields a `Press` with these fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    approval_id: _Id
    decision: Decision
    nonce: _Nonce


class Reply(BaseModel):
    """What the gateway sends to a chat: plain text (the connector escapes and splits it
    as its channel needs) and optional approval buttons. The text is cleaned of terminal
    escapes and invisible controls here (`text.shown`), whoever wrote it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chat_id: _Id
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS * 4)]
    buttons: tuple[Button, ...] = Field(default=(), max_length=MAX_BUTTONS)
    reply_to: _Id | None = None

    @field_validator("text", mode="before")
    @classmethod
    def _shown(cls, value: object) -> object:
        return shown(value) if isinstance(value, str) else value


class Connector(abc.ABC):
    """A chat channel: started once, yields events until stopped, sends replies."""

    channel: Channel

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect to the channel (log in, open the socket or register the webhook)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect; `events()` ends after the events already received."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[Event | Press]:
        """The channel's messages and button presses, in the order they arrived."""

    @abc.abstractmethod
    async def send(self, reply: Reply) -> None:
        """Deliver `reply` (split, escaped and with buttons as the channel needs)."""

    async def retire(self, approval_id: str) -> None:
        """The approval is decided: take its buttons off the messages that carried them
        (best effort; a channel without editable messages does nothing)."""
        del approval_id


class ConnectorError(GatewayError):
    """A channel refused a call or could not be reached (the message names the channel
    and the reason, never a token)."""

    code = "connector_failed"
    status = 502
