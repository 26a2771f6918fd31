"""Hot reload: poll the policy directory's revision and reload the engine when it changes.

Polling (every ``policy.reload_interval_s``, 1 s by default) hashes the policy files
(``policy_revision``: a few kilobytes read, nothing parsed) and compares the hash with
the last one seen, so it needs no file-watching library, works on every file system and
notices any edit, create, delete or rename. A change is reloaded only once the files
have stood still for a moment (an editor writing a file is not caught half-way), and
each revision is tried once: a broken policy is reported once, not every second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from ._engine import PolicyEngine, ReloadResult
from ._errors import PolicyLoadError
from ._source import Overlay, policy_revision

log = structlog.get_logger("nexflow.policy")

OnReload = Callable[[ReloadResult, str | None], Awaitable[None]]
"""Called after every reload attempt with its result and the revision of the files that
were tried (None when the directory could not be read)."""

_UNREADABLE = "unreadable: "
SETTLE_S = 0.2
"""How long the files must be unchanged before a reload, in seconds."""


class PolicyWatcher:
    """Reloads ``engine`` when the files under ``directory`` change; ``start``/``stop`` it."""

    def __init__(
        self,
        engine: PolicyEngine,
        directory: Path,
        interval_s: float,
        on_reload: OnReload,
        overlay: Overlay | None = None,
    ) -> None:
        """Watch ``directory`` every ``interval_s`` seconds; report through ``on_reload``.
        ``overlay`` is the one the engine was built with (it is part of the revision)."""
        self._engine = engine
        self._overlay = overlay
        self._dir = directory
        self._interval_s = interval_s
        self._on_reload = on_reload
        self._seen = engine.revision
        self._task: asyncio.Task[None] | None = None

    async def _revision(self) -> str:
        try:
            return await asyncio.to_thread(policy_revision, self._dir, self._overlay)
        except PolicyLoadError as exc:
            return f"{_UNREADABLE}{exc}"  # reload() reports why; changes when the cause does

    async def check(self) -> ReloadResult | None:
        """Look once; reload if the files changed. Returns what a reload did, else None."""
        seen = await self._revision()
        if seen == self._seen:
            return None
        await asyncio.sleep(min(SETTLE_S, self._interval_s))
        if await self._revision() != seen:
            return None  # still being written: look again next time
        self._seen = seen
        if seen == self._engine.revision:
            return None  # back to the active policy (after a failed attempt)
        result = await self._engine.reload()
        await self._on_reload(result, None if seen.startswith(_UNREADABLE) else seen)
        return result

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.check()
            except Exception as exc:  # the watcher must outlive any one bad reload
                log.error("policy.watch_failed", error=f"{type(exc).__name__}: {exc}")

    def start(self) -> None:
        """Start polling in the background (nothing when the interval is 0)."""
        if self._interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="policy-watcher")

    async def stop(self) -> None:
        """Stop polling and wait for a reload in progress to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
