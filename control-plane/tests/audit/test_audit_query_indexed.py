"""reason_code (side table) and action prefix (resolved actions) pages hold exactly the
records a brute-force filter over the whole log selects, page after page, newest first and
oldest first; records written through `transaction()` and records from before the side
table (backfilled by the migration) are found the same way."""

from __future__ import annotations

from dataclasses import fields

import pytest
from nexflow_control.audit import AuditEvent, AuditFilter, AuditLog, AuditRecord, query
from nexflow_control.audit.query import scan
from nexflow_control.db import migrations
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ACTIONS = ["call.requested", "call.decided", "call.finished", "egress.blocked", "auth.failed"]
CODES = [[], [], ["rate_limited"], ["egress_denied", "host_not_allowed"], ["rare", "rare"]]


def event(i: int) -> AuditEvent:
    return AuditEvent(
        action=ACTIONS[i % 5] if i % 11 else "call_x.other",
        actor=f"user-{i % 3}",
        decision="deny" if i % 4 == 0 else "allow",
        reason_codes=CODES[(i * 7) % 5] if i % 13 else ["rare"],
    )


def matches(r: AuditRecord, f: AuditFilter) -> bool:
    """The filter's meaning, spelled out in Python."""
    if f.action is not None and f.action.endswith("*"):
        if not r.action.startswith(f.action[:-1]):
            return False
    elif f.action is not None and r.action != f.action:
        return False
    if f.reason_code is not None and f.reason_code not in r.reason_codes:
        return False
    return all(
        getattr(f, name) is None or getattr(f, name) == getattr(r, name)
        for name in ("actor", "decision")
    )


FILTERS = [
    AuditFilter(reason_code="rate_limited"),
    AuditFilter(reason_code="rare"),
    AuditFilter(reason_code="host_not_allowed", actor="user-1"),
    AuditFilter(reason_code="rare", decision="deny", action="call.*"),
    AuditFilter(reason_code="absent"),
    AuditFilter(action="call.*"),
    AuditFilter(action="egress.*"),
    AuditFilter(action="call_*"),
    AuditFilter(action="c*"),
    AuditFilter(action="accounts.*"),
    AuditFilter(action="call.*", actor="user-2", decision="deny"),
]
IDS = [
    "code",
    "rare_code",
    "code+actor",
    "code+decision+prefix",
    "absent_code",
    "call.*",
    "egress.*",
    "underscore",
    "c*",
    "no_match",
    "prefix+actor+decision",
]


async def newest_first(log: AuditLog, f: AuditFilter) -> list[int]:
    got: list[int] = []
    before: int | None = None
    while True:
        page = await query(log, f, limit=7, before_seq=before)
        got += [r.seq for r in page.records]
        if page.next_before_seq is None:
            return got
        before = page.next_before_seq


async def oldest_first(log: AuditLog, f: AuditFilter) -> list[int]:
    got: list[int] = []
    while batch := await scan(log, f, after_seq=got[-1] if got else 0, limit=7):
        got += [r.seq for r in batch]
    return got


async def fill(log: AuditLog) -> list[AuditRecord]:
    records = await log.append_many([event(i) for i in range(1, 121)])
    async with log.transaction() as tx:  # the accounts/approvals path
        for i in range(121, 141):
            tx.record(event(i))
    page = await query(log, AuditFilter(), limit=1000)
    assert len(page.records) == 140 and records == page.records[::-1][:120]
    return page.records[::-1]


def expected(records: list[AuditRecord], f: AuditFilter) -> list[int]:
    return [r.seq for r in records if matches(r, f)]


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
async def test_pages_hold_exactly_the_matching_records(log: AuditLog, f: AuditFilter) -> None:
    """Every page, both directions, equals the brute-force filter over all records."""
    records = await fill(log)
    want = expected(records, f)
    assert await newest_first(log, f) == want[::-1]
    assert await oldest_first(log, f) == want


async def test_migration_backfills_the_side_table(db_url: str) -> None:
    """A log written before revision 0004 finds its records by reason_code once migrated."""
    log = await AuditLog.open(db_url)
    try:
        records = await fill(log)
    finally:
        await log.close()
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:  # back to 0003: no side table
            await conn.execute(text("DROP TABLE audit_reason_codes"))
            await conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    finally:
        await engine.dispose()
    log = await AuditLog.open(db_url)
    try:
        assert await migrations.current_at(db_url) == migrations.head()
        for f in FILTERS[:5]:
            assert await newest_first(log, f) == expected(records, f)[::-1], f
    finally:
        await log.close()


def test_filter_fields_are_all_covered() -> None:
    """The brute-force matcher above knows every field the filters here use."""
    used = {fl.name for f in FILTERS for fl in fields(f) if getattr(f, fl.name) is not None}
    assert used <= {"action", "actor", "decision", "reason_code"}
