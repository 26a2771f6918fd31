"""`ChainStatus`: the chain's verification status as the API and the web UI show it.

A full walk of a large log takes seconds (about 45 s per million events here), so it
must not run once per page view: one walk at a time is shared by everyone asking while
it runs, and its report is reused for `max_age_s`. `fresh=True` asks for a new walk
(still one at a time). `nexflow audit verify` walks directly and is not cached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from .verify import VerifyReport


class ChainStatus:
    def __init__(self, *, max_age_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self._max_age, self._clock = max_age_s, clock
        self._last: tuple[VerifyReport, float, datetime] | None = None
        self._running: asyncio.Task[VerifyReport] | None = None

    async def report(
        self, walk: Callable[[], Awaitable[VerifyReport]], *, fresh: bool = False
    ) -> tuple[VerifyReport, datetime]:
        """(the report, when its walk finished)."""
        last = self._last
        if not fresh and last is not None and self._clock() - last[1] < self._max_age:
            return last[0], last[2]
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(walk())
        # shield: one asker going away must not cancel the walk the others wait for.
        report = await asyncio.shield(self._running)
        if self._last is None or self._last[0] is not report:
            self._last = (report, self._clock(), datetime.now(UTC))
        return self._last[0], self._last[2]
