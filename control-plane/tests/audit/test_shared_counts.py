"""SharedCounts: sliding-window counts in the database, one budget for every process on it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from nexflow_control.audit import AuditEvent, AuditLog
from nexflow_control.db import Database
from nexflow_control.errors import AuditUnavailable
from nexflow_control.throttle import SharedCounts
from nexflow_control.throttle.models import throttle_counts
from sqlalchemy import func, select, text


class Clock:
    def __init__(self, now: float = 1_700_000_000.5) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def rows(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(throttle_counts))).scalar_one()
        )


async def test_counts_slide_over_each_window(db: Database) -> None:
    """A hit is in a window of w seconds for w seconds, and each window is counted apart."""
    clock = Clock()
    counts = SharedCounts(db, clock=clock)
    for _ in range(3):
        await counts.take("rate", "ann", (60, 3600))
    await counts.take("rate", "bob", (60, 3600))
    assert (await counts.take("rate", "ann", (60, 3600))).counts == (3, 3)
    clock.now += 61
    assert (await counts.take("rate", "ann", (60, 3600))).counts == (0, 4)
    assert (await counts.peek("rate", "bob", 3600)).counts == (1,)
    clock.now += 3600 - 61
    assert (await counts.peek("rate", "ann", 3600)).counts == (1,)
    clock.now += 61
    assert (await counts.peek("rate", "ann", 3600)).counts == (0,)
    assert (await counts.peek("other", "ann", 3600)).counts == (0,)


async def test_a_limit_admits_exactly_that_many_across_processes(db_url: str) -> None:
    """Concurrent takes through two separate databases handles admit no more than the limit."""
    first, second = await Database.open(db_url), await Database.open(db_url)
    try:
        a, b = SharedCounts(first), SharedCounts(second)
        takes = [(a if i % 2 else b).take("refused", "10.0.0.9", (60,), limit=7) for i in range(30)]
        seen = await asyncio.gather(*takes)
        assert sum(s.taken for s in seen) == 7
        assert sorted(s.counts[0] for s in seen if s.taken) == list(range(7))
        assert (await a.peek("refused", "10.0.0.9", 60)).counts == (7,)
    finally:
        await first.close()
        await second.close()


async def test_counts_survive_a_restart(db_url: str) -> None:
    """Counts are rows in the database: a new handle (a restarted process) sees them."""
    clock = Clock()
    first = await Database.open(db_url)
    await SharedCounts(first, clock=clock).take("rate", "ann", (60,))
    await SharedCounts(first, clock=clock).take("rate", "ann", (60,))
    await first.close()
    again = await Database.open(db_url)
    try:
        assert (await SharedCounts(again, clock=clock).peek("rate", "ann", 60)).counts == (2,)
    finally:
        await again.close()


async def test_retry_after_names_when_the_oldest_hit_leaves(db: Database) -> None:
    """`retry_after` is the time until the oldest hit in the window leaves it."""
    clock = Clock(1_700_000_000.25)
    counts = SharedCounts(db, clock=clock)
    await counts.take("login.name", "ann", (300,))
    clock.now += 100
    await counts.take("login.name", "ann", (300,))
    seen = await counts.peek("login.name", "ann", 300)
    assert seen.counts == (2,) and seen.oldest == 1_700_000_000
    assert seen.retry_after(300, clock.now) == pytest.approx(199.75)
    assert (await counts.peek("login.name", "bob", 300)).retry_after(300, clock.now) == 0.0


async def test_pop_returns_and_forgets_the_hits(db: Database) -> None:
    """`pop` gives every stored hit of a key and deletes them, leaving other keys alone."""
    counts = SharedCounts(db)
    for key in ("a", "a", "a", "b"):
        await counts.take("suppressed", key, (86400,))
    assert await counts.pop("suppressed", "a") == 3
    assert await counts.pop("suppressed", "a") == 0
    assert (await counts.peek("suppressed", "b", 86400)).counts == (1,)


async def test_a_long_key_is_stored_hashed_and_still_counted(db: Database) -> None:
    """A key longer than the column (a name sent from the network) is counted by its hash."""
    counts = SharedCounts(db)
    long_name = "x" * 5000
    await counts.take("login.name", long_name, (300,))
    await counts.take("login.name", long_name, (300,))
    assert (await counts.peek("login.name", long_name, 300)).counts == (2,)
    assert (await counts.peek("login.name", "x" * 4999, 300)).counts == (0,)


async def test_old_rows_are_pruned_once_a_minute(db: Database) -> None:
    """Rows older than the longest window of their kind are deleted by a later take."""
    clock = Clock()
    counts = SharedCounts(db, clock=clock)
    for _ in range(5):
        await counts.take("rate", "ann", (60,))
        clock.now += 1
    assert await rows(db) == 5
    clock.now += 120  # past the window and past the prune interval
    await counts.take("rate", "bob", (60,))
    assert await rows(db) == 1


async def test_the_upgrade_counts_the_last_hour_of_decisions_in(db_url: str) -> None:
    """Revision 0005 fills the rate counts from recent `call.decided` events."""
    log = await AuditLog.open(db_url)
    for actor in ("ann", "ann", "bob"):
        await log.append(AuditEvent(action="call.decided", actor=actor, decision="deny"))
    await log.append(AuditEvent(action="call.requested", actor="ann"))
    await log.close()
    db = await Database.open(db_url)
    async with db.writing() as conn:  # back to revision 0004, as before the upgrade
        await conn.execute(text("DROP TABLE throttle_counts"))
        await conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    await db.close()
    db = await Database.open(db_url)
    try:
        counts = SharedCounts(db)
        assert (await counts.peek("rate", "ann", 3600)).counts == (2,)
        assert (await counts.peek("rate", "bob", 60)).counts == (1,)
    finally:
        await db.close()


async def test_a_take_waits_for_the_write_lock_then_fails_closed(
    db_path: Path, db_url: str
) -> None:
    """On a SQLite file a take is one BEGIN IMMEDIATE transaction on the raw driver: while
    another process holds the write lock it waits out the busy timeout, then answers
    AuditUnavailable (the call is refused) having counted nothing; freed, it counts."""
    db = await Database.open(db_url, busy_timeout_ms=200)
    try:
        counts = SharedCounts(db)
        assert (await counts.take("rate", "ann", (60,))).counts == (0,)
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(AuditUnavailable, match="shared counts"):
                await counts.take("rate", "ann", (60,))
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert (await counts.take("rate", "ann", (60,))).counts == (1,)
    finally:
        await db.close()


async def test_a_take_on_a_deleted_database_file_is_refused(db_path: Path, db_url: str) -> None:
    """The raw connection does not go on counting into a file nobody can see any more."""
    db = await Database.open(db_url)
    try:
        counts = SharedCounts(db)
        await counts.take("rate", "ann", (60,))
        await asyncio.to_thread(db_path.unlink)
        with pytest.raises(AuditUnavailable, match="shared counts"):
            await counts.take("rate", "ann", (60,))
    finally:
        await db.close()
