"""The chain: canonical encoding, hash links, commit-before-return, and outsider verification."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from nexflow_control.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditLog,
    canonical_bytes,
    tail,
    verify,
)
from nexflow_control.audit.chain import format_ts


def outsider_verify(export: list[dict[str, object]]) -> bool:
    """The module docstring's recipe, using nothing but hashlib and json."""
    prev = "0" * 64
    for i, rec in enumerate(sorted(export, key=lambda r: int(str(r["seq"]))), start=1):
        body = {k: v for k, v in rec.items() if k != "hash"}
        if rec["seq"] != i or rec["prev_hash"] != prev:
            return False
        data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        prev = hashlib.sha256(prev.encode() + data.encode("utf-8")).hexdigest()
        if prev != rec["hash"]:
            return False
    return True


def test_canonical_encoding_is_sorted_compact_utf8() -> None:
    """Keys are sorted at every level, there is no whitespace, and non-ASCII stays UTF-8."""
    data = canonical_bytes({"b": 1, "a": {"d": [1, 2], "c": "é"}})
    assert data == '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()


def test_timestamps_format_with_microseconds_and_utc_offset() -> None:
    """Timestamps are ISO-8601 in UTC with six fractional digits, even when they are zero."""
    plus_two = timezone(timedelta(hours=2))
    assert format_ts(datetime(2025, 1, 2, 5, 0, tzinfo=plus_two)) == (
        "2025-01-02T03:00:00.000000+00:00"
    )
    with pytest.raises(ValueError):
        format_ts(datetime(2025, 1, 2))


async def test_records_link_from_genesis(log: AuditLog) -> None:
    """The first record links to the genesis hash and every next one to its predecessor."""
    first = await log.append(AuditEvent(action="policy.loaded", policy_revision="r1"))
    second = await log.append(AuditEvent(action="call.requested", call_id="c1", actor="ann"))
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.ts.tzinfo is not None and first.ts <= second.ts
    body = {k: v for k, v in first.to_dict().items() if k != "hash"}
    expected = hashlib.sha256(GENESIS_HASH.encode() + canonical_bytes(body)).hexdigest()
    assert first.hash == expected


async def test_append_returns_only_after_commit(log: AuditLog, db_path: Path) -> None:
    """When append returns, another connection already sees the row with the same hash."""
    record = await log.append(AuditEvent(action="call.requested", payload={"n": 1}))
    with sqlite3.connect(db_path) as raw:
        row = raw.execute("SELECT seq, hash FROM audit_events").fetchall()
    assert row == [(1, record.hash)]


async def test_export_verifies_with_twenty_lines_of_plain_code(log: AuditLog) -> None:
    """An export read back from the database passes the documented outsider recipe."""
    payloads = [{"text": "naïve ✓ 漢字", "f": 0.1, "n": -3, "list": [True, None]}, {}, {"x": 1e300}]
    for i, payload in enumerate(payloads):
        await log.append(AuditEvent(action="call.finished", call_id=f"c{i}", payload=payload))
    export = [r.to_dict() for r in await tail(log, 0, 100)]
    exported = json.loads(json.dumps(export))
    assert outsider_verify(exported)
    exported[1]["payload"] = {"tampered": True}
    assert not outsider_verify(exported)


async def test_chain_continues_after_reopen(db_url: str) -> None:
    """Closing and reopening the log continues the same chain without a gap."""
    first = await AuditLog.open(db_url)
    a = await first.append(AuditEvent(action="call.requested"))
    await first.close()
    second = await AuditLog.open(db_url)
    b = await second.append(AuditEvent(action="call.finished"))
    report = await verify(second)
    await second.close()
    assert (b.seq, b.prev_hash) == (2, a.hash)
    assert report.ok and report.checked == 2 and report.head_hash == b.hash


def test_event_rejects_bad_action_and_decision() -> None:
    """Malformed actions and unknown decisions are refused before any I/O."""
    with pytest.raises(ValueError):
        AuditEvent(action="Call Requested")
    with pytest.raises(ValueError):
        AuditEvent(action="call.decided", decision="maybe")
    assert AuditEvent(action="call.decided", decision="deny").decision == "deny"


async def test_timestamps_are_utc_aware_on_read(log: AuditLog) -> None:
    """Records read back carry timezone-aware UTC timestamps equal to those returned."""
    record = await log.append(AuditEvent(action="auth.failed"))
    (back,) = await tail(log, 0, 10)
    assert back.ts == record.ts and back.ts.utcoffset() == timedelta(0)
    assert back.ts.tzinfo is UTC
