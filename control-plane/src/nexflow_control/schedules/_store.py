"""`ScheduleStore`: the schedules tables, each change committed with its audit event.

`claim(schedule, due, …)` is how a due time becomes a run: one transaction moves
`next_run` on with ``UPDATE … WHERE id = :id AND next_run = :due AND status = 'active'``,
inserts the `schedule_runs` row (primary key schedule + due time) and records
`schedule.fired` or `schedule.missed`. Of several control planes that see the same
due time, exactly one gets rowcount 1; the others get False and do nothing.

Errors: `NotFound` (`schedule_not_found`), `SchedulesUnavailable` (503).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..audit import AuditEvent, AuditLog, AuditTransaction
from ..db import Database
from ..db import error_type as _why
from ..errors import NotFound, Unavailable
from .models import schedule_runs, schedules
from .records import Schedule, Status, from_row


class SchedulesUnavailable(Unavailable):
    code = "schedules_unavailable"


class _Lost(Exception):
    """Another control plane claimed the due time first (rolls the transaction back)."""


def _missing(schedule_id: str) -> NotFound:
    return NotFound(f"no schedule with id {schedule_id!r}", code="schedule_not_found")


class ScheduleStore:
    """See the module docstring."""

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db, self.audit = db, audit

    def _changing(self) -> AbstractAsyncContextManager[AuditTransaction]:
        return self.audit.changing(SchedulesUnavailable, "schedules")

    async def _read(self, query: object) -> list[Schedule]:
        try:
            async with self.db.engine.connect() as conn:
                return [from_row(r) for r in await conn.execute(query)]  # type: ignore[call-overload]
        except (OSError, SQLAlchemyError) as exc:
            raise SchedulesUnavailable(f"the schedules table cannot be read ({_why(exc)})") from exc

    async def insert(self, schedule: Schedule, event: AuditEvent) -> None:
        row = {
            "id": schedule.id,
            "owner": schedule.owner,
            "skill": schedule.skill,
            "input": schedule.input,
            "cron": schedule.when.cron,
            "run_at": schedule.when.at,
            "timezone": schedule.when.timezone,
            "destination": schedule.destination,
            "status": str(schedule.status),
            "next_run": schedule.next_run,
            "created_at": schedule.created_at,
            "updated_at": schedule.updated_at,
        }
        async with self._changing() as tx:
            await tx.conn.execute(insert(schedules).values(**row))
            tx.record(event)

    async def get(self, schedule_id: str) -> Schedule:
        rows = await self._read(select(schedules).where(schedules.c.id == schedule_id))
        if not rows:
            raise _missing(schedule_id)
        return rows[0]

    async def listing(self) -> list[Schedule]:
        return await self._read(select(schedules).order_by(schedules.c.created_at))

    async def due(self, now: datetime, limit: int = 100) -> list[Schedule]:
        """Active schedules whose next run is at or before `now`, earliest first."""
        query = (
            select(schedules)
            .where(schedules.c.status == str(Status.ACTIVE), schedules.c.next_run <= now)
            .order_by(schedules.c.next_run)
            .limit(limit)
        )
        return await self._read(query)

    async def change(
        self,
        schedule: Schedule,
        status: Status,
        next_run: datetime | None,
        now: datetime,
        event: AuditEvent,
    ) -> None:
        """Set status and next run (pause, resume), if the row is still as `schedule` says."""
        async with self._changing() as tx:
            done = await tx.conn.execute(
                update(schedules)
                .where(schedules.c.id == schedule.id)
                .values(status=str(status), next_run=next_run, updated_at=now)
            )
            if done.rowcount == 0:
                raise _missing(schedule.id)
            tx.record(event)

    async def delete(self, schedule_id: str, event: AuditEvent) -> None:
        async with self._changing() as tx:
            gone = await tx.conn.execute(delete(schedules).where(schedules.c.id == schedule_id))
            if gone.rowcount == 0:
                raise _missing(schedule_id)
            tx.record(event)

    async def claim(
        self,
        schedule: Schedule,
        due: datetime,
        next_run: datetime | None,
        *,
        outcome: str,
        by: str,
        now: datetime,
        event: AuditEvent,
    ) -> bool:
        """Claim `due` (see the module docstring): True for the one claimant that won."""
        status = Status.ACTIVE if next_run is not None else Status.DONE
        try:
            async with self._changing() as tx:
                moved = await tx.conn.execute(
                    update(schedules)
                    .where(
                        and_(
                            schedules.c.id == schedule.id,
                            schedules.c.next_run == due,
                            schedules.c.status == str(Status.ACTIVE),
                        )
                    )
                    .values(
                        next_run=next_run,
                        status=str(status),
                        last_due=due,
                        last_outcome=outcome if outcome == "missed" else "claimed",
                        updated_at=now,
                    )
                )
                if moved.rowcount != 1:
                    raise _Lost
                try:
                    await tx.conn.execute(
                        insert(schedule_runs).values(
                            schedule_id=schedule.id,
                            due_at=due,
                            claimed_at=now,
                            claimed_by=by,
                            outcome=outcome,
                        )
                    )
                except IntegrityError:  # the run row exists: claimed before
                    raise _Lost from None
                tx.record(event)
        except _Lost:
            return False
        return True

    async def record_run(
        self, schedule_id: str, due: datetime, call_id: str | None, outcome: str
    ) -> None:
        """What the claimed run of `due` became (a call id, and running / pending_approval /
        an error code), on the schedule row if it still describes that due time."""
        async with self._changing() as tx:
            await tx.conn.execute(
                update(schedules)
                .where(schedules.c.id == schedule_id, schedules.c.last_due == due)
                .values(last_call_id=call_id, last_outcome=outcome[:32])
            )
