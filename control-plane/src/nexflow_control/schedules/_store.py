"""`ScheduleStore`: the schedules tables, each change committed with its audit event.

`claim([Claim, …])` is how due times become runs: one transaction moves each
`next_run` on with ``UPDATE … WHERE id = :id AND next_run = :due AND status = 'active'``,
inserts its `schedule_runs` row (primary key schedule + due time) and records
`schedule.fired` or `schedule.missed`. Of several control planes that see the same
due time, exactly one moves the row; the others skip it. A tick's claims go as one
such UPDATE for all of them (each row's guard in one OR, the new values by CASE on the
id, RETURNING the ids it moved) and one INSERT of their run rows: two statements
however many fall due, where one pair per claim cost a tick ~4 ms a claim on a loaded
machine. `record_runs` is one UPDATE the same way.

Errors: `NotFound` (`schedule_not_found`), `SchedulesUnavailable` (503).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, insert, literal, or_, select, update
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

    async def claim(self, claims: list[Claim], *, by: str, now: datetime) -> list[Claim]:
        """Claim each due time (see the module docstring) in one transaction; the claims
        this control plane won. Should the batch fail on a run row that exists, each is
        claimed on its own (and that one is lost)."""
        if not claims:
            return []
        try:
            async with self._changing() as tx:
                if len({c.schedule.id for c in claims}) == len(claims):
                    return await _claim_all(tx, claims, by, now)
                return [c for c in claims if await _claim_one(tx, c, by, now)]
        except _Lost:
            won = []
            for claim in claims:
                try:
                    async with self._changing() as tx:
                        if await _claim_one(tx, claim, by, now):
                            won.append(claim)
                except _Lost:
                    continue
            return won

    async def record_runs(self, runs: list[tuple[str, datetime, str | None, str]]) -> None:
        """What each claimed run became, as (schedule id, due time, call id, outcome:
        running / pending_approval / an error code), on each schedule row that still
        describes that due time; one transaction."""
        if not runs:
            return
        async with self._changing() as tx:
            if len({r[0] for r in runs}) == len(runs):
                c = schedules.c
                await tx.conn.execute(
                    update(schedules)
                    .where(or_(*(and_(c.id == sid, c.last_due == due) for sid, due, _, _ in runs)))
                    .values(
                        last_call_id=_by_id(c.last_call_id, {r[0]: r[2] for r in runs}),
                        last_outcome=_by_id(c.last_outcome, {r[0]: r[3][:32] for r in runs}),
                    )
                )
                return
            for schedule_id, due, call_id, outcome in runs:
                await tx.conn.execute(
                    update(schedules)
                    .where(schedules.c.id == schedule_id, schedules.c.last_due == due)
                    .values(last_call_id=call_id, last_outcome=outcome[:32])
                )


@dataclass(frozen=True, slots=True)
class Claim:
    """One due time to claim: what `next_run` becomes, and the event that records it."""

    schedule: Schedule
    due: datetime
    next_run: datetime | None
    outcome: str  # fired | missed
    event: AuditEvent


def _by_id(column: Any, values: dict[str, Any]) -> Any:
    """CASE schedules.id WHEN :id THEN :value …: one value per row, typed as `column`."""
    return case({k: literal(v, column.type) for k, v in values.items()}, value=schedules.c.id)


async def _claim_all(
    tx: AuditTransaction, claims: list[Claim], by: str, now: datetime
) -> list[Claim]:
    """Every claim (one per schedule) in two statements, inside `tx`: the guarded UPDATE
    of all rows, RETURNING those it moved, then the run rows of the won ones; the won
    claims. `_Lost` if a run row exists (the caller then claims each on its own)."""
    c = schedules.c
    moved = await tx.conn.execute(
        update(schedules)
        .where(
            c.status == str(Status.ACTIVE),
            or_(*(and_(c.id == k.schedule.id, c.next_run == k.due) for k in claims)),
        )
        .values(
            next_run=_by_id(c.next_run, {k.schedule.id: k.next_run for k in claims}),
            status=_by_id(c.status, {k.schedule.id: str(_status_after(k)) for k in claims}),
            last_due=_by_id(c.last_due, {k.schedule.id: k.due for k in claims}),
            last_outcome=_by_id(c.last_outcome, {k.schedule.id: _outcome(k) for k in claims}),
            last_call_id=None,
            updated_at=now,
        )
        .returning(c.id)
    )
    ids = {row[0] for row in moved}
    won = [k for k in claims if k.schedule.id in ids]
    if won:
        rows = [
            {
                "schedule_id": k.schedule.id,
                "due_at": k.due,
                "claimed_at": now,
                "claimed_by": by,
                "outcome": k.outcome,
            }
            for k in won
        ]
        try:
            await tx.conn.execute(insert(schedule_runs), rows)
        except IntegrityError:  # a run row exists: one of these was claimed before
            raise _Lost from None
    for k in won:
        tx.record(k.event)
    return won


def _status_after(claim: Claim) -> Status:
    return Status.ACTIVE if claim.next_run is not None else Status.DONE


def _outcome(claim: Claim) -> str:
    return "missed" if claim.outcome == "missed" else "claimed"


async def _claim_one(tx: AuditTransaction, claim: Claim, by: str, now: datetime) -> bool:
    """The guarded UPDATE, the run row and the event, inside `tx`; False if lost."""
    status = _status_after(claim)
    moved = await tx.conn.execute(
        update(schedules)
        .where(
            and_(
                schedules.c.id == claim.schedule.id,
                schedules.c.next_run == claim.due,
                schedules.c.status == str(Status.ACTIVE),
            )
        )
        .values(
            next_run=claim.next_run,
            status=str(status),
            last_due=claim.due,
            last_outcome=_outcome(claim),
            last_call_id=None,
            updated_at=now,
        )
    )
    if moved.rowcount != 1:
        return False
    try:
        await tx.conn.execute(
            insert(schedule_runs).values(
                schedule_id=claim.schedule.id,
                due_at=claim.due,
                claimed_at=now,
                claimed_by=by,
                outcome=claim.outcome,
            )
        )
    except IntegrityError:  # the run row exists: this due time was claimed before
        raise _Lost from None
    tx.record(claim.event)
    return True
