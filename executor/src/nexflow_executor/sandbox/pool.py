"""The warm pool: containers started before their call, each used for exactly one call.

A profile (container.py) becomes known when a call first uses it; from then on the
pool keeps `size` started containers of it ready, and more while demand asks: as many
as its calls were running at once at the busiest moment of the last `window_s`, plus
those expected to arrive while one container starts (rate times start time), at most
`max_size` per profile and `max_ready` in all. So concurrent callers find ready
containers instead of each paying a cold start. `take()` hands one out and forgets it —
the caller runs one call in it and discards it — so a container never serves a second
call; `done()` says the call ended. A background task refills (at most `max_starting`
container starts at once, so a burst cannot start a storm of containers; starts beyond
`size` wait briefly for no call to be running, those that make up a shortfall do not),
drops profiles unused for `idle_s` together with their containers, and keeps at most
`max_profiles` (least recently used go first). Starting a container re-checks its grants
(a granted directory swapped for a symlink since the first call is refused and its
profile dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from nexflow_executor.sandbox.container import ContainerFactory, Profile, SandboxContainer
from nexflow_executor.sandbox.demand import MAX_FAILURES, Demand, set_up_one, wait_for_start
from nexflow_executor.settings import PoolSettings

__all__ = ["WarmPool"]

_TICK_S = 1.0
_CLOSE_WAIT_S = 30.0


@dataclass(slots=True)
class _Entry(Demand[SandboxContainer]):
    """One profile's ready containers and recent calls (demand.py)."""

    profile: Profile = field(kw_only=True)
    last_used: float = field(default_factory=time.monotonic)


class WarmPool:
    """Ready containers per profile, refilled in the background."""

    def __init__(self, factory: ContainerFactory, settings: PoolSettings) -> None:
        self._factory = factory
        self._settings = settings
        self._entries: OrderedDict[Profile, _Entry] = OrderedDict()  # equal profiles share one
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_starting)
        self._task: asyncio.Task[None] | None = None
        self._starts: set[asyncio.Task[None]] = set()
        self._start_s = 0.3  # moving average of one container start

    @property
    def enabled(self) -> bool:
        return self._settings.size > 0

    def stats(self) -> tuple[int, int]:
        """(containers ready, profiles kept warm)."""
        return sum(len(e.ready) for e in self._entries.values()), len(self._entries)

    def waiting(self) -> list[SandboxContainer]:
        """The ready containers now (to measure them; they stay the pool's)."""
        return [container for entry in self._entries.values() for container in entry.ready]

    def take(self, profile: Profile) -> SandboxContainer | None:
        """A ready container of `profile`, now the caller's alone; None if none is ready."""
        if not self.enabled:
            return None
        entry = self._entries.get(profile)
        if entry is None:
            entry = self._entries[profile] = _Entry(profile=profile)
            self._evict_beyond_max()
        self._entries.move_to_end(profile)
        now = entry.last_used = time.monotonic()
        entry.arrive(now)
        container = entry.ready.popleft() if entry.ready else None
        self._wake.set()
        return container

    async def acquire(self, profile: Profile) -> SandboxContainer | None:
        """`take()`, or, when none is ready but the refill is starting one that no other
        call waits for, that one as soon as it is up (at most about two start times):
        a burst of calls then shares the starts already under way instead of each
        starting its own cold container beside them. None: start one yourself."""
        container = self.take(profile)
        entry = self._entries.get(profile)
        if container is not None or entry is None:
            return container
        return await wait_for_start(entry, 2 * self._start_s, self._factory.discard)

    def done(self, profile: Profile) -> None:
        """The call counted by `take(profile)` has ended."""
        entry = self._entries.get(profile)
        if entry is not None:
            entry.leave()

    def _target(self, entry: _Entry, now: float) -> int:
        if entry.failures >= MAX_FAILURES:
            return 0  # this profile keeps failing; wait for its next call
        settings = self._settings
        wanted = entry.demand(now, settings.window_s, self._start_s)
        return max(settings.size, min(settings.max_size, wanted))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop refilling and remove every ready container. Starts under way are let
        finish (bounded) and what they make is discarded, since no profile wants it any
        more: cancelling one while the engine creates its container (in a worker thread,
        which a cancel does not stop) would leave that container behind."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        entries = list(self._entries.values())
        self._entries.clear()
        if self._starts:
            await asyncio.wait(set(self._starts), timeout=_CLOSE_WAIT_S)
        for task in list(self._starts):
            task.cancel()  # stuck beyond the wait: the engine does not answer
        if self._starts:
            await asyncio.wait(set(self._starts), timeout=_CLOSE_WAIT_S)
        for entry in entries:
            while entry.ready:
                self._factory.discard(entry.ready.popleft())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _TICK_S)
            self._wake.clear()
            self._expire()
            now = time.monotonic()
            for entry in reversed(self._entries.values()):  # most recently used first
                target = self._target(entry, now)
                while entry.starting + len(entry.ready) < target and self._room():
                    entry.starting += 1
                    task = asyncio.get_running_loop().create_task(self._start_one(entry))
                    self._starts.add(task)
                    task.add_done_callback(self._starts.discard)

    async def _start_one(self, entry: _Entry) -> None:
        await set_up_one(
            entry,
            lambda: self._start_timed(entry),
            lambda: self._entries.get(entry.profile) is entry,
            self._factory.discard,
            "executor.pool",
        )

    async def _start_timed(self, entry: _Entry) -> SandboxContainer | None:
        async with self._slots:
            if len(entry.ready) >= self._settings.size:  # no shortfall: let calls run first
                await self._factory.when_quiet()
            if entry.profile not in self._entries:
                return None
            begin = time.monotonic()
            container = await self._factory.start(entry.profile)
            self._start_s = 0.8 * self._start_s + 0.2 * (time.monotonic() - begin)
            return container

    def _room(self) -> bool:
        held = sum(len(e.ready) + e.starting for e in self._entries.values())
        return held < self._settings.max_ready

    def _expire(self) -> None:
        now = time.monotonic()
        for profile, entry in list(self._entries.items()):
            if now - entry.last_used > self._settings.idle_s:
                self._drop(profile)

    def _evict_beyond_max(self) -> None:
        while len(self._entries) > self._settings.max_profiles:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, profile: Profile) -> None:
        entry = self._entries.pop(profile)
        while entry.ready:
            self._factory.discard(entry.ready.popleft())
