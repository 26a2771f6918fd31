"""Viewer queries: each filter, keyset pages newest first, and the live tail."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from nexflow_control.audit import AuditEvent, AuditFilter, AuditLog, AuditRecord, query, tail

EVENTS = [
    AuditEvent(action="policy.loaded", actor=None, policy_revision="r1"),
    AuditEvent(action="call.requested", call_id="c1", actor="ann", skill="file-read"),
    AuditEvent(
        action="call.decided", call_id="c1", actor="ann", skill="file-read",
        decision="allow", reason_codes=["ok"],
    ),
    AuditEvent(
        action="call.refused", call_id="c2", actor="bob", skill="shell",
        decision="deny", reason_codes=["no_shell", "50%_off"],
    ),
    AuditEvent(
        action="call.decided", call_id="c3", actor="bob", skill="web-fetch",
        decision="approval_required", reason_codes=["needs_approval", "denied"],
    ),
    AuditEvent(action="auth.failed", actor="eve", reason_codes=["bad_token"]),
    AuditEvent(action="callx.custom", actor="eve"),
    AuditEvent(action="call_y.custom", actor="eve"),
]  # fmt: skip


@pytest.fixture
async def filled(log: AuditLog) -> list[AuditRecord]:
    return await log.append_many(EVENTS)


async def seqs(log: AuditLog, **filters: object) -> list[int]:
    page = await query(log, AuditFilter(**filters))  # type: ignore[arg-type]
    return [r.seq for r in page.records]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [8, 7, 6, 5, 4, 3, 2, 1]),
        ({"actor": "bob"}, [5, 4]),
        ({"skill": "file-read"}, [3, 2]),
        ({"action": "call.decided"}, [5, 3]),
        ({"action": "call.*"}, [5, 4, 3, 2]),
        ({"action": "call_*"}, [8]),
        ({"action": "*"}, [8, 7, 6, 5, 4, 3, 2, 1]),
        ({"decision": "deny"}, [4]),
        ({"call_id": "c1"}, [3, 2]),
        ({"reason_code": "ok"}, [3]),
        ({"reason_code": "denied"}, [5]),
        ({"reason_code": "deny"}, []),
        ({"reason_code": "50%_off"}, [4]),
        ({"reason_code": "_off"}, []),
        ({"actor": "bob", "decision": "approval_required", "reason_code": "needs_approval"}, [5]),
    ],
)
async def test_filters_select_exactly_the_matching_records(
    log: AuditLog, filled: list[AuditRecord], filters: dict[str, object], expected: list[int]
) -> None:
    """Each filter (exact, prefix, contained reason code, combined) returns exactly its rows."""
    assert await seqs(log, **filters) == expected


async def test_time_range_is_half_open(log: AuditLog, filled: list[AuditRecord]) -> None:
    """`since` includes its instant and `until` excludes it."""
    third = filled[2]
    assert await seqs(log, since=third.ts, until=filled[4].ts) == [4, 3]
    later = third.ts + timedelta(microseconds=1)
    assert 3 not in await seqs(log, since=later)
    naive = third.ts.replace(tzinfo=None)
    assert 3 in await seqs(log, since=naive, until=naive + timedelta(microseconds=1))


async def test_keyset_pages_walk_everything_once(log: AuditLog) -> None:
    """Pages of 10 over 25 records come newest first, without overlap, and end with None."""
    await log.append_many([AuditEvent(action="call.finished", call_id=f"c{i}") for i in range(25)])
    seen: list[int] = []
    before: int | None = None
    pages = 0
    while True:
        page = await query(log, AuditFilter(action="call.*"), limit=10, before_seq=before)
        seen += [r.seq for r in page.records]
        pages += 1
        if page.next_before_seq is None:
            break
        before = page.next_before_seq
    assert seen == list(range(25, 0, -1)) and pages == 3


async def test_exact_page_size_has_no_next_page(log: AuditLog) -> None:
    """When the last page is exactly full, no further (empty) page is promised."""
    await log.append_many([AuditEvent(action="call.finished") for _ in range(10)])
    page = await query(log, AuditFilter(), limit=10)
    assert len(page.records) == 10 and page.next_before_seq is None


@pytest.mark.parametrize("limit", [0, 1001])
async def test_limit_is_bounded(log: AuditLog, limit: int) -> None:
    """Limits outside 1..1000 are refused."""
    with pytest.raises(ValueError):
        await query(log, AuditFilter(), limit=limit)


async def test_tail_returns_newer_records_oldest_first(
    log: AuditLog, filled: list[AuditRecord]
) -> None:
    """The live tail returns records after a seq, in order, up to the limit."""
    assert [r.seq for r in await tail(log, 5, 2)] == [6, 7]
    assert await tail(log, 8, 100) == []


async def test_records_read_back_equal_those_returned(
    log: AuditLog, filled: list[AuditRecord]
) -> None:
    """What query returns is field for field what append returned, and to_dict is JSON."""
    page = await query(log, AuditFilter(), limit=100)
    assert list(reversed(page.records)) == filled
    assert json.loads(json.dumps([r.to_dict() for r in page.records]))[0]["seq"] == 8
