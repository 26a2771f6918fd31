"""Pre-started nsjail jails per profile, kept ready as far as demand asks and caps allow.

A profile (jail.py) becomes known when a call first uses it. From then on the pool keeps
ready as many jails as that profile's calls were running at once at the busiest moment of
the last `window_s`, plus those expected to arrive while one jail is being set up (rate times
set-up time), at most `max_per_profile`; in all at most `max_ready` jails and
`memory_bytes` of their resident size (measured from each jail's cgroup when taken). A
profile with no call for `window_s` gets nothing; a jail left waiting `idle_s` is ended.

`take()` hands a ready jail out and forgets it: the caller runs one call in it and ends
it, so a jail never serves a second call. A background task refills, with at most
`max_starting` jails being set up at once (nsjail's set-up is CPU work: more at once
would only slow the calls running beside them). A jail that only adds to a reserve of
ready ones (as many ready as the profile has calls running, at least one) is set up in
the background (the lowest CPU weight, cgroups.py): it takes only CPU the running calls
leave idle, and its call gets the normal weight back. One the next calls may need is
set up at the normal weight: under full load a background set-up would starve, and the
calls would set their jails up on their own paths instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nexflow_executor.sandbox.demand import Demand, set_up_one, wait_for_start
from nexflow_executor.sandbox.jail import Jail, JailProfile
from nexflow_executor.settings import PrestartSettings

__all__ = ["JailPool", "PoolStats"]

_TICK_S = 1.0
_FIRST_GUESS_BYTES = 16 * 1024 * 1024  # per jail, until one has been measured


@dataclass(frozen=True, slots=True)
class PoolStats:
    """What the pool holds now, and what one ready jail costs."""

    ready: int
    starting: int
    profiles: int
    jail_memory_bytes: int  # resident size of one waiting jail (moving average)
    setup_ms: float  # set-up time of one jail (moving average)


@dataclass(slots=True)
class _Entry(Demand[Jail]):
    """One profile's ready jails and recent calls (demand.py)."""


class JailPool:
    """Ready jails per profile, refilled in the background; see the module docstring."""

    def __init__(
        self, spawn: Callable[[JailProfile, bool], Awaitable[Jail]], settings: PrestartSettings
    ) -> None:
        """`spawn(profile, background)` sets one jail up and waits until it is ready."""
        self._spawn = spawn
        self._settings = settings
        self._entries: OrderedDict[JailProfile, _Entry] = OrderedDict()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_starting)
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._jail_bytes = 0.0
        self._setup_s = 0.05

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    def stats(self) -> PoolStats:
        entries = self._entries.values()
        return PoolStats(
            ready=sum(len(e.ready) for e in entries),
            starting=sum(e.starting for e in entries),
            profiles=len(self._entries),
            jail_memory_bytes=int(self._jail_bytes),
            setup_ms=self._setup_s * 1000,
        )

    def waiting(self) -> list[Jail]:
        """The ready jails now (to measure them; they stay the pool's)."""
        return [jail for entry in self._entries.values() for jail in entry.ready]

    def take(self, profile: JailProfile) -> Jail | None:
        """A ready jail of `profile`, now the caller's alone (who ends it), or None.
        Counts the call as running until `done(profile)`."""
        if not self.enabled:
            return None
        now = time.monotonic()
        entry = self._entries.get(profile)
        if entry is None:
            entry = self._entries[profile] = _Entry()
        self._entries.move_to_end(profile, last=False)  # most recent first when refilling
        entry.arrive(now)
        jail = None
        while entry.ready and jail is None:
            candidate = entry.ready.popleft()
            if candidate.alive:
                jail = candidate
            else:
                self._end(candidate)
        if jail is not None:
            measured = jail.cgroup.current_memory()
            old = self._jail_bytes
            self._jail_bytes = measured if not old else 0.8 * old + 0.2 * measured
        self._wake.set()
        return jail

    async def acquire(self, profile: JailProfile) -> Jail | None:
        """`take()`, or, when none is ready but the refill is setting one up that no other
        call waits for, that one as soon as it is up (at most about two set-up times): a
        burst of calls shares the set-ups under way instead of adding its own beside them
        on the same cores. None: set one up yourself. Counts the call as `take()` does."""
        jail = self.take(profile)
        entry = self._entries.get(profile)
        if jail is not None or entry is None:
            return jail
        return await wait_for_start(entry, 2 * self._setup_s, self._end)

    def done(self, profile: JailProfile) -> None:
        """The call counted by `take(profile)` has ended."""
        entry = self._entries.get(profile)
        if entry is not None:
            entry.leave()

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop refilling and end every ready jail."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._tasks:  # set-ups finish (a jail cut off mid-way could be left behind)
            await asyncio.wait(set(self._tasks), timeout=30)
        jails = [j for e in self._entries.values() for j in e.ready]
        self._entries.clear()
        await asyncio.gather(*(j.destroy() for j in jails), return_exceptions=True)

    def _target(self, entry: _Entry, now: float) -> int:
        wanted = entry.demand(now, self._settings.window_s, self._setup_s)
        return min(self._settings.max_per_profile, wanted)

    def _room(self) -> bool:
        """Whether one more jail fits the count and memory caps."""
        held = sum(len(e.ready) + e.starting for e in self._entries.values())
        per_jail = self._jail_bytes or _FIRST_GUESS_BYTES
        return held < self._settings.max_ready and (held + 1) * per_jail <= (
            self._settings.memory_bytes
        )

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _TICK_S)
            self._wake.clear()
            now = time.monotonic()
            self._expire(now)
            for profile, entry in list(self._entries.items()):
                target = self._target(entry, now)
                while len(entry.ready) + entry.starting < target and self._room():
                    entry.starting += 1
                    self._background(self._start_one(profile, entry))

    def _background(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_one(self, profile: JailProfile, entry: _Entry) -> None:
        await set_up_one(
            entry,
            lambda: self._spawn_timed(profile, entry),
            lambda: self._entries.get(profile) is entry,
            self._end,
            "executor.prestart",
        )

    async def _spawn_timed(self, profile: JailProfile, entry: _Entry) -> Jail | None:
        async with self._slots:
            if self._entries.get(profile) is not entry:
                return None
            # In the background only while the ready ones already cover every call
            # of the profile running now (and none waits): under load that is never,
            # and the set-ups keep pace at the normal weight.
            background = len(entry.ready) >= max(1, entry.running) and not entry.waiters()
            begin = time.monotonic()
            jail = await self._spawn(profile, background)
            self._setup_s = 0.8 * self._setup_s + 0.2 * (time.monotonic() - begin)
            return jail

    def _expire(self, now: float) -> None:
        for profile, entry in list(self._entries.items()):
            while entry.ready and now - entry.ready[0].created > self._settings.idle_s:
                self._end(entry.ready.popleft())
            entry.forget_before(now - self._settings.window_s)
            if not entry.arrivals and not entry.ready and not entry.starting and not entry.running:
                del self._entries[profile]

    def _end(self, jail: Jail) -> None:
        self._background(jail.destroy())
