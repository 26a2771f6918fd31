"""An in-process connector implementing the `Connector` contract, for router tests: a
test puts messages and presses in, and reads the replies the router sent."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from nexflow_gateway.connectors.base import Button, Connector, Event, Press, Reply

_ids = itertools.count(1)


class QueueConnector(Connector):
    channel = "telegram"

    def __init__(self) -> None:
        self._inbox: asyncio.Queue[Event | Press | None] = asyncio.Queue()
        self._outbox: asyncio.Queue[Reply] = asyncio.Queue()
        self.sent: list[Reply] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._inbox.put(None)

    async def events(self) -> AsyncIterator[Event | Press]:
        while (item := await self._inbox.get()) is not None:
            yield item

    async def send(self, reply: Reply) -> None:
        self.sent.append(reply)
        await self._outbox.put(reply)

    async def say(self, user_id: str, chat_id: str, message: str) -> Event:
        event = Event(
            id=f"m{next(_ids)}",
            channel="telegram",
            user_id=user_id,
            chat_id=chat_id,
            message=message,
        )
        await self._inbox.put(event)
        return event

    async def press(self, user_id: str, chat_id: str, button: Button, **changed: str) -> None:
        fields = {
            "id": f"p{next(_ids)}",
            "channel": "telegram",
            "user_id": user_id,
            "chat_id": chat_id,
            "approval_id": button.approval_id,
            "decision": button.decision,
            "nonce": button.nonce,
        }
        await self._inbox.put(Press.model_validate(fields | changed))

    async def reply(self) -> Reply:
        """The next reply the router sent (within a minute)."""
        async with asyncio.timeout(60):
            return await self._outbox.get()
