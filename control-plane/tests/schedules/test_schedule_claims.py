"""A tick's claims on a real database (SQLite and PostgreSQL): all of them in one UPDATE
and one INSERT, each row still guarded by its own due time, so a row another control
plane moved is not won, a due time claimed before is never claimed twice, and every
row gets its own next run, status and outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from nexflow_control.audit import AuditEvent, AuditFilter, AuditLog, query
from nexflow_control.db import Database
from nexflow_control.schedules import Schedule, ScheduleStore, Status, When
from nexflow_control.schedules._store import Claim
from nexflow_control.schedules.models import schedule_runs, schedules
from sqlalchemy import insert, select, update

DUE = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
NOW = DUE + timedelta(seconds=1)
OWNER = {"id": "olga", "roles": ["user"], "user_id": None, "token_id": None}


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[ScheduleStore]:
    db = await Database.open(db_url)
    audit = AuditLog(db)
    yield ScheduleStore(db, audit)
    await audit.close()
    await db.close()


async def _add(store: ScheduleStore, sid: str, cron: str | None) -> Schedule:
    when = When(cron, None if cron else DUE, "UTC")
    schedule = Schedule(
        id=sid, owner=OWNER, skill="echo", input="{}", when=when, destination="web",
        status=Status.ACTIVE, next_run=DUE, created_at=DUE, updated_at=DUE,
    )  # fmt: skip
    await store.insert(schedule, AuditEvent(action="schedule.created", actor="olga"))
    return schedule


def _claim(schedule: Schedule) -> Claim:
    event = AuditEvent(action="schedule.fired", actor="olga", payload={"schedule_id": schedule.id})
    return Claim(schedule, DUE, schedule.when.next_after(NOW), "fired", event)


async def _rows(store: ScheduleStore) -> dict[str, tuple[object, ...]]:
    c = schedules.c
    q = select(c.id, c.status, c.next_run, c.last_due, c.last_outcome, c.last_call_id)
    async with store.db.engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in await conn.execute(q)}


async def _runs(store: ScheduleStore) -> list[str]:
    async with store.db.engine.connect() as conn:
        rows = await conn.execute(select(schedule_runs.c.schedule_id))
        return sorted(r[0] for r in rows)


async def test_one_batch_claims_each_row_with_its_own_values(store: ScheduleStore) -> None:
    """Cron rows move to their own next time and stay active, one-shots end done; a row
    another control plane already moved on is not won; one event per won claim; the
    outcomes recorded afterwards land on their own rows."""
    hourly = await _add(store, "s_hourly", "0 * * * *")
    daily = await _add(store, "s_daily", "30 6 * * *")
    once = await _add(store, "s_once", None)
    taken = await _add(store, "s_taken", None)
    async with store.db.writing() as conn:  # another control plane won this one already
        await conn.execute(
            update(schedules).where(schedules.c.id == "s_taken").values(status="done")
        )
    claims = [_claim(s) for s in (hourly, daily, once, taken)]
    won = await store.claim(claims, by="cp-a", now=NOW)
    assert [k.schedule.id for k in won] == ["s_hourly", "s_daily", "s_once"]
    rows = await _rows(store)
    assert rows["s_hourly"] == ("active", DUE + timedelta(hours=1), DUE, "claimed", None)
    tomorrow = datetime(2026, 12, 8, 6, 30, tzinfo=UTC)
    assert rows["s_daily"] == ("active", tomorrow, DUE, "claimed", None)
    assert rows["s_once"] == ("done", None, DUE, "claimed", None)
    assert rows["s_taken"][0] == "done" and rows["s_taken"][2] is None
    assert await _runs(store) == ["s_daily", "s_hourly", "s_once"]
    await store.record_runs(
        [("s_hourly", DUE, "c_1", "running"), ("s_once", DUE, None, "policy_denied")]
    )
    rows = await _rows(store)
    assert rows["s_hourly"][3:] == ("running", "c_1")
    assert rows["s_once"][3:] == ("policy_denied", None)
    assert rows["s_daily"][3:] == ("claimed", None)
    page = await query(store.audit, AuditFilter(action="schedule.fired"), limit=10)
    assert sorted(r.payload["schedule_id"] for r in page.records) == [
        "s_daily", "s_hourly", "s_once"
    ]  # fmt: skip
    again = await store.claim([_claim(hourly)], by="cp-b", now=NOW)  # the same due time
    assert again == []


async def test_a_due_time_claimed_before_is_not_claimed_again(store: ScheduleStore) -> None:
    """A run row for (schedule, due) that exists (claimed before, row not moved on) makes
    the batch fall back to one claim at a time: that one is lost, the others are won."""
    first = await _add(store, "s_first", None)
    second = await _add(store, "s_second", None)
    async with store.db.writing() as conn:
        await conn.execute(
            insert(schedule_runs).values(
                schedule_id="s_first", due_at=DUE, claimed_at=DUE, claimed_by="cp-old",
                outcome="fired",
            )
        )  # fmt: skip
    won = await store.claim([_claim(first), _claim(second)], by="cp-a", now=NOW)
    assert [k.schedule.id for k in won] == ["s_second"]
    rows = await _rows(store)
    assert rows["s_first"][0] == "active" and rows["s_first"][1] == DUE  # untouched
    assert rows["s_second"][0] == "done"
    page = await query(store.audit, AuditFilter(action="schedule.fired"), limit=10)
    assert [r.payload["schedule_id"] for r in page.records] == ["s_second"]
