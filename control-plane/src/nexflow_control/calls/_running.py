"""Calls in flight on this control plane, and the runs no request waits for.

`RunningCalls` knows each call from just after its `call.dispatched` commit until its
ending is recorded (an `InFlight`): who started it, the task that waits for its executor,
and whether someone asked to cancel it. A cancel and the call's ending take turns on the
entry's lock, so `call.cancel_requested` is either recorded before `call.finished` or
refused because the call already ended (`InFlight.ended`).

`spawn` runs a `wait: false` call's execution in a task the registry owns: its failures
are logged (and recorded by the call's own path), never lost, and `close` lets such
calls finish for a grace period at shutdown, then cancels them (the executor kills a
sandbox whose client went away).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from ..executors import KillReason, Outcome, Usage

log = structlog.get_logger("nexflow.calls")


@dataclass(eq=False)
class InFlight:
    """One call between its dispatch and its recorded ending."""

    call_id: str
    skill: str
    owner: str
    """The principal id of the caller who started it."""
    cancelled_by: str | None = None
    """Who asked to cancel it, once someone did."""
    ended: bool = False
    """True once its executor answered (or failed): a cancel comes too late."""
    status: str = "running"
    """How it ended, once `done` is set: succeeded | failed | killed | error."""
    kill_reason: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[Outcome] | None = None

    async def execute(self, run: Callable[[], Awaitable[Outcome]], backend: str) -> Outcome:
        """`run()`'s outcome; a killed/cancelled one when a cancel stopped it before its
        executor had it (the executor's own Cancel gives the real outcome otherwise)."""
        try:
            if self.cancelled_by is None:
                self._task = asyncio.ensure_future(run())
                try:
                    return await self._task
                except asyncio.CancelledError:
                    if self.cancelled_by is None or _being_cancelled():
                        raise
            return _cancelled_before_start(backend)
        finally:
            async with self.lock:
                self.ended = True

    def stop(self) -> None:
        """Stop waiting for the executor (a call it has not started, or not yet)."""
        if self._task is not None:
            self._task.cancel()

    def finish(self, status: str, kill_reason: str | None) -> None:
        self.status, self.kill_reason = status, kill_reason
        self.done.set()


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _cancelled_before_start(backend: str) -> Outcome:
    return Outcome(
        exit_code=-1,
        kill_reason=KillReason.CANCELLED,
        detail="cancelled before an executor started it",
        truncated=False,
        usage=Usage(),
        stdout=b"",
        stderr=b"",
        egress=(),
        egress_dropped=0,
        backend=backend,
        image_id="",
        warm=False,
        executor="",
    )


class RunningCalls:
    """See the module docstring."""

    def __init__(self) -> None:
        self._calls: dict[str, InFlight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, call_id: str) -> InFlight | None:
        return self._calls.get(call_id)

    def enter(self, call_id: str, skill: str, owner: str) -> InFlight:
        entry = self._calls[call_id] = InFlight(call_id, skill, owner)
        return entry

    def leave(self, entry: InFlight) -> None:
        if self._calls.get(entry.call_id) is entry:
            del self._calls[entry.call_id]
        if not entry.done.is_set():
            entry.finish("error", None)

    def spawn(self, entry: InFlight, run: Coroutine[Any, Any, None]) -> None:
        """Run `run` (the call's execution and its recording) without anyone waiting;
        whatever escapes it is logged when the task ends, never lost."""
        task = asyncio.create_task(run, name=f"call-{entry.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("call.background_crashed", task=task.get_name(), exc_info=exc)

    async def close(self, grace_s: float = 10.0) -> None:
        """Let spawned calls finish for `grace_s` seconds, then cancel the rest."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        for task in pending:  # what escapes a task is logged by `_ended`
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
