"""`Scheduler`: the loop that turns due times into calls, on every control plane at once.

Every `tick_s` it reads the active schedules whose `next_run` has come and, for each,
claims that due time (`ScheduleStore.claim`: one atomic UPDATE, so of several control
planes on one database exactly one runs it). The winner runs the call through
`CallService.run(..., wait=False)` as the schedule's owner with the roles their account
has now (a disabled or deleted owner's schedule records `owner_disabled` and runs
nothing): the same policy, approval and audit path as an HTTP call, channel `schedule`.

Missed runs (the rule): a due time that is at most `grace_s` late when a control plane
sees it, after a restart or a stall, runs once, late; the cron times that passed after
it are not made up (counted as `skipped` in `schedule.fired`). A due time more than
`grace_s` late does not run: `schedule.missed` records it and the schedule continues
from its next time after now (a one-shot ends `done`). Either way each due time is
claimed once, recorded in `schedule_runs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from ..audit import AuditEvent
from ..errors import NexflowError
from ._service import input_of, linked_destination
from ._store import Claim, ScheduleStore
from .records import Schedule

if TYPE_CHECKING:
    from ..accounts import AccountStore
    from ..calls import CallService

log = structlog.get_logger("nexflow.schedules")


def _now() -> datetime:
    return datetime.now(UTC)


def _count_between(schedule: Schedule, after: datetime, until: datetime) -> int:
    """Due times strictly after `after` and at or before `until` (bounded)."""
    n, moment = 0, after
    while n < 10_000:
        following = schedule.when.next_after(moment)
        if following is None or following > until:
            return n
        n, moment = n + 1, following
    return n


class Scheduler:
    def __init__(
        self,
        store: ScheduleStore,
        calls: CallService,
        accounts: AccountStore | None,
        *,
        tick_s: float,
        grace_s: float,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store, self.calls, self.accounts = store, calls, accounts
        self.tick_s, self.grace = tick_s, timedelta(seconds=grace_s)
        self.now = clock
        self.name = f"{socket.gethostname()}:{os.getpid()}"[:128]
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.tick_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="nexflow-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except NexflowError as exc:
                log.warning("schedules.tick_failed", error=exc.code)
            except Exception:
                log.exception("schedules.tick_crashed")
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> int:
        """Claim every due time that has come (run or missed, see the module docstring),
        run the claimed ones at once; how many due times this control plane won."""
        now = self.now()
        claims = [self._claim(s, now) for s in await self.store.due(now) if s.next_run]
        won = await self.store.claim(claims, by=self.name, now=now)
        fired = [c for c in won if c.outcome == "fired"]
        runs = await asyncio.gather(*(self._run(c.schedule, c.due) for c in fired))
        await self.store.record_runs(list(runs))
        return len(won)

    def _claim(self, schedule: Schedule, now: datetime) -> Claim:
        due = schedule.next_run
        assert due is not None
        late = now - due
        base = {
            "schedule_id": schedule.id,
            "due_at": due.isoformat(),
            "late_ms": int(late.total_seconds() * 1000),
            "skipped": _count_between(schedule, due, now),
        }
        following = schedule.when.next_after(max(now, due))
        if late > self.grace:
            event = AuditEvent(
                action="schedule.missed",
                actor=schedule.owner_id,
                skill=schedule.skill,
                decision="deny",
                reason_codes=["schedule_missed"],
                payload={**base, "grace_s": self.grace.total_seconds()},
            )
            return Claim(schedule, due, following, "missed", event)
        event = AuditEvent(
            action="schedule.fired",
            actor=schedule.owner_id,
            skill=schedule.skill,
            payload={**base, "destination": schedule.destination, "by": self.name},
        )
        return Claim(schedule, due, following, "fired", event)

    async def _run(
        self, schedule: Schedule, due: datetime
    ) -> tuple[str, datetime, str | None, str]:
        """Run one claimed due time as the owner; (id, due, call id, outcome)."""
        asked = schedule.owner_principal()
        call_id: str | None = None
        try:
            owner = asked if self.accounts is None else await self.accounts.as_now(asked)
        except NexflowError as exc:  # the accounts store cannot say: run nothing
            return schedule.id, due, None, exc.code
        if owner is None:
            outcome = "owner_disabled"
            with contextlib.suppress(NexflowError):
                await self.store.audit.append(
                    AuditEvent(
                        action="schedule.failed",
                        actor=schedule.owner_id,
                        skill=schedule.skill,
                        decision="deny",
                        reason_codes=[outcome],
                        payload={"schedule_id": schedule.id, "due_at": due.isoformat()},
                    )
                )
        else:
            if owner.deliver_to and not await linked_destination(
                self.accounts, owner, schedule.destination
            ):  # unlinked since: the chat may be someone else's now
                owner = dataclasses.replace(owner, deliver_to=None)
            try:
                result = await self.calls.run(owner, schedule.skill, input_of(schedule), wait=False)
            except NexflowError as exc:
                outcome, call_id = exc.code, exc.extra.get("call_id")
            except Exception:  # a fault of ours: CallService logged and recorded it
                outcome = "internal_error"
            else:
                answer = result.to_dict()  # running | pending_approval (| a finished status)
                call_id, outcome = str(answer["call_id"]), str(answer["status"])
        log.info("schedule.ran", schedule_id=schedule.id, outcome=outcome, call_id=call_id)
        return schedule.id, due, call_id, outcome
