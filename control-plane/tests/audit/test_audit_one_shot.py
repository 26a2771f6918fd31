"""PostgreSQL's one-round-trip append (`pg_writer`: `append.PG_ONE_SHOT`) when it loses a race:
its statement took its snapshot, then waited for the chain lock while another writer
extended the chain. Its guard still sees the old head, so only the seq primary key can
stop it: the statement must fail whole, and the batch must land after the new head."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from nexflow_control.audit import AuditEvent, AuditLog, tail, verify
from nexflow_control.audit.append import Entry, chain
from nexflow_control.db import WRITE_LOCK_KEY

pytestmark = pytest.mark.postgres

INSERT = """
INSERT INTO audit_events (seq, ts, action, call_id, actor, skill, decision, reason_codes,
                          policy_revision, payload, prev_hash, hash)
VALUES ($1, $2, $3, NULL, $4, NULL, NULL, '[]', NULL, $5::json, $6, $7)
"""


async def _waiting_for_the_lock(conn: asyncpg.Connection) -> bool:
    rows = await conn.fetch("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    return bool(rows)


async def test_a_one_shot_append_that_lost_the_race_lands_after_the_winner(
    pg_url: str,
) -> None:
    log = await AuditLog.open(pg_url)
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    other = await asyncpg.connect(dsn)
    watcher = await asyncpg.connect(dsn)
    try:
        first = await log.append(AuditEvent(action="call.requested", actor="us"))
        assert log.head == (first.seq, first.hash)  # the next append takes the fast path
        tx = other.transaction()
        await tx.start()
        await other.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)
        ours = asyncio.create_task(log.append(AuditEvent(action="call.decided", actor="us")))
        for _ in range(200):  # until our statement waits for the lock (its snapshot taken)
            if await _waiting_for_the_lock(watcher):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("our append never waited for the chain lock")
        (link,) = chain([Entry.of(AuditEvent(action="call.requested", actor="them"))], log.head)
        theirs = link.record
        await other.execute(
            INSERT, theirs.seq, theirs.ts, theirs.action, theirs.actor, "{}",
            theirs.prev_hash, theirs.hash,
        )  # fmt: skip
        await tx.commit()  # releases the lock: our statement resumes on a stale snapshot
        record = await asyncio.wait_for(ours, 30)
        assert record.seq == theirs.seq + 1 and record.prev_hash == theirs.hash
        report = await verify(log)
        assert report.ok and report.checked == 3, report
        actors = [(r.seq, r.actor) for r in await tail(log, 0, 10)]
        assert actors == [(first.seq, "us"), (theirs.seq, "them"), (record.seq, "us")]
    finally:
        await other.close()
        await watcher.close()
        await log.close()


async def test_a_batch_whose_connection_broke_is_stored_once(pg_url: str) -> None:
    """The writer's connection is killed while its batch waits for the chain lock: the
    outcome is unknown to it, so it reconnects, looks under the lock whether the batch is
    there, and (it is not) chains it after whatever committed meanwhile. One copy, intact."""
    log = await AuditLog.open(pg_url)
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    other = await asyncpg.connect(dsn)
    watcher = await asyncpg.connect(dsn)
    try:
        first = await log.append(AuditEvent(action="call.requested", actor="us"))
        tx = other.transaction()
        await tx.start()
        await other.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)
        ours = asyncio.create_task(log.append(AuditEvent(action="call.decided", actor="us")))
        waiting: list[Any] = []
        for _ in range(200):
            waiting = await watcher.fetch(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting, "our append never waited for the chain lock"
        assert await watcher.fetchval("SELECT pg_terminate_backend($1)", waiting[0]["pid"])
        (link,) = chain([Entry.of(AuditEvent(action="call.requested", actor="them"))], log.head)
        theirs = link.record
        await other.execute(
            INSERT, theirs.seq, theirs.ts, theirs.action, theirs.actor, "{}",
            theirs.prev_hash, theirs.hash,
        )  # fmt: skip
        await asyncio.sleep(0.3)  # the writer has reconnected and waits for the lock again
        await tx.commit()
        record = await asyncio.wait_for(ours, 30)
        assert record.seq == theirs.seq + 1 and record.prev_hash == theirs.hash
        report = await verify(log)
        assert report.ok and report.checked == 3, report
        actors = [(r.seq, r.actor, r.action) for r in await tail(log, 0, 10)]
        assert actors == [
            (first.seq, "us", "call.requested"),
            (theirs.seq, "them", "call.requested"),
            (record.seq, "us", "call.decided"),
        ]
    finally:
        await other.close()
        await watcher.close()
        await log.close()
