"""One row per call, hourly counts by outcome and secrets' last reads, computed from real
audit events on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nexflow_control.audit import AuditEvent, AuditLog
from nexflow_control.audit.overview import CallFilter, call_stats, list_calls
from nexflow_control.audit.secret_reads import last_reads


def _call(call_id: str, actor: str, skill: str, ending: str, **extra: object) -> list[AuditEvent]:
    """The events a call of that ending leaves (as `calls/` writes them)."""
    requested = AuditEvent(
        "call.requested", call_id, actor, skill, payload={"channel": f"telegram:{actor}"}
    )
    if ending == "refused":
        return [AuditEvent("call.refused", call_id, actor, skill, "deny", ["rate_limited"])]
    if ending == "denied":
        decided = AuditEvent("call.decided", call_id, actor, skill, "deny", ["not_allowed"])
        return [requested, decided]
    decided = AuditEvent("call.decided", call_id, actor, skill, "allow")
    if ending == "pending":
        return [
            requested,
            AuditEvent("call.decided", call_id, actor, skill, "approval_required", ["risky"]),
            AuditEvent("approval.requested", call_id, actor, skill),
        ]
    dispatched = AuditEvent("call.dispatched", call_id, actor, skill)
    if ending == "running":
        return [requested, decided, dispatched]
    finished = AuditEvent(
        "call.finished", call_id, actor, skill, payload={"status": ending, **extra}
    )
    return [requested, decided, dispatched, finished]


async def _world(log: AuditLog) -> None:
    for events in (
        _call("c1", "ann", "echo", "succeeded", kill_reason="none"),
        _call("c2", "bob", "echo", "killed", kill_reason="timeout"),
        _call("c3", "ann", "fetch", "denied"),
        _call("c4", "bob", "fetch", "refused"),
        _call("c5", "ann", "echo", "pending"),
        _call("c6", "ann", "echo", "running"),
        _call("c7", "bob", "fetch", "denied"),
    ):
        await log.append_many(events)


async def test_one_row_per_call_with_its_outcome_and_filters(log: AuditLog) -> None:
    """Each call is one row, newest first, with who, channel, outcome, kill reason and a
    duration once ended; skill, actor and outcome filters narrow it."""
    await _world(log)
    page = await list_calls(log, CallFilter())
    rows = {r.call_id: r for r in page.calls}
    assert [r.call_id for r in page.calls] == ["c7", "c6", "c5", "c4", "c3", "c2", "c1"]
    assert {k: r.outcome for k, r in rows.items()} == {
        "c1": "succeeded",
        "c2": "killed",
        "c3": "denied",
        "c4": "refused",
        "c5": "pending_approval",
        "c6": "running",
        "c7": "denied",
    }
    assert rows["c2"].kill_reason == "timeout" and rows["c1"].kill_reason is None
    assert rows["c1"].channel == "telegram:ann" and rows["c4"].channel is None
    assert rows["c1"].duration_ms is not None and rows["c1"].duration_ms >= 0
    assert rows["c6"].duration_ms is None and rows["c6"].ended_at is None
    assert rows["c3"].reason_codes == ["not_allowed"] and rows["c4"].reason_codes == [
        "rate_limited"
    ]
    assert page.next_before is None
    ann_echo = await list_calls(log, CallFilter(skill="echo", actor="ann"))
    assert [r.call_id for r in ann_echo.calls] == ["c6", "c5", "c1"]
    denied = await list_calls(log, CallFilter(outcome="denied"))
    assert [r.call_id for r in denied.calls] == ["c7", "c3"]
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert (await list_calls(log, CallFilter(since=later))).calls == []


async def test_pages_of_calls_follow_on_without_gap_or_repeat(log: AuditLog) -> None:
    """`next_before` walks every call exactly once, also under an outcome filter."""
    await _world(log)
    seen: list[str] = []
    before = None
    for _ in range(10):
        page = await list_calls(log, CallFilter(), limit=2, before=before)
        seen += [r.call_id for r in page.calls]
        before = page.next_before
        if before is None:
            break
    assert seen == ["c7", "c6", "c5", "c4", "c3", "c2", "c1"]
    first = await list_calls(log, CallFilter(outcome="denied"), limit=1)
    assert [r.call_id for r in first.calls] == ["c7"] and first.next_before is not None
    second = await list_calls(log, CallFilter(outcome="denied"), limit=1, before=first.next_before)
    assert [r.call_id for r in second.calls] == ["c3"]


async def test_hourly_counts_by_outcome_and_top_denials(log: AuditLog) -> None:
    """The database counts ended calls in the current hour by outcome and ranks the
    denial reason codes; every hour of the window is listed, older ones empty."""
    await _world(log)
    stats = await call_stats(log, 24)
    assert len(stats.hours) == 24
    assert all(h["counts"] == {} for h in stats.hours[:-1])
    assert stats.hours[-1]["counts"] == {"succeeded": 1, "killed": 1, "denied": 2, "refused": 1}
    assert stats.denials == [
        {"code": "not_allowed", "count": 2},
        {"code": "rate_limited", "count": 1},
    ]
    assert stats.until - stats.since == timedelta(hours=24)
    tomorrow = await call_stats(log, 3, now=datetime.now(UTC) + timedelta(days=1))
    assert all(h["counts"] == {} for h in tomorrow.hours) and tomorrow.denials == []
    with pytest.raises(ValueError):
        await call_stats(log, 169)


async def test_last_read_of_each_secret(log: AuditLog) -> None:
    """The newest `secret.read` per name gives when, by whom and for which call."""
    await log.append(AuditEvent("secret.read", "c1", "ann", "gh", payload={"name": "tok"}))
    await log.append(AuditEvent("secret.read", "c2", "bob", "gh", payload={"name": "tok"}))
    await log.append(AuditEvent("secret.read", "c3", "ann", "db", payload={"name": "pw"}))
    reads = await last_reads(log)
    assert set(reads) == {"tok", "pw"}
    assert (reads["tok"].actor, reads["tok"].call_id) == ("bob", "c2")
    assert (reads["pw"].skill, reads["pw"].call_id) == ("db", "c3")
