"""`ScheduleService`: what the HTTP routes and the CLI ask of schedules.

A schedule is made by a caller with `calls:run` and runs as that caller (see
`_runner`). Its skill must exist and its input must fit the skill's input schema when it
is made (it is checked again at every run). The owner, or a principal with
`accounts:admin`, may read, pause, resume or delete it; anyone else gets 404 (a
schedule's existence is not told to others).

Audit events: `schedule.created`, `schedule.paused`, `schedule.resumed`,
`schedule.deleted` (actor = who asked; payload: the schedule id and its timing).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..accounts import AccountStore, Scope
from ..audit import AuditEvent
from ..auth import Principal
from ..chat.outbox import split_destination
from ..errors import Conflict, InvalidInput, NotFound
from ._store import ScheduleStore
from ._timing import check_when
from .records import Schedule, Status, check_destination, new_schedule_id

if TYPE_CHECKING:
    from ..calls import CallService


def _now() -> datetime:
    return datetime.now(UTC)


def _event(action: str, who: Principal, schedule: Schedule, **extra: Any) -> AuditEvent:
    return AuditEvent(
        action=action,
        actor=who.id,
        skill=schedule.skill,
        payload={
            "schedule_id": schedule.id,
            "cron": schedule.when.cron,
            "at": None if schedule.when.at is None else schedule.when.at.isoformat(),
            "timezone": schedule.when.timezone,
            "destination": schedule.destination,
            **extra,
        },
    )


class ScheduleService:
    def __init__(
        self,
        store: ScheduleStore,
        calls: CallService,
        *,
        min_interval_s: float,
        clock: Callable[[], datetime] = _now,
        accounts: AccountStore | None = None,
        max_per_owner: int = 100,
    ) -> None:
        self.store, self.calls, self.min_interval_s, self.now = store, calls, min_interval_s, clock
        self.accounts, self.max_per_owner = accounts, max_per_owner

    async def create(
        self,
        who: Principal,
        skill_name: str,
        raw_input: Any,
        *,
        cron: str | None,
        at: datetime | None,
        timezone: str,
        destination: str,
    ) -> Schedule:
        now = self.now()
        when = check_when(cron, at, timezone, now=now, min_interval_s=self.min_interval_s)
        check_destination(destination)
        if not await linked_destination(self.accounts, who, destination):
            raise InvalidInput(
                f"{destination[:80]!r} is not a private chat of one of your linked identities",
                code="destination_not_linked",
                field="destination",
            )
        skill = self.calls.catalog.get(skill_name)
        if skill is None:
            raise NotFound(f"no skill named {skill_name[:64]!r}", code="skill_not_found")
        stdin, _, _ = await self.calls.prepare_input(skill, raw_input)
        held = [
            s
            for s in await self.store.listing()
            if s.owner_id == who.id and s.status is not Status.DONE
        ]
        if len(held) >= self.max_per_owner:
            raise Conflict(
                f"{who.id} already holds {len(held)} schedules (at most {self.max_per_owner}):"
                " delete one first",
                code="schedule_limit",
            )
        schedule = Schedule(
            id=new_schedule_id(),
            owner={**who.to_policy(), "user_id": who.user_id, "token_id": who.token_id},
            skill=skill.name,
            input=stdin.decode(),
            when=when,
            destination=destination,
            status=Status.ACTIVE,
            next_run=when.next_after(now),
            created_at=now,
            updated_at=now,
        )
        next_run = None if schedule.next_run is None else schedule.next_run.isoformat()
        await self.store.insert(
            schedule, _event("schedule.created", who, schedule, next_run=next_run)
        )
        return schedule

    async def visible(self, who: Principal) -> list[Schedule]:
        every = await self.store.listing()
        return every if _admin(who) else [s for s in every if s.owner_id == who.id]

    async def get(self, who: Principal, schedule_id: str) -> Schedule:
        schedule = await self.store.get(schedule_id)
        if not _admin(who) and schedule.owner_id != who.id:
            raise NotFound(f"no schedule with id {schedule_id!r}", code="schedule_not_found")
        return schedule

    async def pause(self, who: Principal, schedule_id: str) -> Schedule:
        schedule = await self.get(who, schedule_id)
        if schedule.status is not Status.ACTIVE:
            raise _not(schedule, "active")
        now = self.now()
        await self.store.change(
            schedule,
            Status.PAUSED,
            schedule.next_run,
            now,
            _event("schedule.paused", who, schedule),
        )
        return await self.store.get(schedule_id)

    async def resume(self, who: Principal, schedule_id: str) -> Schedule:
        """Active again from now on: runs due while it was paused are not made up."""
        schedule = await self.get(who, schedule_id)
        if schedule.status is not Status.PAUSED:
            raise _not(schedule, "paused")
        now = self.now()
        following = schedule.when.next_after(now)
        if following is None:
            raise Conflict(
                f"schedule {schedule.id} was a one-shot whose time has passed",
                code="schedule_expired",
            )
        event = _event("schedule.resumed", who, schedule, next_run=following.isoformat())
        await self.store.change(schedule, Status.ACTIVE, following, now, event)
        return await self.store.get(schedule_id)

    async def delete(self, who: Principal, schedule_id: str) -> None:
        schedule = await self.get(who, schedule_id)
        await self.store.delete(schedule.id, _event("schedule.deleted", who, schedule))


async def linked_destination(
    accounts: AccountStore | None, who: Principal, destination: str
) -> bool:
    """Whether results may go to `destination`: `web`, or the private chat of an identity
    linked to `who` (Telegram: the chat id is the user id; Discord: the user id, whose DM
    the gateway opens). Any other chat could be someone else's: never."""
    where = split_destination(destination)
    if where is None:
        return destination == "web"
    if accounts is None or who.user_id is None:
        return False
    try:
        user = await accounts.get_user(who.id)
    except NotFound:
        return False
    if user.id != who.user_id:
        return False
    return any((i.provider, i.subject) == where for i in user.identities)


def _admin(who: Principal) -> bool:
    return Scope.ACCOUNTS_ADMIN in who.scopes


def _not(schedule: Schedule, wanted: str) -> Conflict:
    return Conflict(
        f"schedule {schedule.id} is {schedule.status}, not {wanted}",
        code="schedule_not_" + wanted,
        status=str(schedule.status),
    )


def input_of(schedule: Schedule) -> Any:
    return json.loads(schedule.input)
