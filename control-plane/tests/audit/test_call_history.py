"""CallHistory: the rate counts and the versions-that-ran the policy input carries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from nexflow_control.audit import AuditEvent, AuditLog
from nexflow_control.calls import CallHistory
from nexflow_control.db import Database
from nexflow_control.throttle import SharedCounts


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def log(db: Database) -> AsyncIterator[AuditLog]:
    opened = AuditLog(db)
    yield opened
    await opened.close()


async def test_counts_slide_over_the_minute_and_the_hour(log: AuditLog, db: Database) -> None:
    """Each decision is counted for the next; the minute and the hour slide apart."""
    clock = Clock()
    history = CallHistory(log, SharedCounts(db, clock=clock))
    assert await history.count_decision("ann") == {"minute": 0, "hour": 0}
    for _ in range(2):
        await history.count_decision("ann")
    await history.count_decision("bob")
    assert await history.count_decision("ann") == {"minute": 3, "hour": 3}
    clock.now += 61
    assert await history.count_decision("ann") == {"minute": 0, "hour": 4}
    assert await history.count_decision("bob") == {"minute": 0, "hour": 1}
    clock.now += 3600 - 61  # the first four leave the hour; the one at +61 s stays
    assert await history.count_decision("ann") == {"minute": 0, "hour": 1}


async def test_two_control_planes_count_one_budget(db_url: str) -> None:
    """Decisions counted through two database handles (two processes) add up, and a
    third opened later (a restart) sees them all."""
    first, second = await Database.open(db_url), await Database.open(db_url)
    log_a, log_b = AuditLog(first), AuditLog(second)
    try:
        a = CallHistory(log_a, SharedCounts(first))
        b = CallHistory(log_b, SharedCounts(second))
        for history in (a, b, a, b, b):
            await history.count_decision("ann")
        assert await a.count_decision("ann") == {"minute": 5, "hour": 5}
    finally:
        await log_a.close()
        await log_b.close()
        await first.close()
        await second.close()
    third = await Database.open(db_url)
    log_c = AuditLog(third)
    try:
        again = CallHistory(log_c, SharedCounts(third))
        assert await again.count_decision("ann") == {"minute": 6, "hour": 6}
    finally:
        await log_c.close()
        await third.close()


async def test_a_version_ran_once_it_was_dispatched(log: AuditLog, db: Database) -> None:
    """A version counts as run once a `call.dispatched` event names its digest."""
    history = CallHistory(log, SharedCounts(db))
    assert await history.skill_runs("echo", "sha256:aa") == 0
    await log.append(
        AuditEvent(action="call.dispatched", skill="echo", payload={"skill_digest": "sha256:aa"})
    )
    assert await history.skill_runs("echo", "sha256:aa") == 1
    assert await history.skill_runs("echo", "sha256:bb") == 0
    assert await history.skill_runs("other", "sha256:aa") == 0
    history.record_run("other", "sha256:aa")
    assert await history.skill_runs("other", "sha256:aa") == 1
