"""CallHistory: the rate counts and the versions-that-ran the policy input carries."""

from __future__ import annotations

import time

from nexflow_control.audit import AuditEvent, AuditLog
from nexflow_control.calls import CallHistory


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_counts_slide_over_the_minute_and_the_hour(log: AuditLog) -> None:
    clock = Clock()
    history = CallHistory(log, clock)
    assert history.rate("ann") == {"minute": 0, "hour": 0}
    for _ in range(3):
        history.record_decision("ann")
    history.record_decision("bob")
    assert history.rate("ann") == {"minute": 3, "hour": 3}
    clock.now += 61
    history.record_decision("ann")
    assert history.rate("ann") == {"minute": 1, "hour": 4}
    assert history.rate("bob") == {"minute": 0, "hour": 1}
    clock.now += 3600 - 61
    assert history.rate("ann") == {"minute": 0, "hour": 1}
    clock.now += 61
    assert history.rate("ann") == {"minute": 0, "hour": 0}


async def test_restore_counts_the_last_hour_of_decisions(log: AuditLog) -> None:
    for actor in ("ann", "ann", "bob"):
        await log.append(AuditEvent(action="call.decided", actor=actor, decision="deny"))
    await log.append(AuditEvent(action="call.requested", actor="ann"))
    clock = Clock()
    history = CallHistory(log, clock)
    assert await history.restore() == 3
    assert history.rate("ann") == {"minute": 2, "hour": 2}
    later = CallHistory(log, lambda: clock.now + 3601)
    assert await later.restore() == 0


async def test_a_version_ran_once_it_was_dispatched(log: AuditLog) -> None:
    history = CallHistory(log)
    assert await history.skill_runs("echo", "sha256:aa") == 0
    await log.append(
        AuditEvent(action="call.dispatched", skill="echo", payload={"skill_digest": "sha256:aa"})
    )
    assert await history.skill_runs("echo", "sha256:aa") == 1
    assert await history.skill_runs("echo", "sha256:bb") == 0
    assert await history.skill_runs("other", "sha256:aa") == 0
    history.record_run("other", "sha256:aa")
    assert await history.skill_runs("other", "sha256:aa") == 1
