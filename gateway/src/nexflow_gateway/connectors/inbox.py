"""A connector's bounded queue of received items, which `events()` drains until closed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .base import Event, Press

_WAKE = object()


class Inbox:
    """Items in arrival order; `close()` ends iteration after those already queued."""

    def __init__(self, size: int = 1000) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue(size)
        self._closed = False

    async def put(self, item: Event | Press) -> None:
        await self._queue.put(item)

    def full(self) -> bool:
        return self._queue.full()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(asyncio.QueueFull):  # full: the reader is not waiting
            self._queue.put_nowait(_WAKE)

    async def __aiter__(self) -> AsyncIterator[Event | Press]:
        while not (self._closed and self._queue.empty()):
            item = await self._queue.get()
            if isinstance(item, Event | Press):
                yield item
