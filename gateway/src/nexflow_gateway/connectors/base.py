"""The one interface every chat channel implements, and the event it produces.

A connector turns a channel's updates into `Event`s (`events()`), and sends replies back
(`send`). A chat message is hostile input: every field is bounded, so an oversized or
malformed update fails validation at the connector's edge (a counted drop or a clear
reply), never deeper in the gateway.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_MESSAGE_CHARS = 16_000
MAX_METADATA_ITEMS = 32

Channel = Literal["web", "telegram", "discord"]
_Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.\-:]+$")]
_Value = Annotated[str, StringConstraints(max_length=1024)]
_Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.\-:@]+$")]


class Event(BaseModel):
    """One message from a channel: who said what, where and when (the PRD's event)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: _Id
    channel: Channel
    user_id: _Id
    message: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    metadata: dict[_Key, _Value] = Field(default_factory=dict, max_length=MAX_METADATA_ITEMS)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))


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
    def events(self) -> AsyncIterator[Event]:
        """The channel's messages, in the order they arrived."""

    @abc.abstractmethod
    async def send(self, user_id: str, message: str) -> None:
        """Send `message` to `user_id` (split or escaped as the channel needs)."""
