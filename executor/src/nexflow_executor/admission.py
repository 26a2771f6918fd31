"""Which calls the executor takes: a bounded number at once, and none while draining.

`admit()` is entered before a request is even validated, so a refused call starts
nothing: RESOURCE_EXHAUSTED when every slot (`max_calls`, 0 = no limit) is busy,
UNAVAILABLE "draining" once `drain()` was called. Draining is one-way: the executor
finishes what runs (`wait_idle`) and then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from nexflow_executor.errors import Draining, Exhausted

__all__ = ["Admission"]


class Admission:
    """Call slots and the draining flag; single event loop, so no lock is needed."""

    def __init__(self, max_calls: int) -> None:
        self.total = max_calls
        self.busy = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def check_open(self) -> None:
        """Raise `Draining` if no new work is taken."""
        if self.draining:
            raise Draining()

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one slot for the duration of a call."""
        self.check_open()
        if self.total and self.busy >= self.total:
            raise Exhausted(f"all {self.total} call slots of this executor are busy")
        self.busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.busy -= 1
            if self.busy == 0:
                self._idle.set()

    def drain(self) -> None:
        """Take no new calls from now on."""
        self.draining = True

    async def wait_idle(self) -> None:
        """Wait until no call runs (bound it with `asyncio.timeout`)."""
        await self._idle.wait()
