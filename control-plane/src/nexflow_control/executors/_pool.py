"""Several executors behind the one `Executor` protocol: dispatch by health and free slots.

Each executor's health, slots and draining flag are read periodically (`refresh`); a
call goes to a healthy, non-draining executor with free slots (its reported busy slots,
or this process's own calls there if more), least loaded first and in turn among equals.
Executors whose last check failed are tried last, not dropped (the check may be stale).
A call that fails before its executor said Started is tried on the next one; once
started it is never sent elsewhere: a broken stream is `ExecutorLost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools

import structlog

from ..errors import ExecutorUnavailable
from ._grpc import GrpcExecutor
from ._types import ExecutionSpec, ExecutorState, Outcome

log = structlog.get_logger("nexflow.executors")


class ExecutorPool:
    """Dispatches calls over `members` (see the module docstring)."""

    def __init__(self, members: list[GrpcExecutor], *, refresh_s: float = 2.0) -> None:
        self.members = members
        self._refresh_s = refresh_s
        self._states: dict[str, ExecutorState] = {}
        self._inflight = {m.name: 0 for m in members}
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> list[ExecutorState]:
        """Read every executor's state now."""
        states = await asyncio.gather(*(m.state() for m in self.members))
        for state in states:
            self._states[state.name] = state
        return self._with_inflight(states)

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

    def _candidates(self) -> tuple[list[GrpcExecutor], list[str]]:
        """Executors to try in order, and why the others were left out."""
        turn, count = next(self._turn), len(self.members)
        ranked: list[tuple[tuple[int, float, int, int], GrpcExecutor]] = []
        skipped: list[str] = []
        for index, member in enumerate(self.members):
            state = self._states.get(member.name)
            inflight = self._inflight[member.name]
            order = (index - turn) % count
            if state is None or not state.healthy:
                ranked.append(((1, 0.0, inflight, order), member))
                continue
            if state.draining:
                skipped.append(f"{member.name} draining")
                continue
            load = 0.0
            if state.slots_total:
                busy = max(state.slots_busy, inflight)
                if busy >= state.slots_total:
                    skipped.append(f"{member.name} full")
                    continue
                load = busy / state.slots_total
            ranked.append(((0, load, inflight, order), member))
        return [m for _, m in sorted(ranked, key=lambda item: item[0])], skipped

    async def execute(self, spec: ExecutionSpec, *, output_cap: int) -> Outcome:
        candidates, skipped = self._candidates()
        if not candidates:
            raise ExecutorUnavailable(
                "no executor can take the call (" + ", ".join(skipped) + ")",
                code="executor_unavailable",
            )
        failure: ExecutorUnavailable | None = None
        for member in candidates:
            self._inflight[member.name] += 1
            try:
                return await member.execute(spec, output_cap=output_cap)
            except ExecutorUnavailable as exc:
                failure = exc
                self._mark_unhealthy(member)
                log.warning("executor.unavailable", executor=member.name, call_id=spec.call_id)
            finally:
                self._inflight[member.name] -= 1
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
