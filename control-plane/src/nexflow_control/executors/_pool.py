"""Several executors behind the one `Executor` protocol: dispatch by health and free slots.

Each executor's health, slots and draining flag are read periodically (`refresh`); a
call goes to a healthy, non-draining executor with free slots (its reported busy slots,
or this process's own calls there if more), least loaded first and in turn among equals.
Executors whose last check failed are tried last, not dropped (the check may be stale).
A call that fails before its executor said Started is tried on the next one; once
started it is never sent elsewhere: a broken stream is `ExecutorLost` — unless the
skill is declared idempotent, when it runs again on the next executor (once per
executor; the outcome names the lost ones in `lost_on`).

When every executor that could take a call is full (by its slots, or because it just
answered RESOURCE_EXHAUSTED), the call waits for a slot, in arrival order as far as the
event loop goes, for at most `queue_s` seconds, and at most `queue_max` calls wait at
once; past either it is refused with 503 `executor_unavailable` and nothing ran. A burst
of calls therefore queues instead of failing, and a slow executor cannot hold callers
for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools

import structlog
from opentelemetry.trace import Span

from ..errors import ExecutorUnavailable
from ..tracing import TRACER, failed, step
from ._errors import ExecutorBusy, ExecutorLost
from ._grpc import GrpcExecutor
from ._types import ExecutionSpec, ExecutorState, Outcome

log = structlog.get_logger("nexflow.executors")


class _LostIdempotent(Exception):
    """An idempotent call's executor was lost mid-call: pick another."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class ExecutorPool:
    """Dispatches calls over `members` (see the module docstring)."""

    BUSY_RETRY_S = 0.25
    """How long an executor that answered RESOURCE_EXHAUSTED counts as full."""

    def __init__(
        self,
        members: list[GrpcExecutor],
        *,
        refresh_s: float = 2.0,
        queue_s: float = 30.0,
        queue_max: int = 1000,
    ) -> None:
        self.members = members
        self._refresh_s = refresh_s
        self._queue_s = queue_s
        self._queue_max = queue_max
        self._states: dict[str, ExecutorState] = {}
        self._inflight = {m.name: 0 for m in members}
        self._inflight_at_refresh = dict(self._inflight)
        self._busy_until = {m.name: 0.0 for m in members}
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._freed = asyncio.Event()
        self.waiting = 0
        """Calls waiting for a free slot now."""

    async def refresh(self) -> list[ExecutorState]:
        """Read every executor's state now."""
        before = dict(self._inflight)
        states = await asyncio.gather(*(m.state() for m in self.members))
        for state in states:
            self._states[state.name] = state
            # What the executor counted as busy included our calls of about then.
            self._inflight_at_refresh[state.name] = min(
                before[state.name], self._inflight[state.name]
            )
        self._wake()
        return self._with_inflight(states)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _wake(self) -> None:
        """Let every waiting call look for a slot again."""
        self._freed.set()
        self._freed = asyncio.Event()

    def _with_inflight(self, states: list[ExecutorState]) -> list[ExecutorState]:
        return [dataclasses.replace(s, inflight=self._inflight[s.name]) for s in states]

    async def states(self) -> list[ExecutorState]:
        return await self.refresh()

    def start(self) -> None:
        """Refresh in the background every `refresh_s` seconds (0: never)."""
        if self._refresh_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception as exc:  # a refresh must never end the loop
                log.warning("executors.refresh_failed", error_type=type(exc).__name__)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for member in self.members:
            await member.close()

    def _candidates(
        self, exclude: list[str] | tuple[str, ...] = ()
    ) -> tuple[list[GrpcExecutor], list[str], bool]:
        """Executors to try in order (none named in `exclude`), why the others were left
        out, and whether any was left out only for being full (then a slot may free up)."""
        turn, count = next(self._turn), len(self.members)
        now = self._now()
        ranked: list[tuple[tuple[int, float, int, int], GrpcExecutor]] = []
        skipped: list[str] = []
        full = False
        for index, member in enumerate(self.members):
            state = self._states.get(member.name)
            inflight = self._inflight[member.name]
            order = (index - turn) % count
            if member.name in exclude:
                skipped.append(f"{member.name} lost")
                continue
            if state is not None and state.healthy and state.draining:
                skipped.append(f"{member.name} draining")
                continue
            if now < self._busy_until[member.name]:
                skipped.append(f"{member.name} full")
                full = True
                continue
            if state is None or not state.healthy:
                ranked.append(((1, 0.0, inflight, order), member))
                continue
            load = 0.0
            if state.slots_total:
                # Busy as the executor last said, minus our calls that ended since.
                others = max(state.slots_busy - self._inflight_at_refresh[member.name], 0)
                busy = others + inflight
                if busy >= state.slots_total:
                    skipped.append(f"{member.name} full")
                    full = True
                    continue
                load = busy / state.slots_total
            ranked.append(((0, load, inflight, order), member))
        return [m for _, m in sorted(ranked, key=lambda item: item[0])], skipped, full

    async def execute(self, spec: ExecutionSpec, *, output_cap: int) -> Outcome:
        """Run `spec` on the first executor that takes it, waiting for a slot while every
        one is full (see the module docstring)."""
        with step("dispatch", {"nexflow.call_id": spec.call_id}) as span:
            outcome = await self._dispatch(spec, output_cap)
            span.set_attribute("nexflow.executor", outcome.executor)
            span.set_attribute("nexflow.status", outcome.status)
            return outcome

    async def _dispatch(self, spec: ExecutionSpec, output_cap: int) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        lost: list[str] = []  # executors an idempotent call was lost on
        queued: Span | None = None  # a `queue.wait` span while the call waits for a slot
        try:
            while True:
                candidates, skipped, full = self._candidates(exclude=lost)
                if candidates:
                    if queued is not None:
                        queued.end()
                        queued = None
                    try:
                        outcome = await self._try(candidates, spec, output_cap)
                        if lost:
                            return dataclasses.replace(outcome, lost_on=tuple(lost))
                        return outcome
                    except ExecutorBusy:
                        full = True  # each one that could take it was full after all
                    except _LostIdempotent as gone:
                        lost.append(gone.name)
                        continue
                if not full:
                    if lost:
                        raise ExecutorLost(
                            f"executor(s) {', '.join(lost)} lost mid-call, and no other can "
                            "take it (" + ", ".join(skipped or ["none left"]) + ")"
                        )
                    raise ExecutorUnavailable(
                        "no executor can take the call (" + ", ".join(skipped) + ")"
                    )
                if deadline is None:
                    if self.waiting >= self._queue_max:
                        raise ExecutorUnavailable(
                            f"every executor is busy and {self.waiting} calls already wait "
                            "for a slot"
                        )
                    deadline = loop.time() + self._queue_s
                if queued is None:
                    queued = TRACER.start_span(
                        "queue.wait", attributes={"nexflow.ahead": self.waiting}
                    )
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise ExecutorUnavailable(
                        f"every executor stayed busy for {self._queue_s:g} s ("
                        + ", ".join(skipped or ["all full"])
                        + ")"
                    )
                freed = self._freed
                self.waiting += 1
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(freed.wait(), min(remaining, self.BUSY_RETRY_S))
                finally:
                    self.waiting -= 1
        finally:
            if queued is not None:  # refused while waiting
                failed(queued, ExecutorUnavailable.code)
                queued.end()

    async def _try(
        self, candidates: list[GrpcExecutor], spec: ExecutionSpec, output_cap: int
    ) -> Outcome:
        """The first of `candidates` that runs the call; ExecutorBusy when every one that
        did not fail otherwise was full; `_LostIdempotent` when an idempotent call's
        executor died mid-call (the caller picks again without it)."""
        failure: ExecutorUnavailable | None = None
        busy: ExecutorBusy | None = None
        for member in candidates:
            self._inflight[member.name] += 1
            try:
                return await member.execute(spec, output_cap=output_cap)
            except ExecutorLost as exc:
                self._mark_unhealthy(member)
                if not spec.idempotent:
                    raise
                log.warning("executor.lost_retrying", executor=member.name, call_id=spec.call_id)
                raise _LostIdempotent(member.name) from exc
            except ExecutorBusy as exc:
                busy = exc
                self._busy_until[member.name] = self._now() + self.BUSY_RETRY_S
            except ExecutorUnavailable as exc:
                failure = exc
                self._mark_unhealthy(member)
                log.warning("executor.unavailable", executor=member.name, call_id=spec.call_id)
            finally:
                self._inflight[member.name] -= 1
                self._wake()
        if busy is not None:
            raise busy
        assert failure is not None
        raise failure

    def _mark_unhealthy(self, member: GrpcExecutor) -> None:
        state = self._states.get(member.name)
        self._states[member.name] = (
            dataclasses.replace(state, healthy=False)
            if state is not None
            else ExecutorState(member.name, member.target, healthy=False)
        )

    async def cancel(self, call_id: str) -> bool:
        found = await asyncio.gather(
            *(m.cancel(call_id) for m in self.members), return_exceptions=True
        )
        return any(f is True for f in found)
