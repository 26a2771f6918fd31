"""The warm pool: containers started before their call, each used for exactly one call.

A profile (container.py) becomes known when a call first uses it; from then on the
pool keeps up to `size` started containers of it ready. `take()` hands one out and
forgets it — the caller runs one call in it and discards it — so a container never
serves a second call. A background task refills (at most `max_starting` container
starts at once, so a burst cannot start a storm of containers), drops profiles unused
for `idle_s` together with their containers, and keeps at most `max_profiles`
(least recently used go first). Starting a container re-checks its grants (a granted
directory swapped for a symlink since the first call is refused and its profile dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import structlog

from nexflow_executor.errors import ExecutorError
from nexflow_executor.sandbox.container import ContainerFactory, Profile, SandboxContainer
from nexflow_executor.settings import PoolSettings

__all__ = ["WarmPool"]

log = structlog.get_logger("nexflow_executor")
_TICK_S = 1.0


@dataclass(slots=True)
class _Entry:
    profile: Profile
    ready: deque[SandboxContainer] = field(default_factory=deque)
    starting: int = 0
    last_used: float = field(default_factory=time.monotonic)
    failures: int = 0


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

    @property
    def enabled(self) -> bool:
        return self._settings.size > 0

    def stats(self) -> tuple[int, int]:
        """(containers ready, profiles kept warm)."""
        return sum(len(e.ready) for e in self._entries.values()), len(self._entries)

    def take(self, profile: Profile) -> SandboxContainer | None:
        """A ready container of `profile`, now the caller's alone; None if none is ready."""
        if not self.enabled:
            return None
        entry = self._entries.get(profile)
        if entry is None:
            entry = self._entries[profile] = _Entry(profile)
            self._evict_beyond_max()
        self._entries.move_to_end(profile)
        entry.last_used = time.monotonic()
        entry.failures = 0
        container = entry.ready.popleft() if entry.ready else None
        self._wake.set()
        return container

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop refilling and remove every ready container."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._starts):
            task.cancel()
        if self._starts:
            await asyncio.wait(set(self._starts), timeout=30)
        for entry in self._entries.values():
            while entry.ready:
                self._factory.discard(entry.ready.popleft())
        self._entries.clear()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _TICK_S)
            self._wake.clear()
            self._expire()
            for entry in list(self._entries.values()):
                while entry.starting + len(entry.ready) < self._settings.size:
                    if entry.failures >= 3:
                        break  # this profile keeps failing; wait for its next call
                    entry.starting += 1
                    task = asyncio.get_running_loop().create_task(self._start_one(entry))
                    self._starts.add(task)
                    task.add_done_callback(self._starts.discard)

    async def _start_one(self, entry: _Entry) -> None:
        try:
            async with self._slots:
                await self._factory.when_quiet()
                if entry.profile not in self._entries:
                    return
                container = await self._factory.start(entry.profile)
        except ExecutorError as exc:
            entry.failures += 1
            log.warning("executor.pool", outcome="start_failed", error=exc.message)
            return
        except Exception:
            entry.failures += 1
            log.exception("executor.pool", outcome="start_failed")
            return
        finally:
            entry.starting -= 1
        if self._entries.get(entry.profile) is entry:
            entry.ready.append(container)
        else:  # the profile was dropped while this container started
            self._factory.discard(container)

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
