"""Per-chat lanes: the items of one lane (a chat) are handled one at a time in arrival
order; different lanes run concurrently, at most `max_concurrent` items at once.

`submit` never waits, so a connector's pump is never held up by a slow turn: it queues the
item in its lane (starting the lane's worker) or, when the lane already holds
`max_waiting` items or there are `max_lanes` lanes, refuses it (False) for the caller to
answer. A lane and its worker go away once the lane is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable


class Lanes[T]:
    def __init__(
        self,
        work: Callable[[T], Awaitable[None]],
        *,
        max_concurrent: int = 64,
        max_waiting: int = 32,
        max_lanes: int = 10_000,
    ) -> None:
        self._work = work
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_waiting, self._max_lanes = max_waiting, max_lanes
        self._lanes: dict[str, deque[T]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    def submit(self, key: str, item: T) -> bool:
        """Queue `item` in lane `key`; False (nothing queued) when that lane is full."""
        lane = self._lanes.get(key)
        if lane is None:
            if len(self._lanes) >= self._max_lanes:
                return False
            lane = self._lanes[key] = deque([item])
            self._workers[key] = asyncio.create_task(self._run(key, lane), name=f"lane-{key}")
            return True
        if len(lane) >= self._max_waiting:
            return False
        lane.append(item)
        return True

    async def _run(self, key: str, lane: deque[T]) -> None:
        try:
            while lane:
                async with self._slots:
                    await self._work(lane[0])  # `work` handles its own failures
                lane.popleft()
        finally:  # no await between the empty check and this: nothing is lost
            del self._lanes[key]
            del self._workers[key]

    async def drain(self) -> None:
        """Wait until every lane is empty."""
        while self._workers:
            await asyncio.wait(list(self._workers.values()))

    async def aclose(self) -> None:
        """Cancel the lanes' work (what is queued is dropped)."""
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
